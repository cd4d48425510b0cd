"""The evidence summary: what the gate needs of a model's results, folded in after each write.

The gate decides each indicator from the most capable current pre-mitigation result at its
conservative bound, with counts of all of them. Reading and ranking every result on every gate
read grows with the results; this module keeps, per ``(model, checkpoint, metric)``, the most
capable strong and the most capable weak result, the counts (all, strong, and weak and strong
short of each indicator's line) and the latest strong evaluation date (:class:`EvidenceSummary`),
so the gate reads a few rows per checkpoint instead (``governance.evidence_sql``).

"Weak", the bound and the lines depend on the active policy: a :class:`Lens` names them, and a
model's summary is valid only under the lens recorded in its :class:`EvidenceSummaryState`,
together with the highest result id folded in (the watermark). The gate's reader checks both
against the results table (an index lookup) and falls back to ranking the rows when they
disagree, so a stale or missing summary costs speed, never a wrong verdict.

Writers lock the models' states *before* inserting (:func:`lock`), so no other writer's rows can
fall below a watermark. A result write leaves its rows above the watermark: the worker that
recomputes the gate after a burst of writes folds them in first (:func:`catch_up`, ADR 0055),
and until then the reader ranks them. A correction folds in its own transaction (:func:`sync`):
rows above the watermark are added, and the group of the row it supersedes is rebuilt. Policy
activation rebuilds every model under the new lens.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef

from evaluations.models import AIModel, EvalResult, EvidenceSummary, EvidenceSummaryState
from policies import rules
from rsp_portal import prepared
from rsp_portal.rows import Carried, LockedRows, RowUpsert, raw_datetime

if TYPE_CHECKING:
    from evaluations.policy import PolicyView

#: The columns of a result the summary reads.
ROW_FIELDS = (
    "id",
    "model_id",
    "checkpoint_id",
    "metric_key",
    "value",
    "stderr",
    "n_samples",
    "partial",
    "mitigation",
    "evaluated_at",
    "recorded_at",
    "supersedes_id",
)

Group = tuple[int, int, str]  # (model id, checkpoint id, metric key)
ResultRow = dict[str, Any]  # a result's ``ROW_FIELDS`` (and its superseded row's group) by name

#: The shape of a summary row; part of every lens digest, so summaries written in an older
#: shape are rebuilt (and read by ranking meanwhile). 2: strong results short of each line.
SUMMARY_FORMAT = 2


@dataclass(frozen=True)
class MetricLens:
    """How the policy reads one indicator metric: direction, sample minimum, lines."""

    higher: bool
    min_samples: int | None
    lines: tuple[float, ...]


@dataclass(frozen=True)
class Lens:
    """The policy parameters a summary depends on; ``digest`` names them."""

    z: float
    metrics: Mapping[str, MetricLens]
    digest: str

    @classmethod
    def build(
        cls, z: float, indicators: Iterable[tuple[str, bool, int | None, float | None, float]]
    ) -> Lens:
        """From ``(metric key, higher is more capable, min_samples, warning, critical)`` of
        every indicator of the policy."""
        found: dict[str, tuple[bool, int | None, set[float]]] = {}
        for key, higher, min_samples, warning, critical in indicators:
            entry = found.setdefault(key, (bool(higher), min_samples, set()))
            entry[2].add(rules.below_line(warning, critical, bool(higher)))
        metrics = {
            key: MetricLens(higher=h, min_samples=m, lines=tuple(sorted(lines)))
            for key, (h, m, lines) in sorted(found.items())
        }
        z = float(z or 0.0)
        text = json.dumps(
            [
                SUMMARY_FORMAT,
                # A summary chosen under another evidence rule is stale, as under another
                # policy: the rule's version is part of the lens.
                rules.EVIDENCE_RULE_VERSION,
                repr(z),
                [
                    [k, v.higher, v.min_samples, [repr(x) for x in v.lines]]
                    for k, v in metrics.items()
                ],
            ],
            separators=(",", ":"),
        )
        return cls(z=z, metrics=metrics, digest=hashlib.sha256(text.encode()).hexdigest())

    def capability(self, key: str, value: float, stderr: float | None) -> float:
        """The conservative bound as "larger is more capable" (the bound times ±1)."""
        return rules.capability(value, stderr, self.z, self.metrics[key].higher)

    def weak(self, key: str, partial: bool, n_samples: int | None) -> bool:
        return rules.is_weak(
            partial=partial, n_samples=n_samples, min_samples=self.metrics[key].min_samples
        )


@dataclass
class GroupSummary:
    """The summary of one ``(model, checkpoint, metric)``; ``best_*`` are ``(capability, id)``."""

    results: int = 0
    strong: int = 0
    best_strong: tuple[float, int] | None = None
    best_weak: tuple[float, int] | None = None
    latest_strong_at: datetime | None = None
    weak_short: dict[str, int] = field(default_factory=dict)
    strong_short: dict[str, int] = field(default_factory=dict)

    def add(self, lens: Lens, row: Mapping[str, Any]) -> None:
        """Fold in one current pre-mitigation result of a lens metric."""
        key = row["metric_key"]
        capability = lens.capability(key, row["value"], row["stderr"])
        candidate = (capability, row["id"])
        self.results += 1
        weak = lens.weak(key, row["partial"], row["n_samples"])
        short = self.weak_short if weak else self.strong_short
        spec = lens.metrics[key]
        for line in spec.lines:
            if capability < (line if spec.higher else -line):
                short[repr(line)] = short.get(repr(line), 0) + 1
        if weak:
            if self.best_weak is None or rules.more_capable(candidate, self.best_weak):
                self.best_weak = candidate
            return
        self.strong += 1
        if self.best_strong is None or rules.more_capable(candidate, self.best_strong):
            self.best_strong = candidate
        ran_at = row["evaluated_at"] if row["evaluated_at"] is not None else row["recorded_at"]
        if self.latest_strong_at is None or ran_at > self.latest_strong_at:
            self.latest_strong_at = ran_at


def counts(row: Mapping[str, Any], lens: Lens) -> bool:
    """Does the row belong in a summary under ``lens``?"""
    return row["mitigation"] != "post" and row["metric_key"] in lens.metrics


def fold(rows: Iterable[Mapping[str, Any]], lens: Lens) -> dict[Group, GroupSummary]:
    """The summaries of current rows (the caller drops superseded ones)."""
    groups: dict[Group, GroupSummary] = {}
    for row in rows:
        if counts(row, lens):
            group = (row["model_id"], row["checkpoint_id"], row["metric_key"])
            groups.setdefault(group, GroupSummary()).add(lens, row)
    return groups


# --- The database side ---------------------------------------------------------------------


def lens_of_view(policy: PolicyView) -> Lens:
    """The lens of an ``evaluations.policy.PolicyView`` (built once per view)."""
    return remembered_lens(policy, lambda: _lens_of(policy))


_LENSES: dict[int, tuple[object, Lens]] = {}
_LENSES_LOCK = threading.Lock()


def remembered_lens(owner: object, build: Callable[[], Lens]) -> Lens:
    """The lens of an immutable policy object (a view, a snapshot; each is kept per version),
    built once per object and process."""
    with _LENSES_LOCK:
        cached = _LENSES.get(id(owner))
    if cached is not None and cached[0] is owner:
        return cached[1]
    lens = build()
    with _LENSES_LOCK:
        if len(_LENSES) > 16:
            _LENSES.clear()
        _LENSES[id(owner)] = (owner, lens)  # the owner kept with it: its id is not reused
    return lens


def forget_lenses() -> None:
    """Empty this process's remembered lenses (tests that change the evidence rule)."""
    with _LENSES_LOCK:
        _LENSES.clear()


def _lens_of(policy: PolicyView) -> Lens:
    return Lens.build(
        policy.uncertainty_z,
        (
            (
                i.metric_key,
                i.higher_is_more_capable,
                policy.metrics[i.metric_key].min_samples,
                i.warning,
                i.critical,
            )
            for i in policy.indicators
            if i.metric_key in policy.metrics
        ),
    )


def lock(model_ids: Iterable[int], *, family: bool = False) -> dict[int, EvidenceSummaryState]:
    """Lock the summary states of the models (created when missing), in id order; call it
    before inserting their results, so no other writer's rows can fall below a watermark.
    With ``family`` the states of their descendants are locked with them (a result write
    owes their gates too: :func:`owe`), still in id order."""

    ids = sorted(set(model_ids))
    if family and len(ids) == 1:
        locked = _locked_family(ids[0])  # the family and its states in one statement
        if locked is not None:
            return locked
    if family:
        ids = _with_descendants(ids)
    states = _locked(ids)
    missing = [i for i in ids if i not in states]
    if missing:
        EvidenceSummaryState.objects.bulk_create(
            [EvidenceSummaryState(model_id=i) for i in missing], ignore_conflicts=True
        )
        states = _locked(ids)
    return states


#: Descendants followed at most, as the lineage's ancestors (``AIModel.lineage_ids``).
FAMILY_DEPTH = 31


def family_cte(start: str) -> str:
    """The recursive CTE ``family(id, depth)``: the rows ``(id, depth)`` that ``start``
    selects and every model below them (children, grandchildren...), at most
    :data:`FAMILY_DEPTH` deep. The write's lock (here) and the gate's family read
    (``governance.adapter``) both list a family with it."""
    models_t = AIModel._meta.db_table
    return f"""WITH RECURSIVE family(id, depth) AS (
            {start}
            UNION
            SELECT m.id, f.depth + 1 FROM {models_t} m JOIN family f ON m.parent_id = f.id
            WHERE f.depth < {FAMILY_DEPTH}
        )"""  # noqa: S608 (table names from _meta; values are parameters)


def _with_descendants(ids: Sequence[int]) -> list[int]:
    """``ids`` and every model below them (children, grandchildren...), in id order: one
    recursive statement."""
    models_t = AIModel._meta.db_table
    among = ", ".join("%s" for _ in ids)
    start = f"SELECT id, 0 FROM {models_t} WHERE id IN ({among})"  # noqa: S608 (names)
    sql = f"{family_cte(start)}\n        SELECT DISTINCT id FROM family ORDER BY id"  # noqa: S608
    with connection.cursor() as cursor:
        if len(ids) == 1:  # one written model: planned once per connection (ADR 0049)
            prepared.statement(sql).execute(cursor, list(ids))
        else:
            cursor.execute(sql, list(ids))
        found = [int(row[0]) for row in cursor.fetchall()]
    # A model not (yet) visible keeps its own lock, as without ``family``.
    return sorted(set(found) | set(ids))


_FAMILY_LOCK_SQL: dict[str, str] = {}


def _locked_family(model_id: int) -> dict[int, EvidenceSummaryState] | None:
    """The summary states of the model and its descendants, locked in id order, with the
    family listed in the same statement (planned once per connection, ADR 0049); None when
    a member has no state yet (:func:`lock` then creates it)."""
    sql = _FAMILY_LOCK_SQL.get(connection.vendor)
    columns = _LOCKED_STATES.columns()
    if sql is None:
        q = connection.ops.quote_name
        models_t = q(AIModel._meta.db_table)
        states_t = q(EvidenceSummaryState._meta.db_table)
        start = f"SELECT id, 0 FROM {models_t} WHERE id = %s"  # noqa: S608 (names)
        lock = " FOR UPDATE OF t" if connection.features.has_select_for_update_of else ""
        select = (
            f"SELECT {columns.sql()}, (SELECT COUNT(DISTINCT id) FROM family) "  # noqa: S608
            f"FROM {states_t} t WHERE t.{q('model_id')} IN (SELECT id FROM family) "
            f"ORDER BY t.{q('model_id')}{lock}"
        )  # names from _meta; the value is a parameter
        sql = _FAMILY_LOCK_SQL[connection.vendor] = f"{family_cte(start)}\n{select}"
    with connection.cursor() as cursor:
        prepared.statement(sql).execute(cursor, [model_id])
        rows = cursor.fetchall()
    if not rows or len(rows) != rows[0][-1]:
        return None
    states = [columns.instance(row[:-1]) for row in rows]
    return {state.model_id: state for state in states}


#: The CTE of :func:`claim`'s statement that returns the claimed states: a statement it
#: carries runs once this CTE has a row, i.e. with the states locked.
CLAIMED = "claimed"


def claim(model_ids: Iterable[int], carried: Carried | None = None) -> dict[int, bool]:
    """A result write's first step, before it inserts: lock the summary states of the written
    models and their descendants in id order (:func:`lock`), count one more owed write on each
    and ask for the written models' gates (:func:`owe`). Returns, per written model, whether
    its gate was already asked for (as read under the lock: the first write of a burst finds
    it clear and asks the worker, ADR 0052).

    One written model on PostgreSQL takes one statement (:func:`_claimed_family`), planned
    once per connection, and it carries ``carried`` (the results' INSERT, run once the states
    are locked: ADR 0058), whose ``keys`` it then sets; elsewhere, or when a member has no
    state yet, :func:`lock` and :func:`owe` take two or more, and ``carried`` is left to its
    owner."""
    ids = sorted(set(model_ids))
    if len(ids) == 1 and connection.vendor == "postgresql":
        claimed = _claimed_family(ids[0], carried)
        if claimed is not None:
            return claimed
    states = lock(ids, family=True)
    owe(states, due=ids)
    return {pk: states[pk].gate_due for pk in ids}


@functools.lru_cache(maxsize=16)  # a carried INSERT of many rows has a shape per count
def _claim_sql(carried: str) -> str:
    """:func:`_claimed_family`'s statement (PostgreSQL's), carrying the statement ``carried``
    (none when empty): its keys in insertion order (a sequence gives the rows of one INSERT
    increasing keys) beside every claimed row."""
    q = connection.ops.quote_name
    models_t = q(AIModel._meta.db_table)
    states_t = q(EvidenceSummaryState._meta.db_table)
    key, seq, due = q("model_id"), q("evidence_seq"), q("gate_due")
    start = f"SELECT id, 0 FROM {models_t} WHERE id = %s"  # noqa: S608 (names)
    rider = f", carried AS ({carried})" if carried else ""
    keys = (
        "(SELECT array_agg(carried_key ORDER BY carried_key) FROM carried)" if carried else "NULL"
    )
    return f"""{family_cte(start)},
    locked AS (
        SELECT t.{key} AS model_id, t.{due} AS due FROM {states_t} t
        WHERE t.{key} IN (SELECT id FROM family) ORDER BY t.{key} FOR UPDATE OF t
    ),
    whole AS (
        SELECT (SELECT COUNT(*) FROM locked) = (SELECT COUNT(DISTINCT id) FROM family) AS ok
    ),
    {CLAIMED} AS (
        UPDATE {states_t} s SET {seq} = s.{seq} + 1, {due} = (s.{due} OR s.{key} = %s)
        FROM locked, whole
        WHERE s.{key} = locked.model_id AND whole.ok
        RETURNING s.{key} AS model_id, locked.due AS due
    ){rider}
    SELECT model_id, due, {keys} FROM {CLAIMED}"""  # noqa: S608 (names from _meta; values are parameters)


def _claimed_family(model_id: int, carried: Carried | None = None) -> dict[int, bool] | None:
    """:func:`claim` of one model in one statement: the family (:func:`family_cte`), its
    states locked in id order in a CTE (``FOR UPDATE``: the rows and the order
    :func:`_locked_family` locks), and the UPDATE of :func:`owe` over them, only when every
    member has a state (else None, the states locked so far kept until commit, and nothing
    carried inserted).

    The UPDATE reads each row's latest version (READ COMMITTED re-reads a row a writer changed
    before it was locked), and ``RETURNING`` gives ``gate_due`` as the CTE read it locked,
    before the UPDATE sets it. ``carried`` inserts only once the UPDATE returned its rows, so
    its keys are taken with the states locked (ADR 0058)."""
    sql = _claim_sql(carried.sql if carried is not None else "")
    params = [model_id, model_id, *(carried.params if carried is not None else ())]
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params, prepare=carried is None or carried.prepare)
        rows = cursor.fetchall()
    found = {row[0]: row[1] for row in rows}
    if model_id not in found:
        return None
    if carried is not None:
        carried.keys = list(rows[0][2])
    return {model_id: bool(found[model_id])}


def _locked(ids: Sequence[int]) -> dict[int, EvidenceSummaryState]:
    return {s.model_id: s for s in _LOCKED_STATES.fetch(ids)}


# The states' locking read in model order, its statement built once (rsp_portal.rows).
_LOCKED_STATES = LockedRows(EvidenceSummaryState, "model", "model")


def sync(states: Mapping[int, EvidenceSummaryState], lens: Lens) -> None:
    """Fold every result above each locked state's watermark into the summary (a full rebuild
    of the model under a different lens), inside the caller's transaction, and save the new
    watermarks."""

    rebuild = [s for s in states.values() if s.lens != lens.digest]
    for state in rebuild:
        _rebuild(state, lens)
    current = {s.model_id: s for s in states.values() if s.lens == lens.digest}
    if not current:
        return
    marks = {model_id: state.watermark for model_id, state in current.items()}
    floor = min(marks.values())
    rows, loaded = _fresh_and_their_groups(marks, floor)
    fresh = [row for row in rows if row["id"] > marks[row["model_id"]]]
    if not fresh:
        return
    # A correction takes the superseded row out of its group: that group is read again.
    stale: set[Group] = {
        (r["supersedes__model_id"], r["supersedes__checkpoint_id"], r["supersedes__metric_key"])
        for r in fresh
        if r["supersedes_id"] is not None
    }
    superseded = {r["supersedes_id"] for r in fresh if r["supersedes_id"] is not None}
    touched = {
        (r["model_id"], r["checkpoint_id"], r["metric_key"]) for r in fresh if counts(r, lens)
    } | {g for g in stale if g[2] in lens.metrics}
    groups = {g: loaded[g] for g in touched - stale if g in loaded}
    groups.update(fold(_current_rows(stale & touched), lens))
    for group in stale & touched:
        groups.setdefault(group, GroupSummary())
    for row in fresh:
        group = (row["model_id"], row["checkpoint_id"], row["metric_key"])
        if counts(row, lens) and group not in stale and row["id"] not in superseded:
            groups.setdefault(group, GroupSummary()).add(lens, row)
    _save_groups(groups)
    top: dict[int, int] = {}
    for row in fresh:
        top[row["model_id"]] = max(top.get(row["model_id"], 0), row["id"])
    for model_id, watermark in top.items():
        current[model_id].watermark = watermark
    _save_states(top, ())


def owe(states: Mapping[int, EvidenceSummaryState], due: Sequence[int] = ()) -> None:
    """Count one more result write whose gate consequences are owed, on every locked state
    (a written model and its descendants), setting ``gate_due`` on the states of ``due`` (the
    written models) in the same statement. A gate row computed from inputs read after this
    commits stores the new count (``governance``); one behind it is not served. The states
    keep ``gate_due`` as read under the lock: clear means neither the summary's fold nor the
    gate's recomputation is asked for yet (ADR 0052, ADR 0055)."""
    _save_states({}, list(states), due)
    for state in states.values():
        state.evidence_seq += 1


def _save_states(
    watermarks: Mapping[int, int], bump: Sequence[int], due: Sequence[int] = ()
) -> None:
    """The states' new watermarks, (for ``bump``) one more owed write and (for ``due``) their
    gate asked for: one statement."""
    ids = sorted(set(watermarks) | set(bump) | set(due))
    if not ids:
        return
    q = connection.ops.quote_name
    table = q(EvidenceSummaryState._meta.db_table)
    key = q("model_id")
    params: list[int | bool] = []
    watermark = q("watermark")
    if watermarks:
        cases = " ".join("WHEN %s THEN %s" for _ in watermarks)
        watermark = f"CASE {key} {cases} ELSE {watermark} END"
        for pk, mark in watermarks.items():
            params += [pk, mark]
    seq = q("evidence_seq")
    if bump:
        seq = f"{seq} + CASE WHEN {key} IN ({', '.join('%s' for _ in bump)}) THEN 1 ELSE 0 END"
        params += list(bump)
    flag = ""
    if due:
        among = ", ".join("%s" for _ in due)
        flag = f", {q('gate_due')} = CASE WHEN {key} IN ({among}) THEN %s ELSE {q('gate_due')} END"
        params += [*due, True]
    params += ids
    sql = (
        f"UPDATE {table} SET {q('watermark')} = {watermark}, "  # noqa: S608 (names from _meta)
        f"{q('evidence_seq')} = {seq}{flag} WHERE {key} IN ({', '.join('%s' for _ in ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _fresh_and_their_groups(
    marks: Mapping[int, int], floor: int
) -> tuple[list[ResultRow], dict[Group, GroupSummary]]:
    """The results of the models of ``marks`` above ``floor`` (in id order, each with the
    group of the row it supersedes), and the stored summaries of the groups they fall in: one
    statement (the rows and the summaries they touch, as one ``UNION ALL``)."""
    sql = _FRESH_SQL.get(connection.vendor)
    if sql is None:
        sql = _FRESH_SQL[connection.vendor] = _fresh_sql()
    among = ", ".join("%s" for _ in marks)
    ids = list(marks)
    with connection.cursor() as cursor:
        # Planned on every run, never prepared (ADR 0047): a generic plan cannot know how few
        # rows lie above the watermark, and scans the results table.
        cursor.execute(sql.format(among=among), [*ids, floor, *ids, floor])
        raw = cursor.fetchall()
    rows: list[ResultRow] = []
    loaded: dict[Group, GroupSummary] = {}
    for kind, a, model_id, checkpoint_id, key, x, y, n, partial, mit, t1, t2, b, c, d, e, j in raw:
        if kind == "r":
            rows.append(
                {
                    "id": a,
                    "model_id": model_id,
                    "checkpoint_id": checkpoint_id,
                    "metric_key": key,
                    "value": x,
                    "stderr": y,
                    "n_samples": n,
                    "partial": bool(partial),
                    "mitigation": mit,
                    "evaluated_at": raw_datetime(t1),
                    "recorded_at": raw_datetime(t2),
                    "supersedes_id": b,
                    "supersedes__model_id": c,
                    "supersedes__checkpoint_id": d,
                    "supersedes__metric_key": e,
                }
            )
        else:
            loaded[(model_id, checkpoint_id, key)] = GroupSummary(
                results=int(n),
                strong=int(c),
                best_strong=(float(x or 0.0), a) if a is not None else None,
                best_weak=(float(y or 0.0), b) if b is not None else None,
                latest_strong_at=raw_datetime(t1),
                weak_short=json.loads(j) if j else {},
                strong_short=json.loads(mit) if mit else {},
            )
    rows.sort(key=lambda r: r["id"])
    return rows, loaded


_FRESH_SQL: dict[str, str] = {}


def _fresh_sql() -> str:
    result_t = EvalResult._meta.db_table
    summary_t = EvidenceSummary._meta.db_table
    # Both branches in the same columns; ``{among}`` is filled with one placeholder per model.
    return f"""
        SELECT 'r', r.id, r.model_id, r.checkpoint_id, r.metric_key, r.value, r.stderr,
               r.n_samples, r.partial, r.mitigation, r.evaluated_at, r.recorded_at,
               r.supersedes_id, sup.model_id, sup.checkpoint_id, sup.metric_key,
               CAST(NULL AS TEXT)
        FROM {result_t} r LEFT JOIN {result_t} sup ON sup.id = r.supersedes_id
        WHERE r.model_id IN ({{among}}) AND r.id > %s
        UNION ALL
        SELECT 's', s.best_strong_id, s.model_id, s.checkpoint_id, s.metric_key,
               s.best_strong_capability, s.best_weak_capability, s.results, NULL,
               CAST(s.strong_short AS TEXT), s.latest_strong_at, NULL, s.best_weak_id, s.strong,
               NULL, NULL,
               CAST(s.weak_short AS TEXT)
        FROM {summary_t} s
        WHERE EXISTS (
            SELECT 1 FROM {result_t} r
            WHERE r.model_id IN ({{among}}) AND r.id > %s AND r.model_id = s.model_id
              AND r.checkpoint_id = s.checkpoint_id AND r.metric_key = s.metric_key
        )
    """  # noqa: S608 (table names from _meta; values are parameters)


def _rebuild(state: EvidenceSummaryState, lens: Lens) -> None:
    """Summarise every current result of the state's model under ``lens``."""
    from django.db.models import Max

    EvidenceSummary.objects.filter(model_id=state.model_id).delete()
    rows = EvalResult.objects.current().filter(model_id=state.model_id).values(*ROW_FIELDS)
    _save_groups(fold(rows, lens))
    top = EvalResult.objects.filter(model_id=state.model_id).aggregate(top=Max("pk"))["top"]
    state.lens = lens.digest
    state.watermark = top or 0
    state.save(update_fields=["lens", "watermark"])


def catch_up(model_ids: Iterable[int], lens: Lens) -> None:
    """Fold every result above the models' watermarks into their summaries, their states
    locked in id order (so no writer's uncommitted row can fall below a new watermark), inside
    the caller's transaction: the worker's first step after a burst of result writes."""
    sync(lock(model_ids), lens)


def behind() -> list[int]:
    """The models whose summary has results above its watermark (the sweep folds them in):
    one statement, an index lookup per state."""
    above = EvalResult.objects.filter(model_id=OuterRef("model_id"), pk__gt=OuterRef("watermark"))
    states = EvidenceSummaryState.objects.filter(Exists(above))
    return sorted(states.values_list("model_id", flat=True))


def rebuild_all(lens: Lens) -> int:
    """Rebuild the summary of every model whose results were summarised under another lens
    (policy activation); returns how many were rebuilt."""

    ids = list(
        AIModel.objects.filter(results__isnull=False).distinct().values_list("pk", flat=True)
    )
    rebuilt = 0
    for model_id in sorted(ids):
        state = lock([model_id])[model_id]
        if state.lens != lens.digest:
            _rebuild(state, lens)
            rebuilt += 1
    return rebuilt


def _current_rows(groups: set[Group]) -> list[ResultRow]:
    from django.db.models import Q

    if not groups:
        return []
    where = Q()
    for model_id, checkpoint_id, metric in groups:
        where |= Q(model_id=model_id, checkpoint_id=checkpoint_id, metric_key=metric)
    return list(EvalResult.objects.current().filter(where).values(*ROW_FIELDS))


def _save_groups(groups: Mapping[Group, GroupSummary]) -> None:

    if not groups:
        return
    rows = [
        EvidenceSummary(
            model_id=model_id,
            checkpoint_id=checkpoint_id,
            metric_key=metric,
            results=g.results,
            strong=g.strong,
            best_strong_id=g.best_strong[1] if g.best_strong else None,
            best_strong_capability=g.best_strong[0] if g.best_strong else None,
            best_weak_id=g.best_weak[1] if g.best_weak else None,
            best_weak_capability=g.best_weak[0] if g.best_weak else None,
            latest_strong_at=g.latest_strong_at,
            weak_short=g.weak_short,
            strong_short=g.strong_short,
        )
        for (model_id, checkpoint_id, metric), g in groups.items()
    ]
    _UPSERT.save(rows)


# ``bulk_create(update_conflicts=True)`` of summary rows, built once (rsp_portal.rows).
_UPSERT = RowUpsert(
    EvidenceSummary,
    unique=["model", "checkpoint", "metric_key"],
    update=[
        "results",
        "strong",
        "best_strong",
        "best_strong_capability",
        "best_weak",
        "best_weak_capability",
        "latest_strong_at",
        "weak_short",
        "strong_short",
    ],
)
