"""Builds the gate engine's plain-data input from the database.

This is the only place that knows both the ORM and the engine's dataclasses. It issues a fixed
number of queries whatever the amount of evidence (policy + children, checkpoints, results,
safeguards, decision, pauses), so a gate evaluation costs the same for every model.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from django.db.models import Max

from governance.gate import (
    ApprovalInfo,
    CheckpointInfo,
    Evidence,
    GateInput,
    IndicatorSpec,
    PauseInfo,
    PolicySnapshot,
    PrecautionInfo,
    ResultInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    last_full_evaluation,
)
from governance.models import (
    DecisionStatus,
    Pause,
    Precaution,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
)
from policies import rules
from policies.rules import add_months


def active_version() -> Any:
    """The active PolicyVersion with everything the engine needs prefetched, or None."""
    from policies.models import PolicyVersion

    return PolicyVersion.objects.active().with_children().first()


# Active and superseded versions are immutable, so a snapshot keyed by (id, content hash) never
# goes stale; caching it spares every gate evaluation the policy's eight queries.
_SNAPSHOTS: dict[tuple[int, str], PolicySnapshot] = {}
_SNAPSHOTS_LOCK = threading.Lock()


def active_snapshot() -> PolicySnapshot | None:
    """The engine's view of the active policy (one query when cached)."""
    from policies.models import PolicyVersion

    ref = PolicyVersion.objects.active().values_list("pk", "content_sha256").first()
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


def snapshot(version: Any) -> PolicySnapshot:
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
                requires_deployment=tuple(t.requires_deployment),
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
        warning_behaviour=version.warning_behaviour,
        signoff_titles=tuple(version.signoff_titles),
        advisory_titles=tuple(version.advisory_titles),
        levels=tuple(level.code for level in version.levels.all()),
        uncertainty_z=float(version.uncertainty_z),
    )


def audit_trail_verified() -> bool:
    """False when the latest audit verification failed, or none passed recently enough
    (AUDIT_VERIFY_MAX_AGE_SECONDS): the record itself is in doubt, so no gate may say
    approved (docs/adr/0010-insider-resistant-audit-trail.md). See
    ``audit.verification.trail_trusted``."""
    from audit.verification import trail_trusted

    return trail_trusted()


def requirement_codes() -> set[str]:
    from policies.models import SafeguardRequirement

    return set(
        SafeguardRequirement.objects.filter(version__status="active").values_list("code", flat=True)
    )


def requirements(version: Any) -> list[dict[str, Any]]:
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


def lineage_ids(model: Any) -> list[int]:
    """The model's id followed by its ancestors' (parent, grandparent, ...); cycle-safe."""
    from evaluations.models import AIModel

    ids = [model.pk]
    parent_id = model.parent_id
    while parent_id is not None and parent_id not in ids and len(ids) < 32:
        ids.append(parent_id)
        parent_id = AIModel.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return ids


def effective_approval(model: Any, version_id: Any, scope: str) -> ScalingDecision | None:
    """The latest approved decision of ``scope`` for ``model`` under the policy version."""
    return (
        ScalingDecision.objects.filter(
            model=model, scope=scope, status=DecisionStatus.APPROVED, policy_version_id=version_id
        )
        .order_by("-decided_at", "-pk")
        .first()
    )


def approval_info(decision: ScalingDecision) -> ApprovalInfo:
    """What the engine needs of an approved decision, read from its frozen dossier."""
    dossier = decision.dossier if isinstance(decision.dossier, dict) else {}
    crossed = {
        d.get("threshold")
        for d in dossier.get("determinations", [])
        if isinstance(d, dict) and d.get("status") in ("crossed", "presumed", "presumed_crossed")
    }
    return ApprovalInfo(
        decision_id=decision.pk,
        compute_limit=decision.compute_limit,
        approved_at=decision.decided_at or decision.requested_at,
        scope=decision.scope,
        crossed_thresholds=frozenset(c for c in crossed if isinstance(c, str)),
        required_standards=frozenset(
            c for c in dossier.get("required_standards", []) if isinstance(c, str)
        ),
    )


def pauses_in_force(model: Any, scope: str | None = None) -> list[Pause]:
    """Pauses not followed by a decision (of ``scope``, when given) that was requested after
    them and approved: a pause stops both scopes, and each resumes only by its own decision."""
    decisions = ScalingDecision.objects.filter(model=model, status=DecisionStatus.APPROVED)
    if scope is not None:
        decisions = decisions.filter(scope=scope)
    resumed = decisions.aggregate(last=Max("requested_at"))["last"]
    pauses = Pause.objects.filter(model=model)
    if resumed is not None:
        pauses = pauses.filter(created_at__gte=resumed)
    return list(pauses.order_by("created_at", "pk"))


def precautions_in_force(model: Any) -> list[Precaution]:
    """Precautionary determinations no approved decision has lifted."""
    lifted: set[int] = set()
    for ids in ScalingDecision.objects.filter(
        model=model, status=DecisionStatus.APPROVED
    ).values_list("lifts_precautions", flat=True):
        lifted.update(i for i in ids or [] if isinstance(i, int))
    return [p for p in Precaution.objects.filter(model=model).order_by("pk") if p.pk not in lifted]


def build_input(
    model: Any, scope: str, planned_compute: float | None, now: datetime
) -> tuple[GateInput, datetime | None]:
    """The engine input for ``model``, and the earliest time at which time alone can change
    the verdict (an evaluation or verification ageing out, a decision expiring).

    Reads a fixed number of queries whatever the amount of evidence: the capability evidence
    is every current pre-mitigation result of an indicator metric on the model's checkpoints
    and its ancestors'.
    """
    from evaluations.models import Checkpoint, EvalResult

    policy = active_snapshot()
    pauses = tuple(
        PauseInfo(id=p.pk, reason=p.reason, created_at=p.created_at)
        for p in pauses_in_force(model, scope)
    )
    lineage = lineage_ids(model)
    checkpoints = tuple(
        CheckpointInfo(
            id=c["pk"],
            name=c["name"] if c["model_id"] == model.pk else f"{c['model__slug']}:{c['name']}",
            effective_compute=c["effective_compute"],
            created_at=c["reported_at"],
            own=c["model_id"] == model.pk,
        )
        for c in Checkpoint.objects.filter(model_id__in=lineage).values(
            "pk", "name", "model_id", "model__slug", "effective_compute", "reported_at"
        )
    )
    if policy is None:
        inp = GateInput(
            policy=None,
            scope=scope,  # type: ignore[arg-type]
            now=now,
            planned_compute=planned_compute,
            evidence=Evidence(checkpoints=tuple(c for c in checkpoints if c.own)),
            pauses=pauses,
        )
        return inp, None
    metric_keys = {i.metric_key for t in policy.thresholds for i in t.indicators}
    results = tuple(
        ResultInfo(
            id=r["pk"],
            checkpoint_id=r["checkpoint_id"],
            metric_key=r["metric_key"],
            value=r["value"],
            stderr=r["stderr"],
            n_samples=r["n_samples"],
            partial=r["partial"],
            mitigation=r["mitigation"],
            evaluated_at=r["evaluated_at"],
            recorded_at=r["recorded_at"],
        )
        for r in EvalResult.objects.current()
        .filter(model_id__in=lineage, metric_key__in=metric_keys)
        .exclude(mitigation=EvalResult.Mitigation.POST)
        .values(
            "pk",
            "checkpoint_id",
            "metric_key",
            "value",
            "stderr",
            "n_samples",
            "partial",
            "mitigation",
            "evaluated_at",
            "recorded_at",
        )
    )
    safeguards = {
        code: SafeguardInfo(
            status=record.status,  # type: ignore[arg-type]
            verified_at=record.recorded_at if record.status == SafeguardState.VERIFIED else None,
        )
        for code, record in SafeguardRecord.objects.latest_per_requirement(model).items()
    }
    decision = effective_approval(model, policy.version_id, scope)
    precautions = tuple(
        PrecautionInfo(
            id=p.pk, threshold=p.threshold_code, reason=p.reason, created_at=p.created_at
        )
        for p in precautions_in_force(model)
    )
    evidence = Evidence(checkpoints=checkpoints, results=results)
    inp = GateInput(
        policy=policy,
        scope=scope,  # type: ignore[arg-type]
        now=now,
        planned_compute=planned_compute,
        evidence=evidence,
        safeguards=safeguards,
        approval=approval_info(decision) if decision else None,
        pauses=pauses,
        precautions=precautions,
    )
    from audit.verification import trust_expires_at

    moments = [
        m for m in (_valid_until(policy, evidence, safeguards, model), trust_expires_at()) if m
    ]
    return inp, min(moments) if moments else None


def _valid_until(
    policy: PolicySnapshot, evidence: Evidence, safeguards: dict[str, SafeguardInfo], model: Any
) -> datetime | None:
    moments = []
    _, last_full_at = last_full_evaluation(policy, evidence)
    if last_full_at is not None:
        moments.append(add_months(last_full_at, policy.months_between_assessments))
    for info in safeguards.values():
        if info.verified_at is not None:
            moments.append(add_months(info.verified_at, policy.safeguard_reapproval_months))
    pending = (
        ScalingDecision.objects.filter(model=model, status=DecisionStatus.PENDING)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    if pending is not None:
        moments.append(pending)
    return min(moments) if moments else None
