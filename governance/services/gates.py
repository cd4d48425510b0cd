"""The gate: run the engine, store its verdict with transitions, read it back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

import audit
from governance import adapter, notifications
from governance.gate import Verdict, evaluate, internal_error_verdict
from governance.models import (
    GateState,
    GateStatus,
    GateTransition,
    Scope,
)

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
        return _unreadable(), None
    return evaluate(inp), valid_until


def _trust() -> tuple[bool, datetime | None]:
    """Whether the audit trail is trusted (its latest verification passed, recently enough:
    ``audit.verification.trail_trusted``) and when that trust runs out by time alone."""
    from audit.verification import trust_state

    return trust_state()


def _read_input(
    model: AIModel,
    scope: str,
    planned_compute: float | None,
    now: datetime,
    reads: adapter.Reads | None = None,
    trust: tuple[bool, datetime | None] | None = None,
) -> tuple[Any, datetime | None]:
    try:
        trusted, trust_until = trust if trust is not None else _trust()
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


def _safe_reads(model: AIModel) -> adapter.Reads | None:
    try:
        return adapter.read_inputs(model)
    except Exception:
        logger.exception("reading the gate's inputs for %s failed", model)
        return None


def _unreadable() -> Verdict:
    if not _safe(adapter.audit_trail_verified):
        return internal_error_verdict(
            RuntimeError(
                "the audit trail failed its last verification; every gate stays paused until "
                "an auditor resolves it and verification passes again"
            )
        )
    return internal_error_verdict(RuntimeError("the gate's inputs could not be read"))


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def recompute(model: AIModel, cause: str, actor: Actor = None) -> dict[str, GateState]:
    """Recompute both scopes of ``model``'s gate inside the caller's transaction.

    A change of state, reasons or determinations writes a GateTransition, an audit entry
    naming ``cause`` and ``actor``, and notifications.
    """
    now = timezone.now()
    states = {}
    # One set of reads for both scopes (3 queries); a failed read leaves both unreadable.
    reads = _safe_reads(model)
    try:
        trust = _trust()
    except Exception:
        trust = (False, None)
    for scope in Scope.values:
        inp, valid_until = (
            _read_input(model, scope, None, now, reads, trust)
            if reads is not None
            else (None, None)
        )
        verdict = evaluate(inp) if inp else _unreadable()
        states[scope] = _store_verdict(model, scope, verdict, valid_until, now, cause, actor)
    return states


def _recompute_scope(model: AIModel, scope: str, cause: str, actor: Actor) -> GateState:
    now = timezone.now()
    verdict, valid_until = evaluate_model(model, scope, now=now)
    return _store_verdict(model, scope, verdict, valid_until, now, cause, actor)


def _flagged(verdict: dict[str, Any]) -> dict[str, str]:
    """Thresholds not below their lines: code → status (what a transition must show)."""
    return {
        d["threshold"]: d["status"]
        for d in verdict.get("determinations", [])
        if isinstance(d, dict) and d.get("status") not in (None, "below")
    }


def _store_verdict(
    model: AIModel,
    scope: str,
    verdict: Verdict,
    valid_until: datetime | None,
    now: datetime,
    cause: str,
    actor: Actor,
) -> GateState:
    payload = verdict.to_dict()
    reasons = payload["reasons"]
    state = GateState.objects.select_for_update().filter(model=model, scope=scope).first()
    previous_state = state.state if state else ""
    previous_key = _key_of(state.reasons) if state else None
    new_key = tuple(sorted((r["code"], _subject(r)) for r in reasons))
    previous_flags = _flagged(state.verdict) if state else {}
    flags = _flagged(payload)
    if state is None:
        state = GateState(model=model, scope=scope)
    state.state = verdict.state
    state.reasons = reasons
    state.verdict = payload
    state.computed_at = now
    state.valid_until = valid_until
    state.save()
    if previous_state != verdict.state or previous_key != new_key or previous_flags != flags:
        GateTransition.objects.create(
            model=model,
            scope=scope,
            from_state=previous_state,
            to_state=verdict.state,
            reasons=reasons,
            verdict=payload,
            cause=cause[: GateTransition._meta.get_field("cause").max_length or 80],
            created_at=now,
        )
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
            },
            actor=actor,
        )
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
        if any(r["code"] in ("evaluation_due_compute", "evaluation_due_time") for r in reasons):
            notifications.notify("evaluation.due", {"model": model.slug, "reasons": reasons})
    return state


def _subject(reason: dict[str, Any]) -> str:
    keys = ("threshold", "metric", "requirement", "standard", "decision", "checkpoint", "pause")
    return " ".join(f"{k}={reason[k]}" for k in keys if reason.get(k) is not None)


def _key_of(reasons: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((r["code"], _subject(r)) for r in reasons))


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
    payload = _gate_payload(model, scope, transition.verdict, transition.created_at)
    payload["as_of"] = as_of.isoformat()
    return payload


def gate_for(
    model: AIModel, scope: str = Scope.SCALING, compute: float | None = None
) -> dict[str, Any]:
    """The gate as the API answers it. Without ``compute``: the stored row (recomputed first
    if time may have changed it). With ``compute``: evaluated for that planned compute."""
    now = timezone.now()
    if compute is not None:
        verdict, _ = evaluate_model(model, scope, compute, now=now)
        return _gate_payload(model, scope, verdict.to_dict(), now)
    state = GateState.objects.filter(model=model, scope=scope).first()
    if state is None or _is_stale(state, now):
        with transaction.atomic():
            state = _recompute_scope(model, scope, "gate.read", None)
    return _gate_payload(model, scope, state.verdict, state.computed_at)


def stored_gate(slug: str, scope: str = Scope.SCALING) -> dict[str, Any] | None:
    """The stored gate of the model ``slug`` in one query (the state row joined to its model),
    or None when there is no fresh row (no model, never computed, or stale: then use
    :func:`gate_for`)."""
    now = timezone.now()
    state = (
        GateState.objects.select_related("model")
        .filter(model__slug=slug, scope=scope)
        .only(*_STORED_GATE_FIELDS)
        .first()
    )
    if state is None or _is_stale(state, now):
        return None
    return _gate_payload(state.model, scope, state.verdict, state.computed_at)


_STORED_GATE_FIELDS = (
    "state",
    "verdict",
    "computed_at",
    "valid_until",
    "scope",
    "model__id",
    "model__slug",
)


def failed_gate(model: AIModel, scope: str) -> dict[str, Any]:
    """The answer when even reading the gate failed: paused, internal_error."""
    verdict = internal_error_verdict(RuntimeError("the stored gate could not be read"))
    return _gate_payload(model, scope, verdict.to_dict(), timezone.now())


def _is_stale(state: GateState, now: datetime) -> bool:
    if state.valid_until is not None and now >= state.valid_until:
        return True
    return now - state.computed_at > GATE_MAX_AGE


def _gate_payload(
    model: AIModel, scope: str, verdict: dict[str, Any], computed_at: datetime
) -> dict[str, Any]:
    return {
        "model": model.slug,
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
    from evaluations.models import AIModel

    count = 0
    for model in AIModel.objects.order_by("pk"):
        with transaction.atomic():
            recompute(model, cause, actor)
        count += 1
    return count
