"""Builds the gate engine's plain-data input from the database.

This is the only place that knows both the ORM and the engine's dataclasses. It issues a fixed
number of queries whatever the amount of evidence (policy + children, checkpoints, results,
safeguards, decision, pauses), so a gate evaluation costs the same for every model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.db import connection

from audit import runs as audit_runs
from audit.models import LogHead, VerificationRun
from audit.verification import distrust_reason, trail_trusted, trust_of
from core.events import Query, ask
from evaluations import summary
from evaluations.models import AIModel, Checkpoint, EvalResult, EvidenceSummaryState
from governance.evidence_sql import (
    parse_dt,
    parse_when,
    read_evidence_and_policy,
    read_family_evidence,
)
from governance.gate import (
    ApprovalInfo,
    Evidence,
    GateInput,
    IndicatorSpec,
    PauseInfo,
    PolicySnapshot,
    PrecautionInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    WarningBehaviour,
    last_full_evaluation,
)
from governance.gate.inputs import OverdueCommitment
from governance.models import (
    DecisionStatus,
    Pause,
    Precaution,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
    Scope,
)
from policies import rules
from policies.models import PolicyVersion, SafeguardRequirement, active_ref
from policies.rules import add_months
from rsp_portal import prepared
from rsp_portal.rows import Columns

if TYPE_CHECKING:
    from audit.models import VerificationRun
    from policies.models import PolicyVersion


#: Which gating commitments of a model (with triggers among those given) are past their
#: deadline under a policy version, now: asked here only when the policy has
#: gating commitments, answered by the accountability app (``accountability.apps``).
OVERDUE_COMMITMENTS: Query[
    tuple[AIModel, int, frozenset[str], datetime], tuple[OverdueCommitment, ...]
] = Query("commitments.overdue", "the gating commitments of a model past their deadline")


def _first_periodic_due(version: PolicyVersion) -> datetime | None:
    """Activation plus the shortest period of the version's gating periodic commitments."""
    periods = [
        float(c.get("deadline_days") or 0)
        for c in version.commitments or []
        if isinstance(c, Mapping) and c.get("gating") and c.get("trigger") == "periodic"
    ]
    start = version.activated_at or version.created_at
    if not periods or start is None:
        return None
    return start + timedelta(days=min(periods))


def _commitments_may_be_overdue(policy: PolicySnapshot, now: datetime) -> bool:
    """Whether asking about overdue commitments can find one: an event-triggered gating
    commitment exists, or a periodic one's first period has run out (no query otherwise)."""
    triggers = policy.gating_commitment_triggers
    if triggers - {"periodic"}:
        return True
    due = policy.first_periodic_due
    return due is not None and now >= due


def active_version() -> Any:
    """The active PolicyVersion with everything the engine needs prefetched, or None."""

    return PolicyVersion.objects.active().with_children().first()


# Active and superseded versions are immutable, so a snapshot keyed by (id, content hash) never
# goes stale; caching it spares every gate evaluation the policy's eight queries.
_SNAPSHOTS: dict[tuple[int, str], PolicySnapshot] = {}
_SNAPSHOTS_LOCK = threading.Lock()


def active_snapshot() -> PolicySnapshot | None:
    """The engine's view of the active policy (one query when cached)."""

    found = active_ref()
    return snapshot_of(found[:2] if found is not None else None)


def snapshot_of(ref: tuple[int, str] | None) -> PolicySnapshot | None:
    """The snapshot of the version ``(id, content hash)``, from the cache when it holds it;
    None for no version."""

    if ref is None:
        return None
    with _SNAPSHOTS_LOCK:
        cached = _SNAPSHOTS.get(ref)
    if cached is not None:
        return cached
    version = PolicyVersion.objects.with_children().get(pk=ref[0])
    built = snapshot(version)
    with _SNAPSHOTS_LOCK:
        if len(_SNAPSHOTS) > 8:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[(version.pk, version.content_sha256)] = built
    return built


def snapshot(version: PolicyVersion) -> PolicySnapshot:
    """The engine's view of a policy version."""
    requirements: dict[int, list[str]] = {}
    for standard in version.standards.all():
        requirements[standard.pk] = [r.code for r in standard.requirements.all()]
    metrics = {m.key: m for m in version.metrics.all()}
    return PolicySnapshot(
        version_id=version.pk,
        version_label=f"{version.key} {version.version}",
        baseline_standards=tuple(version.baseline_standards),
        standards={
            s.code: StandardSpec(
                code=s.code,
                level=s.level.code,
                kind=s.kind,
                includes=tuple(s.includes),
                requirements=tuple(requirements[s.pk]),
            )
            for s in version.standards.all()
        },
        thresholds=tuple(
            ThresholdSpec(
                code=t.code,
                domain=t.domain.code,
                name=t.name,
                requires_scaling=tuple(t.requires_scaling),
                # Internal use is a deployment in the gate's sense (ADR 0027).
                requires_deployment=tuple(
                    sorted({*t.requires_deployment, *t.requires_internal_deployment})
                ),
                tier=t.tier,
                halt=t.halt,
                indicators=tuple(
                    IndicatorSpec(
                        metric_key=i.metric.key,
                        warning=i.warning,
                        critical=i.critical,
                        higher_is_more_capable=metrics[i.metric.key].higher_is_more_capable,
                        min_samples=metrics[i.metric.key].min_samples,
                    )
                    for i in t.indicators.all()
                ),
            )
            for t in version.thresholds.all()
        ),
        effective_compute_multiple=version.effective_compute_multiple,
        months_between_assessments=version.months_between_assessments,
        safeguard_reapproval_months=version.safeguard_reapproval_months,
        # the engine refuses a value outside WARNING_BEHAVIOURS (fail closed)
        warning_behaviour=cast(WarningBehaviour, version.warning_behaviour),
        signoff_titles=tuple(version.signoff_titles),
        advisory_titles=tuple(version.advisory_titles),
        levels=tuple(level.code for level in version.levels.all()),
        gating_commitment_triggers=frozenset(
            str(c.get("trigger"))
            for c in version.commitments or []
            if isinstance(c, Mapping) and c.get("gating")
        ),
        first_periodic_due=_first_periodic_due(version),
        uncertainty_z=float(version.uncertainty_z),
    )


def audit_trail_verified() -> bool:
    """False when the latest audit verification failed, or none passed recently enough
    (AUDIT_VERIFY_MAX_AGE_SECONDS): the record itself is in doubt, so no gate may say
    approved (docs/adr/0010-insider-resistant-audit-trail.md). See
    ``audit.verification.trail_trusted``."""

    return trail_trusted()


def audit_trail_distrust(now: datetime | None = None) -> str | None:
    """Why the gate may not rely on the audit trail now, and what to run (None: trusted). See
    ``audit.verification.distrust_reason``."""
    return distrust_reason(now)


def requirement_codes() -> set[str]:

    return set(
        SafeguardRequirement.objects.filter(version__status="active").values_list("code", flat=True)
    )


def requirement_titles(version_id: int) -> dict[str, str]:
    """Each requirement code of a policy version with its title (one query)."""
    return dict(
        SafeguardRequirement.objects.filter(version_id=version_id).values_list("code", "title")
    )


def requirements(version: PolicyVersion) -> list[dict[str, Any]]:
    """Each requirement of a (prefetched) version with the standards that need it, including
    standards that include its standard."""
    standards = {s.code: s for s in version.standards.all()}
    includes = {code: tuple(s.includes) for code, s in standards.items()}
    owners: dict[str, set[str]] = {}
    for standard in standards.values():
        for code in rules.expand_standards([standard.code], includes):
            if code not in standards:
                continue
            for requirement in standards[code].requirements.all():
                owners.setdefault(requirement.code, set()).add(standard.code)
    rows = []
    for standard in standards.values():
        for requirement in standard.requirements.all():
            rows.append(
                {
                    "code": requirement.code,
                    "title": requirement.title,
                    "evidence": requirement.evidence,
                    "standards": sorted(owners.get(requirement.code, {standard.code})),
                }
            )
    return sorted(rows, key=lambda row: row["code"])


def approval_info(decision: ScalingDecision) -> ApprovalInfo:
    """What the engine needs of an approved decision, read from its frozen dossier."""
    dossier = decision.dossier if isinstance(decision.dossier, dict) else {}
    crossed = {
        d.get("threshold")
        for d in dossier.get("determinations", [])
        if isinstance(d, dict) and d.get("status") in ("crossed", "presumed", "presumed_crossed")
    }
    version = dossier.get("policy_version")
    version = version if isinstance(version, dict) else {}
    named = dossier.get("checkpoints")
    return ApprovalInfo(
        decision_id=decision.pk,
        compute_limit=decision.compute_limit,
        approved_at=decision.decided_at or decision.requested_at,
        scope=decision.scope,
        crossed_thresholds=frozenset(c for c in crossed if isinstance(c, str)),
        required_standards=frozenset(
            c for c in dossier.get("required_standards", []) if isinstance(c, str)
        ),
        policy_version_id=decision.policy_version_id,
        policy_version_label=f"{version.get('key', '')} {version.get('version', '')}".strip(),
        determinations={
            str(d["threshold"]): str(d.get("status"))
            for d in dossier.get("determinations", [])
            if isinstance(d, dict) and isinstance(d.get("threshold"), str)
        },
        # A deployment decision covers the checkpoints its dossier names (older ones named
        # none and are read by their compute limit).
        checkpoints=frozenset(c for c in named if isinstance(c, str))
        if decision.scope == Scope.DEPLOYMENT and isinstance(named, list) and named
        else None,
    )


def precautions_in_force(model: AIModel, scope: str = Scope.SCALING) -> list[Precaution]:
    """Precautionary determinations no approved decision of ``scope`` has lifted: a
    deployment decision lifts a precaution for deployment only, never for scaling."""
    lifted: set[int] = set()
    for ids in ScalingDecision.objects.filter(
        model=model, status=DecisionStatus.APPROVED, scope=scope
    ).values_list("lifts_precautions", flat=True):
        lifted.update(i for i in ids or [] if isinstance(i, int))
    return [p for p in Precaution.objects.filter(model=model).order_by("pk") if p.pk not in lifted]


# --- The gate's inputs in two queries ------------------------------------------------------------
#
# 1. the evidence and the active policy's (id, hash) (the snapshot itself is cached per
#    version): the lineage (recursive CTE), its checkpoints and the capability evidence from
#    the evidence summary (per metric: the most capable strong and weak result, counts; per
#    (checkpoint, metric): the latest strong evaluation date), so the rows returned grow with
#    checkpoints and metrics, never with results;
# 2. the governance state: approved and pending decisions, pauses, precautions, the current
#    safeguard records and the latest audit verification (the gate's trust in the trail), as
#    one UNION ALL.


class TrailNotVerified(Exception):
    """The latest audit verification failed: no gate may be computed from the record."""


@dataclass(frozen=True)
class GovernanceState:
    """What the gate needs of the governance tables for one model, read in one query."""

    approved: tuple[ScalingDecision, ...]
    pending_expiry: datetime | None
    pauses: tuple[Pause, ...]
    precautions: tuple[Precaution, ...]
    safeguards: dict[str, SafeguardRecord]
    trail_verified: bool
    #: The latest audit verification (only ``ok`` and ``started_at`` read), None if none ran.
    last_run: VerificationRun | None = None
    #: How many decisions of the model are pending (they may turn stale on new evidence).
    pending: int = 0
    #: The model's descendants, nearest first (None when not read: see ``descendants``).
    descendants: tuple[int, ...] | None = None
    #: The result writes counted on the model so far (``EvidenceSummaryState.evidence_seq``),
    #: read before its evidence: a gate computed from these reads is current up to it.
    evidence_seq: int = 0

    def trust(self, now: datetime) -> tuple[bool, datetime | None]:
        """Whether the gate may rely on the audit trail, and until when (as
        ``audit.verification.trust_state``, from the run read with the other inputs)."""

        return trust_of(self.last_run, now)

    def approval(self, version_id: Any, scope: str) -> ScalingDecision | None:
        """The latest approved decision of ``scope``, whatever policy version it was signed
        under: one signed under another version than ``version_id`` (the active one) stays in
        force while its dossier still describes the model under the active version (the
        engine's ``decision_outdated`` check)."""
        candidates = [d for d in self.approved if d.scope == scope]
        if not candidates:
            return None
        return max(candidates, key=lambda d: (d.decided_at is not None, d.decided_at, d.pk))

    def pauses_in_force(self, scope: str) -> list[Pause]:
        """As :func:`pauses_in_force`."""
        times = [d.requested_at for d in self.approved if d.scope == scope]
        resumed = max(times) if times else None
        return [p for p in self.pauses if resumed is None or p.created_at >= resumed]

    def precautions_in_force(self, scope: str = Scope.SCALING) -> list[Precaution]:
        """As :func:`precautions_in_force`: lifted only by decisions of ``scope``."""
        lifted: set[int] = set()
        for d in self.approved:
            if d.scope != scope:
                continue
            lifted.update(i for i in d.lifts_precautions or [] if isinstance(i, int))
        return [p for p in self.precautions if p.pk not in lifted]


def read_governance(model: AIModel, *, descendants: bool = False) -> GovernanceState:
    """Decisions, pauses, precautions, safeguards and the trail's last verification of
    ``model`` in one query; with ``descendants``, the same query also lists the model's
    descendants (children, grandchildren...) in ``GovernanceState.descendants``."""
    states, found = read_governance_many(
        [model.pk], descendants_of=model.pk if descendants else None
    )
    return replace(states[model.pk], descendants=found if descendants else None)


def read_governance_many(
    ids: list[int], *, descendants_of: int | None = None
) -> tuple[dict[int, GovernanceState], tuple[int, ...]]:
    """:func:`read_governance` of every model of ``ids`` in one query, and (with
    ``descendants_of``) that model's descendants, nearest first."""
    import json

    from django.db import connection

    from evaluations.models import AIModel

    decision_t = ScalingDecision._meta.db_table
    pause_t = Pause._meta.db_table
    precaution_t = Precaution._meta.db_table
    safeguard_t = SafeguardRecord._meta.db_table
    verify_t = VerificationRun._meta.db_table
    models_t = AIModel._meta.db_table
    owed_t = EvidenceSummaryState._meta.db_table
    among = ", ".join("%s" for _ in ids)
    family = ""
    family_rows = ""
    if descendants_of is not None:
        # The descendants (a recursive CTE down the parent links), bounded like the lineage.
        family = summary.family_cte(f"SELECT id, 1 FROM {models_t} WHERE parent_id = %s")  # noqa: S608
        family_rows = """
        UNION ALL
        SELECT 'k', id, NULL, NULL, depth, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM family"""
    runs_window = int(audit_runs.WINDOW)
    sql = f"""{family}
        SELECT 'a' AS kind, id, scope AS s1, status AS s2, compute_limit AS f,
               requested_at AS t1, decided_at AS t2, expires_at AS t3,
               policy_version_id AS v, CAST(dossier AS TEXT) AS j1,
               CAST(lifts_precautions AS TEXT) AS j2, model_id AS mid
        FROM {decision_t} WHERE model_id IN ({among}) AND status IN (%s, %s)
        UNION ALL
        SELECT 'p', id, NULL, reason, NULL, created_at, NULL, NULL, NULL, NULL, NULL, model_id
        FROM {pause_t} WHERE model_id IN ({among})
        UNION ALL
        SELECT 'x', id, threshold_code, reason, NULL, created_at, NULL, NULL, NULL, NULL, NULL,
               model_id
        FROM {precaution_t} WHERE model_id IN ({among})
        UNION ALL
        SELECT 's', id, requirement_code, status, NULL, recorded_at, NULL, NULL, NULL, NULL,
               NULL, model_id
        FROM (
            SELECT id, model_id, requirement_code, status, recorded_at, ROW_NUMBER() OVER (
                PARTITION BY model_id, requirement_code ORDER BY recorded_at DESC, id DESC) AS rn
            FROM {safeguard_t} WHERE model_id IN ({among})
        ) latest WHERE rn = 1
        UNION ALL
        SELECT 'v', id, kind, CASE WHEN ok THEN 'ok' ELSE 'failed' END,
               CAST(entries AS DOUBLE PRECISION), started_at, NULL, NULL, first_bad_seq,
               head_hash, signature || ':' || frontier, NULL
        FROM (
            SELECT id, kind, ok, entries, started_at, first_bad_seq, head_hash, signature,
                   frontier
            FROM {verify_t} ORDER BY started_at DESC, id DESC LIMIT {runs_window}
        ) last_runs
        UNION ALL
        SELECT 'q', evidence_seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, model_id
        FROM {owed_t} WHERE model_id IN ({among}){family_rows}
    """  # noqa: S608 (table names from _meta; values are parameters)
    params: list[int | str] = [descendants_of] if descendants_of is not None else []
    params += [*ids, DecisionStatus.APPROVED, DecisionStatus.PENDING, *ids, *ids, *ids, *ids]
    with connection.cursor() as cursor:
        if len(ids) == 1:  # a gate's recomputation: planned once per connection (ADR 0047)
            prepared.statement(sql).execute(cursor, params)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall()
    approved: dict[int, list[ScalingDecision]] = {pk: [] for pk in ids}
    pending: dict[int, list[datetime]] = {pk: [] for pk in ids}
    pending_count: dict[int, int] = dict.fromkeys(ids, 0)
    pauses: dict[int, list[Pause]] = {pk: [] for pk in ids}
    precautions: dict[int, list[Precaution]] = {pk: [] for pk in ids}
    safeguards: dict[int, dict[str, SafeguardRecord]] = {pk: {} for pk in ids}
    depths: dict[int, int] = {}
    owed: dict[int, int] = {}
    runs: list[VerificationRun] = []
    for kind, pk, s1, s2, f, t1, t2, t3, v, j1, j2, mid in rows:
        if kind == "a":
            if s2 == DecisionStatus.PENDING:
                pending_count[mid] += 1
                if t3 is not None:
                    pending[mid].append(parse_when(t3))
                continue
            approved[mid].append(
                ScalingDecision(
                    pk=pk,
                    model_id=mid,
                    scope=s1,
                    status=s2,
                    compute_limit=f,
                    requested_at=parse_when(t1),
                    decided_at=parse_dt(t2),
                    expires_at=parse_when(t3),
                    policy_version_id=v,
                    dossier=json.loads(j1) if j1 else {},
                    lifts_precautions=json.loads(j2) if j2 else [],
                )
            )
        elif kind == "p":
            pauses[mid].append(Pause(pk=pk, model_id=mid, reason=s2, created_at=parse_when(t1)))
        elif kind == "x":
            precautions[mid].append(
                Precaution(
                    pk=pk, model_id=mid, threshold_code=s1, reason=s2, created_at=parse_when(t1)
                )
            )
        elif kind == "s":
            safeguards[mid][s1] = SafeguardRecord(
                pk=pk, model_id=mid, requirement_code=s1, status=s2, recorded_at=parse_when(t1)
            )
        elif kind == "v":
            # The signature and the frontier it covers, in one column (neither holds a colon).
            signature, _, frontier = (j2 or "").partition(":")
            runs.append(
                VerificationRun(
                    pk=pk,
                    kind=s1,
                    ok=s2 == "ok",
                    entries=int(f or 0),
                    started_at=parse_when(t1),
                    first_bad_seq=v,
                    head_hash=j1 or "",
                    signature=signature,
                    frontier=frontier,
                )
            )
        elif kind == "q":
            owed[mid] = int(pk)
        elif kind == "k" and pk != descendants_of:  # a parent cycle names the model itself
            depths[pk] = min(int(f), depths.get(pk, int(f)))
    # The run the gate relies on: the newest validly signed one (forgeries are ignored).
    runs.sort(key=lambda r: (r.started_at, r.pk), reverse=True)
    last_run = audit_runs.decisive(runs)
    verified = last_run is None or last_run.ok
    states = {
        pk: GovernanceState(
            approved=tuple(approved[pk]),
            pending_expiry=min(pending[pk]) if pending[pk] else None,
            pauses=tuple(sorted(pauses[pk], key=lambda p: (p.created_at, p.pk))),
            precautions=tuple(sorted(precautions[pk], key=lambda p: p.pk)),
            safeguards=safeguards[pk],
            trail_verified=verified,
            last_run=last_run,
            pending=pending_count[pk],
            evidence_seq=owed.get(pk, 0),
        )
        for pk in ids
    }
    return states, tuple(sorted(depths, key=lambda pk: (depths[pk], pk)))


@dataclass(frozen=True)
class Reads:
    """The reads behind a gate input; both scopes of a recomputation share them."""

    policy: PolicySnapshot | None
    evidence: Evidence
    state: GovernanceState


def read_inputs(model: AIModel, *, descendants: bool = False) -> Reads:
    """The active policy with the evidence (one query, the snapshot cached per version), and
    the governance state (one query, listing the model's descendants with ``descendants``):
    two queries. The governance state is read first: its count of result writes
    (``evidence_seq``) then never counts a write whose results the evidence read missed."""
    state = read_governance(model, descendants=descendants)
    evidence, policy = read_evidence_and_policy(model, snapshot_of)
    return Reads(policy, evidence, state)


def read_family_inputs(ids: list[int], policy: PolicySnapshot | None) -> dict[int, Reads]:
    """The gate's reads of every model of ``ids`` (a model's descendants) under ``policy``
    (the snapshot its own read found): two queries whatever their number, the evidence of
    them all with their lineages, and their governance state (one more evidence query per
    model whose evidence summary is not current)."""
    if not ids:
        return {}
    states, _ = read_governance_many(ids)  # first, as in :func:`read_inputs`
    evidence = read_family_evidence(ids, policy)
    return {pk: Reads(policy, evidence[pk], states[pk]) for pk in ids}


def build_input(
    model: AIModel,
    scope: str,
    planned_compute: float | None,
    now: datetime,
    *,
    require_verified_trail: bool = False,
    reads: Reads | None = None,
) -> tuple[GateInput, datetime | None]:
    """The engine input for ``model``, and the earliest time at which time alone can change
    the verdict (an evaluation or verification ageing out, a decision expiring).

    Two queries whatever the number of checkpoints, results and ancestors: the evidence with
    the active policy's reference (``evidence_sql.read_evidence_and_policy``) and the
    governance state (:func:`read_governance`). The capability evidence is every current
    pre-mitigation result of an indicator metric on the model's checkpoints and its
    ancestors', reduced to what decides; the verdict is the one the row-by-row reference in
    the tests gives. With ``require_verified_trail``, raises :class:`TrailNotVerified` when
    the latest audit verification failed. ``reads`` (from :func:`read_inputs`) spares the
    queries when the caller evaluates several scopes of the same state.
    """
    reads = reads or read_inputs(model)
    policy, evidence, state = reads.policy, reads.evidence, reads.state
    if require_verified_trail and not state.trail_verified:
        raise TrailNotVerified()
    pauses = tuple(
        PauseInfo(id=p.pk, reason=p.reason, created_at=p.created_at)
        for p in state.pauses_in_force(scope)
    )
    if policy is None:
        inp = GateInput(
            policy=None,
            scope=scope,  # type: ignore[arg-type]
            now=now,
            planned_compute=planned_compute,
            evidence=evidence,
            pauses=pauses,
        )
        return inp, None
    safeguards = {
        code: SafeguardInfo(
            status=record.status,  # type: ignore[arg-type]
            verified_at=record.recorded_at if record.status == SafeguardState.VERIFIED else None,
        )
        for code, record in state.safeguards.items()
    }
    decision = state.approval(policy.version_id, scope)
    precautions = tuple(
        PrecautionInfo(
            id=p.pk, threshold=p.threshold_code, reason=p.reason, created_at=p.created_at
        )
        for p in state.precautions_in_force(scope)
    )
    inp = GateInput(
        policy=policy,
        scope=scope,  # type: ignore[arg-type]
        now=now,
        planned_compute=planned_compute,
        evidence=evidence,
        safeguards=safeguards,
        overdue_commitments=ask(
            OVERDUE_COMMITMENTS,
            (model, int(policy.version_id), policy.gating_commitment_triggers, now),
        )
        if _commitments_may_be_overdue(policy, now)
        else (),
        approval=approval_info(decision) if decision else None,
        pauses=pauses,
        precautions=precautions,
    )
    return inp, valid_until(policy, evidence, safeguards, state.pending_expiry)


def valid_until(
    policy: PolicySnapshot,
    evidence: Evidence,
    safeguards: Mapping[str, SafeguardInfo],
    pending_expiry: datetime | None,
) -> datetime | None:
    """The earliest moment time alone changes the verdict: the last full evaluation falling
    due, a verification expiring, a pending decision expiring."""
    moments = []
    _, last_full_at = last_full_evaluation(policy, evidence)
    if last_full_at is not None:
        moments.append(add_months(last_full_at, policy.months_between_assessments))
    for info in safeguards.values():
        if info.verified_at is not None:
            moments.append(add_months(info.verified_at, policy.safeguard_reapproval_months))
    if pending_expiry is not None:
        moments.append(pending_expiry)
    return min(moments) if moments else None


# --- The live gate's inputs, cached per model -----------------------------------------------
#
# A ``?compute=`` read evaluates the engine on the current inputs. They change only with a
# write, and every write to the gate's inputs appends to the audit trail in its own
# transaction (results, checkpoints, decisions, pauses, precautions, safeguards, policy
# activation, models), so the log head's size names the governance state; the trail's trust
# changes with a new verification run (runs are not appended to the trail), and the
# evidence summary's staleness check also looks at the highest result id. One statement reads
# the model with those numbers (the *stamp*); inputs read after a stamp are cached under it,
# per process, and served while the stamp is unchanged. Time-dependent parts (the trail's
# trust, due evaluations, expiries) are evaluated on every request from the cached rows.

#: ``(log head size, latest verification run id, highest result id, highest checkpoint id)``.
Stamp = tuple[int, int, int, int]

_CACHE_SIZE = 512
_LIVE: dict[int, tuple[Stamp, Reads]] = {}
_LIVE_LOCK = threading.Lock()
_LIVE_SQL: dict[str, tuple[str, Columns[AIModel]]] = {}


def _live_statement() -> tuple[str, Columns[AIModel]]:
    built = _LIVE_SQL.get(connection.vendor)
    if built is None:
        q = connection.ops.quote_name
        columns = Columns(AIModel, "m")
        sql = (
            f"SELECT {columns.sql()}, "  # noqa: S608 (table names from _meta)
            f"(SELECT {q('size')} FROM {q(LogHead._meta.db_table)} WHERE {q('id')} = 1), "
            f"(SELECT MAX({q('id')}) FROM {q(VerificationRun._meta.db_table)}), "
            f"(SELECT MAX({q('id')}) FROM {q(EvalResult._meta.db_table)}), "
            f"(SELECT MAX({q('id')}) FROM {q(Checkpoint._meta.db_table)}) "
            f"FROM {q(AIModel._meta.db_table)} m WHERE m.{q('slug')} = %s"
        )
        built = _LIVE_SQL[connection.vendor] = (sql, columns)
    return built


def live_model(slug: str) -> tuple[AIModel, Stamp] | None:
    """The model ``slug`` and the stamp of the gate's inputs now, in one statement; None when
    there is no such model. Read the stamp *before* the inputs it is to name."""
    sql, columns = _live_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug])
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(columns)
    model = columns.instance(row[:width])
    stamp = cast(Stamp, tuple(int(x or 0) for x in row[width:]))
    return model, stamp


def live_inputs(model: AIModel, stamp: Stamp) -> Reads:
    """The gate's reads of ``model``: from this process's cache when they were read under
    ``stamp`` (no query), else read now (:func:`read_inputs`) and cached under it. Only for
    reads outside a write: a write's own transaction changes the inputs before the stamp."""
    with _LIVE_LOCK:
        cached = _LIVE.get(model.pk)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    reads = read_inputs(model)
    with _LIVE_LOCK:
        if len(_LIVE) >= _CACHE_SIZE:
            _LIVE.pop(next(iter(_LIVE)))
        _LIVE[model.pk] = (stamp, reads)
    return reads


def forget_live_inputs() -> None:
    """Empty this process's cache of live inputs (tests)."""
    with _LIVE_LOCK:
        _LIVE.clear()
