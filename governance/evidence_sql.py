"""The gate's evidence read in one query: from the evidence summary, or ranking the results.

:func:`read_evidence` reads the model's lineage (a recursive CTE), its checkpoints, the
evidence summary rows of those checkpoints (``evaluations.summary``) with the one or two
results each names, and each lineage model's summary state against its highest result id. When
every state is current under the active policy's lens, the rows returned grow with checkpoints
and metrics only, and so does the work: nothing scans the results. A summary behind its
results (written since the worker's last fold, ADR 0055) is folded by a read outside a
transaction, which then reads the summary again; inside a transaction, or still behind,
:func:`read_ranked` (the previous reader) reduces every current result in SQL, so a stale
summary costs queries and speed, never a different verdict.

Table names come from ``_meta``; values are parameters; both SQL dialects run the same text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.db import connection

from evaluations import summary
from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
    EvidenceSummary,
    EvidenceSummaryState,
)
from evaluations.services import catch_up_before_reading
from evaluations.summary import Lens
from governance.gate import (
    CheckpointInfo,
    Evidence,
    IndicatorSpec,
    MetricTally,
    PolicySnapshot,
    ResultInfo,
    below_line,
)
from policies import rules
from policies.models import PolicyVersion
from rsp_portal import prepared
from rsp_portal.rows import raw_datetime

if TYPE_CHECKING:
    from evaluations.models import AIModel

_DEPTH = 31  # ancestors followed at most, as ``AIModel.lineage_ids`` (32 models in all)
Row = tuple[Any, ...]  # a raw row of the evidence query (its columns are typed by ``kind``)


def parse_dt(value: object) -> datetime | None:
    """A datetime from a raw row (:func:`rsp_portal.rows.raw_datetime`)."""
    return raw_datetime(value)


def parse_when(value: Any) -> datetime:
    """:func:`parse_dt` of a NOT NULL column."""
    parsed = parse_dt(value)
    if parsed is None:
        raise ValueError("a required datetime column is NULL")
    return parsed


def _result_info(
    pk: int,
    checkpoint_id: int,
    key: str,
    value: float,
    stderr: Any,
    n: Any,
    mit: str,
    evaluated: Any,
    recorded: Any,
) -> ResultInfo:
    """A result row of the evidence query; ``mit`` is the mitigation, prefixed ``P`` when the
    run was partial."""
    partial = mit.startswith("P")
    return ResultInfo(
        id=pk,
        checkpoint_id=checkpoint_id,
        metric_key=key,
        value=value,
        stderr=stderr,
        n_samples=n,
        partial=partial,
        mitigation=mit[1:] if partial else mit,
        evaluated_at=parse_dt(evaluated),
        recorded_at=parse_when(recorded),
    )


def _lineage_sql(models_t: str, seeds: int = 0) -> str:
    """The recursive CTE ``lineage(id, depth)``: the model (first parameter) and its ancestors;
    with ``seeds``, the ``seeds`` models of the first parameters and all their ancestors."""
    start = "= %s" if not seeds else f"IN ({', '.join('%s' for _ in range(seeds))})"
    return f"""
        WITH RECURSIVE lineage(id, depth) AS (
            SELECT id, 0 FROM {models_t} WHERE id {start}
            UNION
            SELECT m.parent_id, l.depth + 1 FROM {models_t} m JOIN lineage l ON m.id = l.id
            WHERE m.parent_id IS NOT NULL AND l.depth < {_DEPTH}
        )"""  # noqa: S608 (table names from _meta; values are parameters)


def _checkpoints_sql(models_t: str, ckpt_t: str) -> str:
    """The lineage's checkpoints: the first branch of the UNION ALL, naming its columns."""
    return f"""
        SELECT 'c' AS kind, c.id AS a, c.model_id AS b, c.name AS key, m.slug AS key2,
               c.effective_compute AS x, CAST(NULL AS DOUBLE PRECISION) AS y,
               CAST(NULL AS BIGINT) AS n, c.reported_at AS t1, c.reported_at AS t2,
               CAST(NULL AS VARCHAR(8)) AS mit
        FROM {ckpt_t} c JOIN {models_t} m ON m.id = c.model_id
        WHERE c.model_id IN (SELECT id FROM lineage)"""  # noqa: S608 (table names from _meta; values are parameters)


def _models_sql(models_t: str) -> str:
    """The lineage's parent links, each with whether it is confirmed (``key`` is ``'c'``) or
    only claimed (NULL): a branch of the UNION ALL."""
    return f"""
        UNION ALL
        SELECT 'm', m.id, m.parent_id,
               CASE WHEN m.lineage_confirmed_at IS NULL THEN NULL ELSE 'c' END,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM {models_t} m WHERE m.id IN (SELECT id FROM lineage)"""  # noqa: S608 (as above)


def claimed_ancestors(pk: int, links: Mapping[int, tuple[int | None, bool]]) -> frozenset[int]:
    """The ancestors of ``pk`` reached through a parent link that is only claimed: every
    ancestor above the first unconfirmed link. ``links`` maps a model id to its parent id and
    whether that link is confirmed (the ``'m'`` rows); cycle-safe, as deep as the lineage."""
    claimed: set[int] = set()
    seen, at, doubt = {pk}, pk, False
    while len(seen) <= _DEPTH:
        up, confirmed = links.get(at, (None, True))
        if up is None or up in seen:
            break
        doubt = doubt or not confirmed
        if doubt:
            claimed.add(up)
        seen.add(up)
        at = up
    return frozenset(claimed)


def _links(rows: Iterable[Row]) -> dict[int, tuple[int | None, bool]]:
    return {a: (b, key is not None) for kind, a, b, key, *_ in rows if kind == "m"}


def _evidence_sql(policy: PolicySnapshot | None) -> tuple[str, list[Any], dict[float, Any]]:
    """The ranking query and its parameters."""

    models_t = AIModel._meta.db_table
    ckpt_t = Checkpoint._meta.db_table
    result_t = EvalResult._meta.db_table
    lineage, checkpoints = _lineage_sql(models_t), _checkpoints_sql(models_t, ckpt_t)
    specs: dict[str, IndicatorSpec] = {}
    lines: set[tuple[str, float]] = set()
    if policy is not None:
        for threshold in policy.thresholds:
            for spec in threshold.indicators:
                specs.setdefault(spec.metric_key, spec)
                lines.add((spec.metric_key, below_line(spec)))
    if not specs:
        return lineage + checkpoints + _models_sql(models_t), [], {}
    assert policy is not None
    z = float(policy.uncertainty_z or 0.0)
    # Per metric: +1 when higher is more capable, else -1, so "more capable" is "larger" for
    # every metric once multiplied by the sign; and the metric's min_samples.
    metric_rows = ", ".join(
        "(CAST(%s AS VARCHAR(100)), CAST(%s AS DOUBLE PRECISION), CAST(%s AS INTEGER))"
        for _ in specs
    )
    metric_params: list[Any] = []
    for key, spec in sorted(specs.items()):
        metric_params += [key, 1.0 if spec.higher_is_more_capable else -1.0, spec.min_samples]
    line_list = sorted(lines)
    line_rows = ", ".join(
        "(CAST(%s AS VARCHAR(100)), CAST(%s AS DOUBLE PRECISION))" for _ in line_list
    )
    line_params: list[Any] = [v for pair in line_list for v in pair]
    # Same arithmetic as rules.conservative_bound (value unchanged without stderr or z), in
    # IEEE doubles on both databases; the engine recomputes it from the returned row.
    bound = "r.value" if not z else f"(r.value + p.sign * {z!r} * COALESCE(r.stderr, 0))"
    sql = f"""{lineage},
        metric(key, sign, min_samples) AS (VALUES {metric_rows}),
        lines(key, bound_line) AS (VALUES {line_rows}),
        ev AS (
            SELECT r.id, r.checkpoint_id, c.model_id AS cm, r.metric_key, r.value, r.stderr,
                   r.n_samples, r.partial, r.mitigation, r.evaluated_at, r.recorded_at, p.sign,
                   {bound} * p.sign AS capability,
                   CASE WHEN r.partial OR (p.min_samples IS NOT NULL AND
                        (r.n_samples IS NULL OR r.n_samples < p.min_samples))
                        THEN 1 ELSE 0 END AS weak
            FROM {result_t} r
            JOIN metric p ON p.key = r.metric_key
            JOIN {ckpt_t} c ON c.id = r.checkpoint_id
            WHERE r.model_id IN (SELECT id FROM lineage)
              AND c.model_id IN (SELECT id FROM lineage)
              AND r.mitigation <> 'post'
              AND NOT EXISTS (SELECT 1 FROM {result_t} s WHERE s.supersedes_id = r.id)
        ),
        ranked AS (
            SELECT ev.*, ROW_NUMBER() OVER (
                PARTITION BY metric_key, weak, cm ORDER BY capability DESC, id DESC) AS rn
            FROM ev
        )
        {checkpoints}
        UNION ALL
        SELECT 'r', id, checkpoint_id, metric_key, CAST(weak AS VARCHAR(1)), value, stderr,
               n_samples, evaluated_at, recorded_at,
               CASE WHEN partial THEN 'P' || mitigation ELSE mitigation END
        FROM ranked WHERE rn = 1
        UNION ALL
        SELECT 'n', COUNT(*), SUM(1 - weak), metric_key, NULL, NULL, NULL, cm, NULL, NULL,
               NULL
        FROM ev GROUP BY metric_key, cm
        UNION ALL
        SELECT 'w', SUM(CASE WHEN ev.weak = 1 AND ev.capability < l.bound_line * ev.sign
                        THEN 1 ELSE 0 END),
               SUM(CASE WHEN ev.weak = 0 AND ev.capability < l.bound_line * ev.sign
                   THEN 1 ELSE 0 END),
               l.key, NULL, l.bound_line, NULL, ev.cm, NULL, NULL, NULL
        FROM lines l JOIN ev ON ev.metric_key = l.key GROUP BY l.key, l.bound_line, ev.cm
        UNION ALL
        SELECT 'd', checkpoint_id, NULL, metric_key, NULL, NULL, NULL, NULL,
               MAX(COALESCE(evaluated_at, recorded_at)), NULL, NULL
        FROM ev WHERE weak = 0 GROUP BY checkpoint_id, metric_key{_models_sql(models_t)}
    """  # noqa: S608 (table names from _meta; values are parameters)
    return sql, metric_params + line_params, {}


def read_ranked(model: AIModel, policy: PolicySnapshot | None) -> Evidence:
    """The model's evidence in one query that ranks every current result (the fallback): per
    metric and lineage model, the most capable strong and weak result and the counts, which
    :class:`_Reduction` combines as the summary's rows are."""
    sql, params, _ = _evidence_sql(policy)
    with connection.cursor() as cursor:
        # The lineage parameter comes first in the text, the VALUES parameters after it.
        cursor.execute(sql, [model.pk, *params])
        rows = cursor.fetchall()
    reduction = _Reduction(model.pk, rows)
    if policy is None:
        return Evidence(checkpoints=tuple(c for c in reduction.checkpoints if c.own))
    for kind, a, b, key, _key2, x, _y, n, t1, t2, mit in rows:
        if kind == "r":
            reduction.candidates.append((a, b, key, x, _y, n, mit, t1, t2))
        elif kind == "n":
            reduction.count(n, key, int(a), int(b or 0))
        elif kind == "w":
            reduction.short(n, key, {float(x): int(a or 0)}, {float(x): int(b or 0)})
        elif kind == "d":
            reduction.dated[(a, key)] = parse_when(t1)
    return reduction.evidence(lens_of(policy))


class _Reduction:
    """The evidence of one model from the rows of either reader: its lineage's checkpoints,
    flagged ``claimed`` above an unconfirmed parent link, and the counts and candidates per
    lineage model, combined so that a claimed ancestor's results count as weak evidence."""

    def __init__(self, pk: int, rows: Iterable[Row]) -> None:
        rows = list(rows)
        self.claimed = claimed_ancestors(pk, _links(rows))
        self.checkpoints: list[CheckpointInfo] = []
        self.owner: dict[object, int] = {}
        # The result rows, raw (``_result_info``'s arguments): most lose to a more capable
        # one, so only the winners are turned into ResultInfo.
        self.candidates: list[Row] = []
        self.counts: dict[str, list[int]] = {}
        self.weak_short: dict[str, dict[float, int]] = {}
        self.dated: dict[tuple[Any, str], datetime] = {}
        for kind, a, b, key, key2, x, *_rest in rows:
            if kind != "c":
                continue
            own = b == pk
            self.owner[a] = b
            self.checkpoints.append(
                CheckpointInfo(
                    id=a,
                    name=key if own else f"{key2}:{key}",
                    effective_compute=x,
                    created_at=parse_when(_rest[2]),
                    own=own,
                    claimed=b in self.claimed,
                )
            )

    def count(self, model_id: object, key: str, results: int, strong: int) -> None:
        """Results of ``key`` on a lineage model: all count, the strong only when confirmed."""
        tally = self.counts.setdefault(key, [0, 0])
        tally[0] += results
        if model_id not in self.claimed:
            tally[1] += strong

    def short(
        self,
        model_id: object,
        key: str,
        weak: Mapping[float, int],
        strong: Mapping[float, int],
    ) -> None:
        """Results of ``key`` short of each line: the weak ones are ignored there, and so are
        a claimed ancestor's strong ones."""
        shorts = self.weak_short.setdefault(key, {})
        for part in (weak, strong) if model_id in self.claimed else (weak,):
            for line, count in part.items():
                shorts[line] = shorts.get(line, 0) + count

    def evidence(self, lens: Lens) -> Evidence:
        """The most capable strong and weak candidate of each metric (a claimed ancestor's
        result is weak), and the tallies."""
        best: dict[tuple[str, bool], tuple[tuple[float, int], Row]] = {}
        for r in self.candidates:
            pk, checkpoint_id, key, value, stderr, n, mit = r[:7]
            if key not in lens.metrics:
                continue
            rank = (lens.capability(key, value, stderr), int(pk))
            weak = self.owner.get(checkpoint_id) in self.claimed or lens.weak(
                key, mit.startswith("P"), n
            )
            if (key, weak) not in best or rules.more_capable(rank, best[(key, weak)][0]):
                best[(key, weak)] = (rank, r)
        tallies = {
            key: MetricTally(
                results=total, strong=strong, weak_short_of=self.weak_short.get(key, {})
            )
            for key, (total, strong) in self.counts.items()
        }
        return Evidence(
            checkpoints=tuple(self.checkpoints),
            results=tuple(_result_info(*r) for _, r in best.values()),
            tallies=tallies,
            dated=self.dated,
        )


def lens_of(policy: PolicySnapshot) -> Lens:
    """The summary lens of a (cached, immutable) policy snapshot."""
    return summary.remembered_lens(
        policy,
        lambda: Lens.build(
            policy.uncertainty_z,
            (
                (i.metric_key, i.higher_is_more_capable, i.min_samples, i.warning, i.critical)
                for t in policy.thresholds
                for i in t.indicators
            ),
        ),
    )


def _summary_sql(seeds: int = 0) -> str:
    models_t = AIModel._meta.db_table
    ckpt_t = Checkpoint._meta.db_table
    result_t = EvalResult._meta.db_table
    summary_t = EvidenceSummary._meta.db_table
    state_t = EvidenceSummaryState._meta.db_table
    version_t = PolicyVersion._meta.db_table
    lineage, checkpoints = _lineage_sql(models_t, seeds), _checkpoints_sql(models_t, ckpt_t)
    # Each lineage model's parent link: whether it is confirmed, and (for a family read) to
    # split the rows per model.
    parents = _models_sql(models_t)
    # Of each lineage model's metric, the groups' most capable strong and weak results (ties
    # kept, and a capability the database holds as NULL, as SQLite holds a NaN; PostgreSQL's
    # MAX is a NaN when there is one, as the rule ranks it first): the metric's winner is
    # among them, whichever way a claimed ancestor's results count, and Python ranks them
    # again with the rule (ADR 0051). Every group's best instead read a row per checkpoint
    # and metric, ever more as the results spread over checkpoints.
    picked = " UNION ".join(
        f"""SELECT w.id FROM (
                SELECT best_{kind}_id AS id, best_{kind}_capability AS cap,
                       MAX(best_{kind}_capability) OVER (PARTITION BY owner_id, metric_key) AS top
                FROM sm
            ) w WHERE w.id IS NOT NULL AND (w.cap IS NULL OR w.cap = w.top)"""  # noqa: S608 (no values)
        for kind in ("strong", "weak")
    )
    # PostgreSQL: by the primary key, one probe per picked result (as a join, or IN, it hashed
    # the whole results table); SQLite probes the key for IN.
    picked = f"= ANY(ARRAY({picked}))" if connection.vendor == "postgresql" else f"IN ({picked})"
    return f"""{lineage},
        sm AS (
            SELECT s.*, c.model_id AS owner_id FROM {summary_t} s
            JOIN {ckpt_t} c ON c.id = s.checkpoint_id
            WHERE s.model_id IN (SELECT id FROM lineage) AND c.model_id IN (SELECT id FROM lineage)
        )
        {checkpoints}
        UNION ALL
        SELECT 's', l.id, (
                   -- The model's highest result id (NULL: none), as the last entry of the
                   -- (model_id, id) index before the next model's: the row comparison and the
                   -- order are that index's, so it answers with one probe. MAX(id) walked the
                   -- primary key backwards past the other models' newer results (10,000 rows
                   -- for a parent beside a large child).
                   SELECT CASE WHEN r.model_id = l.id THEN r.id END FROM {result_t} r
                   WHERE (r.model_id, r.id) < (l.id + 1, 0)
                   ORDER BY r.model_id DESC, r.id DESC LIMIT 1
               ),
               st.lens, NULL, NULL, NULL, st.watermark, NULL, NULL, NULL
        FROM (SELECT DISTINCT id FROM lineage) l LEFT JOIN {state_t} st ON st.model_id = l.id
        UNION ALL
        SELECT 'g', checkpoint_id, results, metric_key, CAST(weak_short AS TEXT), NULL, NULL,
               strong, latest_strong_at, NULL, CAST(strong_short AS TEXT)
        FROM sm
        UNION ALL
        SELECT 'r', r.id, r.checkpoint_id, r.metric_key, NULL, r.value, r.stderr, r.n_samples,
               r.evaluated_at, r.recorded_at,
               CASE WHEN r.partial THEN 'P' || r.mitigation ELSE r.mitigation END
        FROM {result_t} r WHERE r.id {picked}
        UNION ALL
        SELECT 'v', pv.id, NULL, pv.content_sha256, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM (
            SELECT id, content_sha256 FROM {version_t} WHERE status = %s
            ORDER BY created_at DESC, id DESC LIMIT 1
        ) pv{parents}
    """  # noqa: S608 (table names from _meta; values are parameters)


def read_evidence(model: AIModel, policy: PolicySnapshot | None) -> Evidence:
    """The model's evidence: one query from the summary, or a second one ranking the results
    when a lineage model's summary is not current (see the module docstring)."""
    lens = lens_of(policy) if policy is not None else None
    if lens is None or not lens.metrics:
        return read_ranked(model, policy)
    return _from_summary(model, policy, lens, _summary_rows(model))


PolicyRef = tuple[int, str]  # the active version's id and content hash


def read_evidence_and_policy(
    model: AIModel, snapshot_of: Callable[[PolicyRef | None], PolicySnapshot | None]
) -> tuple[Evidence, PolicySnapshot | None]:
    """The active policy's snapshot and the model's evidence under it, both from the one
    summary query (it also returns the active version's id and hash, which ``snapshot_of``
    turns into the snapshot, cached per version)."""
    rows = _summary_rows(model)
    ref = next(((int(a), str(key)) for kind, a, _, key, *_ in rows if kind == "v"), None)
    policy = snapshot_of(ref)
    lens = lens_of(policy) if policy is not None else None
    if policy is None or lens is None or not lens.metrics:
        return read_ranked(model, policy), policy
    return _from_summary(model, policy, lens, rows), policy


def _summary_rows(model: AIModel) -> list[Row]:
    with connection.cursor() as cursor:
        # Planned once per connection (ADR 0047): the planning cost more than the run.
        prepared.statement(_summary_sql()).execute(cursor, [model.pk, PolicyVersion.Status.ACTIVE])
        return list(cursor.fetchall())


def read_family_evidence(ids: list[int], policy: PolicySnapshot | None) -> dict[int, Evidence]:
    """The evidence of each model of ``ids`` under ``policy``, from one summary query over
    them all and their ancestors: the rows are split per model by its lineage (the parent
    links the query returns). A model whose lineage's summary is not current is read by
    ranking its results (one more query for it), as :func:`read_evidence` does."""
    from evaluations.models import AIModel
    from policies.models import PolicyVersion

    lens = lens_of(policy) if policy is not None else None
    if policy is None or lens is None or not lens.metrics:
        return {pk: read_ranked(AIModel(pk=pk), policy) for pk in ids}
    with connection.cursor() as cursor:
        # Planned once per connection and family size, as the one model's (ADR 0047, 0049).
        statement = prepared.statement(_summary_sql(len(ids)))
        statement.execute(cursor, [*ids, PolicyVersion.Status.ACTIVE])
        rows = list(cursor.fetchall())
    parent = {a: b for kind, a, b, *_ in rows if kind == "m"}
    owner = {a: b for kind, a, b, *_ in rows if kind == "c"}  # checkpoint id -> model id
    of = [(row, _row_model(row, owner)) for row in rows]
    found: dict[int, Evidence] = {}
    for pk in ids:
        lineage = [pk]
        while (up := parent.get(lineage[-1])) is not None and up not in lineage:
            if len(lineage) > _DEPTH:
                break
            lineage.append(up)
        within = set(lineage)
        mine = [row for row, model in of if model in within or row[0] == "v"]
        found[pk] = _from_summary(AIModel(pk=pk), policy, lens, mine)
    return found


def _row_model(row: Row, owner: dict[object, object]) -> object:
    """The lineage model a summary row belongs to (None for the policy's row)."""
    kind = row[0]
    if kind in ("c",):
        return row[2]
    if kind in ("s", "m"):
        return row[1]
    if kind == "g":
        return owner.get(row[1])
    if kind == "r":
        return owner.get(row[2])
    return None


def _from_summary(
    model: AIModel, policy: PolicySnapshot | None, lens: Lens, rows: list[Row], *, fold: bool = True
) -> Evidence:
    """The evidence from the summary query's rows (when a lineage model's summary is not
    current under ``lens``: :func:`_summary_behind`)."""
    behind = _behind(rows, lens)
    if behind:  # results not (yet) summarised
        return _summary_behind(model, policy, lens, behind, fold=fold)
    reduction = _Reduction(model.pk, rows)
    for kind, a, b, key, key2, _x, _y, n, t1, _t2, mit in rows:
        if kind == "g":
            owner = reduction.owner.get(a)
            reduction.count(owner, key, int(b), int(n))
            # The strong results short of a line count there only for a claimed ancestor.
            strong_short = _lines(mit) if owner in reduction.claimed else {}
            reduction.short(owner, key, _lines(key2), strong_short)
            if t1 is not None:
                reduction.dated[(a, key)] = parse_when(t1)
        elif kind == "r":
            reduction.candidates.append((a, b, key, _x, _y, n, mit, t1, _t2))
    return reduction.evidence(lens)


def _behind(rows: list[Row], lens: Lens) -> list[int]:
    """The lineage models whose summary is not current: results above its watermark (written
    since the worker's last fold, ADR 0055), or summarised under another lens."""
    return [
        int(a)
        for kind, a, b, key, _k2, _x, _y, n, *_ in rows
        if kind == "s" and b is not None and (key != lens.digest or n != b)
    ]


def _summary_behind(
    model: AIModel, policy: PolicySnapshot | None, lens: Lens, behind: list[int], *, fold: bool
) -> Evidence:
    """The evidence when summaries of the lineage are behind its results. A read outside a
    transaction (a gate's GET) folds them itself, in a short transaction of its own, as the
    worker would (``catch_up_summaries``: their states locked in id order, so it waits for a
    writer of them to commit), and reads the summary again. Inside a transaction (a write's, a
    recomputation's) it takes no lock and ranks the results, as it does when a summary is
    still behind after the fold: a stale summary costs speed, never a different verdict."""
    if fold and catch_up_before_reading(behind):
        return _from_summary(model, policy, lens, _summary_rows(model), fold=False)
    return read_ranked(model, policy)


def _lines(text: str | None) -> Mapping[float, int]:
    """A summary's ``{repr(line): count}`` JSON as ``{line: count}`` (read-only: shared)."""
    if not text or text == "{}":  # most groups: nothing short of a line
        return _NO_LINES
    return _parsed_lines(text)


_NO_LINES: Mapping[float, int] = MappingProxyType({})


@functools.lru_cache(maxsize=4096)
def _parsed_lines(text: str) -> Mapping[float, int]:
    """Parsed once per process and text: a group's text changes only when a result is
    written to it, and every gate read of the lineage parses all its groups again."""
    return MappingProxyType({float(line): int(count) for line, count in json.loads(text).items()})
