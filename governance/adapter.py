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
    ResultInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    add_months,
    last_full_evaluation,
)
from governance.models import (
    DecisionStatus,
    Pause,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
)


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
                indicators=tuple(
                    IndicatorSpec(
                        metric_key=i.metric.key,
                        warning=i.warning,
                        critical=i.critical,
                        higher_is_more_capable=metrics[i.metric.key].higher_is_more_capable,
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
        levels=tuple(level.code for level in version.levels.all()),
    )


def audit_trail_verified() -> bool:
    """False when the latest audit verification failed, or none passed recently enough
    (AUDIT_VERIFY_MAX_AGE_SECONDS): the record itself is in doubt, so no gate may say
    approved (reliability.md §2.2). See ``audit.verification.trail_trusted``."""
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
    owners: dict[str, set[str]] = {}
    standards = {s.code: s for s in version.standards.all()}
    for standard in standards.values():
        for code in _closure(standard.code, standards):
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


def _closure(code: str, standards: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        if current in seen or current not in standards:
            continue
        seen.add(current)
        stack.extend(standards[current].includes)
    return seen


def effective_approval(model: Any, version_id: Any) -> ScalingDecision | None:
    """The latest approved decision for ``model`` made under the active policy version."""
    return (
        ScalingDecision.objects.filter(
            model=model, status=DecisionStatus.APPROVED, policy_version_id=version_id
        )
        .order_by("-decided_at", "-pk")
        .first()
    )


def pauses_in_force(model: Any) -> list[Pause]:
    """Pauses not followed by a decision that was requested after them and approved."""
    resumed = ScalingDecision.objects.filter(model=model, status=DecisionStatus.APPROVED).aggregate(
        last=Max("requested_at")
    )["last"]
    pauses = Pause.objects.filter(model=model)
    if resumed is not None:
        pauses = pauses.filter(created_at__gte=resumed)
    return list(pauses.order_by("created_at", "pk"))


def build_input(
    model: Any, scope: str, planned_compute: float | None, now: datetime
) -> tuple[GateInput, datetime | None]:
    """The engine input for ``model``, and the earliest time at which time alone can change
    the verdict (an evaluation or verification ageing out, a decision expiring)."""
    from evaluations.models import Checkpoint, EvalResult

    policy = active_snapshot()
    if policy is None:
        return GateInput(policy=None, scope=scope, now=now, planned_compute=planned_compute), None  # type: ignore[arg-type]
    checkpoints = tuple(
        CheckpointInfo(
            id=c.pk, name=c.name, effective_compute=c.effective_compute, created_at=c.reported_at
        )
        for c in Checkpoint.objects.filter(model=model).only(
            "pk", "name", "effective_compute", "reported_at"
        )
    )
    metric_keys = {i.metric_key for t in policy.thresholds for i in t.indicators}
    results = tuple(
        ResultInfo(
            id=r["pk"],
            checkpoint_id=r["checkpoint_id"],
            metric_key=r["metric_key"],
            value=r["value"],
            recorded_at=r["recorded_at"],
        )
        for r in EvalResult.objects.current()
        .filter(model=model, metric_key__in=metric_keys)
        .values("pk", "checkpoint_id", "metric_key", "value", "recorded_at")
    )
    safeguards = {
        code: SafeguardInfo(
            status=record.status,  # type: ignore[arg-type]
            verified_at=record.recorded_at if record.status == SafeguardState.VERIFIED else None,
        )
        for code, record in SafeguardRecord.objects.latest_per_requirement(model).items()
    }
    decision = effective_approval(model, policy.version_id)
    approval = (
        ApprovalInfo(
            decision_id=decision.pk,
            compute_limit=decision.compute_limit,
            approved_at=decision.decided_at or decision.requested_at,
        )
        if decision
        else None
    )
    pauses = tuple(
        PauseInfo(id=p.pk, reason=p.reason, created_at=p.created_at) for p in pauses_in_force(model)
    )
    evidence = Evidence(checkpoints=checkpoints, results=results)
    inp = GateInput(
        policy=policy,
        scope=scope,  # type: ignore[arg-type]
        now=now,
        planned_compute=planned_compute,
        evidence=evidence,
        safeguards=safeguards,
        approval=approval,
        pauses=pauses,
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
