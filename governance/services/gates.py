"""The gate: run the engine, store its verdict with transitions, read it back."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

import audit
from core.models import Rider
from evaluations.models import AIModel
from evaluations.services import catch_up_before_reading
from governance import adapter, gatemac, notifications
from governance.gate import (
    Verdict,
    audit_unverified_verdict,
    codes_of,
    evaluate,
    internal_error_verdict,
    subject_of,
)
from governance.models import (
    GateState,
    GateStatus,
    GateTransition,
    Scope,
)
from rsp_portal.rows import Columns, LockedRows, RowUpdate

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import Actor


logger = logging.getLogger(__name__)

# A stored gate is recomputed on read when older than this, even if no time boundary passed:
# a bound on how long a missed recomputation could go unnoticed.
GATE_MAX_AGE = timedelta(minutes=15)


def evaluate_model(
    model: AIModel, scope: str, planned_compute: float | None = None, *, now: datetime | None = None
) -> tuple[Verdict, datetime | None]:
    """Run the engine for ``model`` now; returns the verdict and when time could change it."""
    now = now or timezone.now()
    inp, valid_until = _read_input(model, scope, planned_compute, now)
    if inp is None:
        return _unreadable(now), None
    return evaluate(inp), valid_until


def _read_input(
    model: AIModel,
    scope: str,
    planned_compute: float | None,
    now: datetime,
    reads: adapter.Reads | None = None,
    live: adapter.Stamp | None = None,
) -> tuple[Any, datetime | None]:
    try:
        if reads is None:
            reads = adapter.live_inputs(model, live) if live else adapter.read_inputs(model)
        # Whether the audit trail is trusted (its latest verification, read with the other
        # inputs, passed recently enough) and when that trust runs out by time alone.
        trusted, trust_until = reads.state.trust(now)
        if not trusted:
            return None, None
        inp, valid_until = adapter.build_input(
            model, scope, planned_compute, now, require_verified_trail=True, reads=reads
        )
        # The stored gate expires with the trail's trust.
        moments = [m for m in (valid_until, trust_until) if m is not None]
        return inp, min(moments) if moments else None
    except adapter.TrailNotVerified:
        return None, None
    except Exception:
        logger.exception("building gate input for %s failed", model)
        return None, None


def safe_reads(model: AIModel, *, descendants: bool = False) -> adapter.Reads | None:
    """The gate's inputs (listing the model's descendants with ``descendants``), or None
    (logged) when they cannot be read."""
    try:
        return adapter.read_inputs(model, descendants=descendants)
    except Exception:
        logger.exception("reading the gate's inputs for %s failed", model)
        return None


def _unreadable(now: datetime) -> Verdict:
    """No input: the trail is not trusted at ``now`` (``audit_unverified``, saying why and what
    to run), or the inputs could not be read (``internal_error``)."""
    try:
        distrust = adapter.audit_trail_distrust(now)
    except Exception:
        logger.exception("reading the audit trail's last verification failed")
        distrust = None
    if distrust:
        return audit_unverified_verdict(distrust)
    return internal_error_verdict(RuntimeError("the gate's inputs could not be read"))


def recompute(
    model: AIModel,
    cause: str,
    actor: Actor = None,
    reads: adapter.Reads | None = None,
    *,
    descendants: bool = True,
    catch_up: bool = False,
) -> dict[str, GateState]:
    """Recompute both scopes of ``model``'s gate, and of every descendant's (children,
    grandchildren...: their evidence includes the model's), inside the caller's transaction.

    A change of state, reasons or determinations writes a GateTransition, an audit entry
    naming ``cause`` and ``actor``, and notifications. ``reads`` (read in this transaction)
    spares reading the inputs again. The family costs a fixed number of queries whatever its
    size (ADR 0025): the model's reads list its descendants, theirs are read together, the
    rows are locked and written together, and their audit entries and notifications appended
    together. With ``catch_up`` (a read or the sweep noticing that time passed, no write since
    the row was stored), each change that fell due by time alone is first recorded as of the
    moment it fell due: the row's inputs are unchanged since it was stored, so the verdict at
    that moment is what was true then (``as_of`` answers it).
    """
    now = timezone.now()
    family: tuple[int, ...] | None = ()
    # One set of reads for both scopes (2 queries); a failed read leaves both unreadable.
    if descendants and (reads is None or reads.state.descendants is None):
        reads = safe_reads(model, descendants=True)
    else:
        reads = reads or safe_reads(model)
    if descendants:
        family = reads.state.descendants if reads is not None else _descendant_ids(model)
    if not family:  # None only when not read, which ``descendants`` rules out
        due = (lambda scope, at: _verdict_at(model, scope, reads, at)) if catch_up else None
        verdicts = _verdicts(model, reads, now)
        return _store_verdicts(model, verdicts, now, cause, actor, due, seq=_seq(reads))
    return _recompute_family(model, reads, family, now, cause, actor)[model.pk]


def _verdicts(
    model: AIModel, reads: adapter.Reads | None, now: datetime
) -> dict[str, tuple[Verdict, datetime | None]]:
    return {scope: _verdict_at(model, scope, reads, now) for scope in Scope.values}


def _verdict_at(
    model: AIModel, scope: str, reads: adapter.Reads | None, at: datetime
) -> tuple[Verdict, datetime | None]:
    """The verdict of ``scope`` from ``reads`` at the moment ``at``, and when time changes it."""
    inp, valid_until = (
        _read_input(model, scope, None, at, reads) if reads is not None else (None, None)
    )
    return (evaluate(inp) if inp else _unreadable(at), valid_until)


# At most this many time-due changes are recorded one after another on catching up.
_MAX_CATCH_UP = 8
Due = Callable[[str, datetime], tuple[Verdict, datetime | None]]


def _catch_up(
    model: AIModel, scope: str, state: GateState, now: datetime, due: Due, cause: str, actor: Actor
) -> GateState:
    """Record, at the moment each fell due, the changes time alone made to the stored row
    since it was computed (its inputs are unchanged: every write recomputes the row)."""
    at = state.valid_until
    for _ in range(_MAX_CATCH_UP):
        if at is None or at > now or at <= state.computed_at:
            break
        verdict, until = due(scope, at)
        state = _set_verdict(
            model, scope, state, verdict, until, at, f"{cause}: fell due", actor, fell_due=True
        )
        at = until
    return state


def _descendant_ids(model: AIModel) -> tuple[int, ...] | None:
    """The descendants when the model's own reads failed (they still must be recomputed:
    fail closed)."""
    try:
        return adapter.read_governance(model, descendants=True).descendants
    except Exception:
        logger.exception("reading the descendants of %s failed", model)
        return ()


def _recompute_family(
    model: AIModel,
    reads: adapter.Reads | None,
    family: tuple[int, ...],
    now: datetime,
    cause: str,
    actor: Actor,
) -> dict[int, dict[str, GateState]]:
    """``model`` and its descendants ``family``, in a fixed number of queries."""
    from evaluations.models import AIModel
    from governance.services.decisions import mark_stale_decisions

    members = {m.pk: m for m in AIModel.objects.filter(pk__in=family)}
    try:
        family_reads = adapter.read_family_inputs(
            list(members), reads.policy if reads is not None else adapter.active_snapshot()
        )
        for pk, member_reads in list(family_reads.items()):
            if member_reads.state.pending:  # its pending decisions may turn stale
                mark_stale_decisions(members[pk], actor)
                family_reads[pk] = adapter.read_inputs(members[pk])
    except Exception:
        logger.exception("reading the gate's inputs of %s's descendants failed", model)
        family_reads = {}
    verdicts = {model.pk: _verdicts(model, reads, now)}
    for pk, member in members.items():
        verdicts[pk] = _verdicts(member, family_reads.get(pk), now)
    causes = {pk: f"{cause} (ancestor {model.slug})" for pk in members}
    causes[model.pk] = cause
    seqs = {pk: _seq(family_reads.get(pk)) for pk in members}
    seqs[model.pk] = _seq(reads)
    return _store_family({model.pk: model, **members}, verdicts, now, causes, actor, seqs)


def _seq(reads: adapter.Reads | None) -> int:
    """The count of result writes the reads are current up to (none when unread)."""
    return reads.state.evidence_seq if reads is not None else 0


# A model's gate rows, locked in id order, the statement built once (rsp_portal.rows).
_LOCKED_ROWS = LockedRows(GateState, "model", "pk")


def _flagged(verdict: dict[str, Any]) -> dict[str, str]:
    """Thresholds not below their lines: code → status (what a transition must show)."""
    return {
        d["threshold"]: d["status"]
        for d in verdict.get("determinations", [])
        if isinstance(d, dict) and d.get("status") not in (None, "below")
    }


def _store_verdicts(
    model: AIModel,
    verdicts: dict[str, tuple[Verdict, datetime | None]],
    now: datetime,
    cause: str,
    actor: Actor,
    due: Due | None = None,
    *,
    seq: int = 0,
) -> dict[str, GateState]:
    """Store each scope's verdict: the rows locked in one query, then written together
    (:func:`_save_rows`). With
    ``due``, the changes that fell due by time since each row was stored are recorded
    first, at their moment (:func:`_catch_up`)."""
    stored = {s.scope: s for s in _LOCKED_ROWS.fetch([model.pk]) if s.scope in verdicts}
    before = _as_stored(stored.values())
    states: dict[str, GateState] = {}
    for scope, (verdict, valid_until) in verdicts.items():
        state = stored.get(scope)
        if due is not None and state is not None:
            state = _catch_up(model, scope, state, now, due, cause, actor)
        states[scope] = _set_verdict(model, scope, state, verdict, valid_until, now, cause, actor)
    for state in states.values():
        state.evidence_seq = seq
        gatemac.seal(state)
    _save_rows(list(states.values()), before)
    return states


# The stored gate rows' UPDATE, its text built from _meta (rsp_portal.rows).
_STATE_ROWS = RowUpdate(GateState)


def _same_json(stored: object, new: object) -> bool:
    """Whether a JSON column already holds ``new``: the same text with sorted keys means the
    same JSON value (a number spelled otherwise, ``1`` and ``1.0``, counts as a change and
    is written again)."""
    try:
        return json.dumps(stored, sort_keys=True) == json.dumps(new, sort_keys=True)
    except (TypeError, ValueError):
        return False


#: Of each stored gate row as read (by primary key), its reasons.
Stored = dict[int, object]


def _as_stored(rows: Iterable[GateState]) -> Stored:
    """The reasons of the locked rows as read, before a recomputation replaces them."""
    return {row.pk: row.reasons for row in rows if row.pk is not None}


def _save_rows(rows: list[GateState], before: Stored) -> None:
    """Create the new rows and update the stored ones, one statement each. A stored row's
    reasons are not rewritten when the recomputation gave them again, as most results do (a
    JSON column rewritten costs PostgreSQL more than the rest of the row: ``BENCHMARKS.md``);
    the verdict is, as it counts the results read."""
    new = [row for row in rows if row.pk is None]
    if new:
        GateState.objects.bulk_create(new)
    kept: dict[int, tuple[str, ...]] = {  # a row's model and scope never change
        row.pk: ("model_id", "scope", "reasons")
        if _same_json(before[row.pk], row.reasons)
        else ("model_id", "scope")
        for row in rows
        if row.pk in before  # stored before (a created row's key is new)
    }
    _STATE_ROWS.save_many([row for row in rows if row.pk in kept], kept=kept)


def _store_family(
    models: dict[int, AIModel],
    verdicts: dict[int, dict[str, tuple[Verdict, datetime | None]]],
    now: datetime,
    causes: dict[int, str],
    actor: Actor,
    seqs: dict[int, int],
) -> dict[int, dict[str, GateState]]:
    """Store the verdicts of several models in a fixed number of queries: the rows locked in
    one, created and updated in one each (``_save_rows``), the transitions inserted in one,
    the audit entries appended and the notifications written together."""
    stored = {(s.model_id, s.scope): s for s in _LOCKED_ROWS.fetch(sorted(models))}
    before = _as_stored(stored.values())
    out: dict[int, dict[str, GateState]] = {}
    transitions: list[GateTransition] = []
    with audit.batch(), notifications.batch():
        for pk, scoped in verdicts.items():
            out[pk] = {
                scope: _set_verdict(
                    models[pk],
                    scope,
                    stored.get((pk, scope)),
                    verdict,
                    valid_until,
                    now,
                    causes[pk],
                    actor,
                    transitions,
                )
                for scope, (verdict, valid_until) in scoped.items()
            }
        rows = [state for states in out.values() for state in states.values()]
        for row in rows:
            row.evidence_seq = seqs.get(row.model_id, 0)
            gatemac.seal(row)
        _save_rows(rows, before)
        if transitions:
            GateTransition.objects.bulk_create(transitions)
    return out


def _set_verdict(
    model: AIModel,
    scope: str,
    state: GateState | None,
    verdict: Verdict,
    valid_until: datetime | None,
    now: datetime,
    cause: str,
    actor: Actor,
    transitions: list[GateTransition] | None = None,
    *,
    fell_due: bool = False,
) -> GateState:
    """Set the verdict on the (locked) row, unsaved; a change is recorded as a transition
    (appended to ``transitions``, unsaved, when given; created at once otherwise), effective
    at ``now`` (the moment it fell due when ``fell_due``)."""
    payload = verdict.to_dict()
    reasons = payload["reasons"]
    previous_state = state.state if state else ""
    previous_key = _key_of(state.reasons) if state else None
    new_key = _key_of(reasons)
    previous_flags = _flagged(state.verdict) if state else {}
    flags = _flagged(payload)
    if state is None:
        state = GateState(model=model, scope=scope)
    state.state = verdict.state
    state.reasons = reasons
    state.verdict = payload
    state.computed_at = now
    state.valid_until = valid_until
    if previous_state != verdict.state or previous_key != new_key or previous_flags != flags:
        transition = GateTransition(
            model=model,
            scope=scope,
            from_state=previous_state,
            to_state=verdict.state,
            reasons=reasons,
            verdict=payload,
            cause=cause[: GateTransition._meta.get_field("cause").max_length or 80],
            created_at=now,
        )
        if transitions is not None:
            transitions.append(transition)
        else:
            transition.save()
        audit.record(
            "gate.transition",
            model,
            {
                "model": model.slug,
                "scope": scope,
                "from": previous_state,
                "to": verdict.state,
                "reasons": [r["code"] for r in reasons],
                "determinations": flags,
                "cause": cause,
                **({"fell_due_at": now.isoformat()} if fell_due else {}),
            },
            actor=actor,
        )
        if previous_state != verdict.state or previous_key != new_key:
            # A change of determinations alone is told as a crossing (below), not as a gate
            # change; the same state with other reasons says so (the subject reads "still").
            notifications.notify(
                "gate.transition",
                {
                    "model": model.slug,
                    "scope": scope,
                    "from": previous_state,
                    "to": verdict.state,
                    "reasons": reasons,
                    "cause": cause,
                },
            )
        new_flags = {
            code: status for code, status in flags.items() if previous_flags.get(code) != status
        }
        if new_flags and scope == Scope.SCALING:
            crossed = set(payload.get("crossed_thresholds", [])) & set(new_flags)
            notifications.notify(
                "threshold.crossed" if crossed else "warning.crossed",
                {"model": model.slug, "scope": scope, "determinations": new_flags, "cause": cause},
                roles=("leadership", "safety"),
            )
        due = codes_of("due")
        if any(r["code"] in due for r in reasons) and not any(
            code in due for code, _ in previous_key or ()
        ):
            notifications.notify("evaluation.due", {"model": model.slug, "reasons": reasons})
    return state


def _key_of(reasons: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """Sorted ``(code, subject)`` pairs of stored reasons (``reasons_key`` for a verdict)."""
    return tuple(sorted((r["code"], subject_of(r)) for r in reasons))


def gate_as_of(model: AIModel, scope: str, as_of: datetime) -> dict[str, Any] | None:
    """The gate as it stood at ``as_of``, from the stored transitions; None when no gate had
    been recorded by then."""
    transition = (
        GateTransition.objects.filter(model=model, scope=scope, created_at__lte=as_of)
        .order_by("-created_at", "-pk")
        .first()
    )
    if transition is None:
        return None
    payload = _gate_payload(model.slug, scope, transition.verdict, transition.created_at)
    payload["as_of"] = as_of.isoformat()
    return payload


def gate_for(
    model: AIModel,
    scope: str = Scope.SCALING,
    compute: float | None = None,
    *,
    stamp: adapter.Stamp | None = None,
) -> dict[str, Any]:
    """The gate as the API answers it. Without ``compute``: the stored row (recomputed first
    if time may have changed it). With ``compute``: evaluated for that planned compute, on
    the inputs cached under ``stamp`` when given (``adapter.live_inputs``)."""
    now = timezone.now()
    if compute is not None:
        if stamp is not None:
            inp, _ = _read_input(model, scope, compute, now, live=stamp)
            verdict = evaluate(inp) if inp is not None else _unreadable(now)
        else:
            verdict, _ = evaluate_model(model, scope, compute, now=now)
        return _gate_payload(model.slug, scope, verdict.to_dict(), now)
    state = GateState.objects.filter(model=model, scope=scope).first()
    if state is not None and state.mac and not gatemac.verifies(state):
        return _unverified_payload(model.slug, scope, now)
    if state is None or not state.mac or _is_stale(state, now) or _behind(state):
        _fold_lineage(model)
        with transaction.atomic():
            state = recompute(model, "gate.read", descendants=False, catch_up=True)[scope]
    return _gate_payload(model.slug, scope, state.verdict, state.computed_at)


def current_rows(model: AIModel) -> dict[str, GateState]:
    """The model's stored gate rows by scope, for a record made from them (a report's
    snapshot): recomputed first, and stored, when results were written since one was
    computed and the worker has not yet caught up (ADR 0052)."""
    from evaluations.models import EvidenceSummaryState

    rows = {row.scope: row for row in GateState.objects.filter(model=model)}
    owed = EvidenceSummaryState.objects.filter(model=model).values_list("evidence_seq")
    count = owed.first()
    if count is not None and any(row.evidence_seq < count[0] for row in rows.values()):
        _fold_lineage(model)
        with transaction.atomic():
            rows = recompute(model, "gate.read", descendants=False, catch_up=True)
    return rows


def _fold_lineage(model: AIModel) -> None:
    """Before a read recomputes a gate behind its results: fold the results written since
    into the lineage's summaries, as the worker is about to (ADR 0055), in a transaction of
    its own, so the recomputation reads the summaries rather than ranking every result.
    Inside a caller's transaction nothing is locked: the recomputation ranks them."""
    catch_up_before_reading(model.lineage_ids())


def _behind(state: GateState) -> bool:
    """Whether a result write counted on the model since the row was computed is missing
    from it (its recomputation failed or has not run yet)."""
    from evaluations.models import EvidenceSummaryState

    return EvidenceSummaryState.objects.filter(
        model_id=state.model_id, evidence_seq__gt=state.evidence_seq
    ).exists()


def _unverified_payload(slug: str, scope: str, now: datetime) -> dict[str, object]:
    """A stored row failed its MAC: never served; paused, saying what to run."""
    logger.error("the stored gate of %s (%s) failed its MAC check; serving paused", slug, scope)
    return _gate_payload(slug, scope, gatemac.unverified_verdict(), now)


def stored_gate(slug: str, scope: str = Scope.SCALING) -> dict[str, Any] | None:
    """The stored gate of the model ``slug`` in one query (the state row joined to its model),
    or None when there is no fresh row (no model, never computed, or stale: then use
    :func:`gate_for`). The statement is built once (``rsp_portal.rows``)."""
    sql, _ = _stored_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug, scope])
        row = cursor.fetchone()
    return stored_gate_from_row(slug, scope, row)


def stored_gate_from_row(
    slug: str, scope: str, row: Sequence[object] | None
) -> dict[str, Any] | None:
    """The payload of :func:`stored_gate` from its raw row (None: no fresh row)."""
    if row is None or row[0] is None:  # state is never NULL in a stored row
        return None
    state = _stored_statement()[1].instance(row)
    now = timezone.now()
    if not state.mac or _is_stale(state, now):
        return None  # recomputed by gate_for (which refuses a row whose MAC is wrong)
    if not gatemac.verifies(state):
        return _unverified_payload(slug, scope, now)
    return _gate_payload(slug, scope, state.verdict, state.computed_at)


# --- The stored gate as the API's bytes (ADR 0043) -------------------------------------------
#
# The plain bearer read of the stored scaling gate answers with the bytes DRF's JSON renderer
# makes of :func:`_gate_payload`: a pure function of the requested slug and the row as read
# (its verdict as the database's text, its times, its MAC). Each process renders them once per
# row: the raw row is kept with the bytes and compared whole on every read, so any change to
# the row (a recomputation, or a column edited outside the application) is a miss, verified
# again before anything is served. Freshness is checked on every read, hit or miss.

_BODY_CACHE_SIZE = 512
_BODIES: dict[tuple[str, str], tuple[tuple[object, ...], GateState, bytes]] = {}
_BODIES_LOCK = threading.Lock()


def stored_gate_rider(slug: str, scope: str = Scope.SCALING) -> Rider:
    """The stored gate row of ``slug`` as a rider of the bearer token's statement (one round
    trip for both); its raw row goes to :func:`stored_gate_body`."""
    return Rider(_stored_statement()[0], (slug, scope))


def stored_gate_body(
    slug: str, scope: str = Scope.SCALING, row: Sequence[object] | None = None
) -> bytes | None:
    """The stored gate of ``slug`` as the API's JSON bytes (those of :func:`stored_gate`
    rendered by DRF's ``JSONRenderer``) when its row is fresh and its MAC verifies; None
    otherwise: no such model or row, a stale row, or one whose MAC fails. The caller then
    answers through :func:`stored_gate` and :func:`gate_for`, which recompute or answer paused
    with the reason, logged, exactly as without this reader. ``row``: the raw row read by
    :func:`stored_gate_rider` (else read here, one query)."""
    sql, columns = _stored_statement()
    if row is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [slug, scope])
            row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    raw = tuple(row)
    with _BODIES_LOCK:
        cached = _BODIES.get((slug, scope))
    now = timezone.now()
    if cached is not None and cached[0] == raw:
        state, body = cached[1], cached[2]
        return None if _is_stale(state, now) else body
    state = columns.instance(raw)
    if not state.mac or _is_stale(state, now) or not gatemac.verifies(state):
        return None
    payload = _gate_payload(slug, scope, state.verdict, state.computed_at)
    body = JSONRenderer().render(payload, "application/json")
    with _BODIES_LOCK:
        if len(_BODIES) >= _BODY_CACHE_SIZE:
            _BODIES.pop(next(iter(_BODIES)))
        _BODIES[(slug, scope)] = (raw, state, body)
    return body


def forget_stored_bodies() -> None:
    """Empty this process's rendered stored gates (tests)."""
    with _BODIES_LOCK:
        _BODIES.clear()


def _stored_statement() -> tuple[str, Columns[GateState]]:
    from evaluations.models import EvidenceSummaryState

    built = _STORED_SQL.get(connection.vendor)
    if built is None:
        columns = Columns(
            GateState,
            "gs",
            ["model", "scope", "state", "verdict", "computed_at", "valid_until", "mac"],
        )
        q = connection.ops.quote_name
        names = ", ".join(f"{col} AS c{i}" for i, col in enumerate(columns.sql().split(", ")))
        sql = (
            f"SELECT {names} FROM {q(GateState._meta.db_table)} gs "  # noqa: S608
            f"JOIN {q(AIModel._meta.db_table)} m ON m.{q('id')} = gs.{q('model_id')} "
            f"WHERE m.{q('slug')} = %s AND gs.{q('scope')} = %s "
            # A row behind the model's count of result writes is not served (gate_for).
            f"AND gs.{q('evidence_seq')} >= COALESCE((SELECT o.{q('evidence_seq')} "
            f"FROM {q(EvidenceSummaryState._meta.db_table)} o "
            f"WHERE o.{q('model_id')} = gs.{q('model_id')}), 0)"
        )  # table and column names from _meta; values are parameters
        built = _STORED_SQL[connection.vendor] = (sql, columns)
    return built


_STORED_SQL: dict[str, tuple[str, Columns[GateState]]] = {}


def failed_gate(model: AIModel, scope: str) -> dict[str, Any]:
    """The answer when even reading the gate failed: paused, internal_error."""
    verdict = internal_error_verdict(RuntimeError("the stored gate could not be read"))
    return _gate_payload(model.slug, scope, verdict.to_dict(), timezone.now())


def _is_stale(state: GateState, now: datetime) -> bool:
    if state.valid_until is not None and now >= state.valid_until:
        return True
    return now - state.computed_at > GATE_MAX_AGE


def _gate_payload(
    slug: str, scope: str, verdict: dict[str, Any], computed_at: datetime
) -> dict[str, Any]:
    return {
        "model": slug,
        "scope": scope,
        "state": verdict.get("state", GateStatus.PAUSED),
        "reasons": verdict.get("reasons", []),
        "required_standards": verdict.get("required_standards", []),
        "required_level": verdict.get("required_level"),
        # JSON columns may hand large numbers back as integers; the API speaks floats.
        "approved_compute_limit": _float_or_none(verdict.get("approved_compute_limit")),
        "approved_decision": verdict.get("approved_decision"),
        "planned_compute": _float_or_none(verdict.get("planned_compute")),
        "policy_version": verdict.get("policy_version"),
        "latest_checkpoint": verdict.get("latest_checkpoint"),
        "evaluated_checkpoint": verdict.get("evaluated_checkpoint"),
        "last_full_evaluation_at": verdict.get("last_full_evaluation_at"),
        "crossed_thresholds": verdict.get("crossed_thresholds", []),
        "warning": verdict.get("warning", False),
        "determinations": verdict.get("determinations", []),
        "computed_at": computed_at.isoformat(),
    }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def recompute_all(cause: str, actor: Actor = None) -> int:
    """Recompute every model's gate (policy activation, the periodic sweep)."""

    count = 0
    for model in AIModel.objects.order_by("pk"):
        with transaction.atomic():
            recompute(model, cause, actor, descendants=False)  # every model is recomputed
        count += 1
    return count
