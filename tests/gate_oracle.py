"""The gate's input read row by row: a reference for ``governance.adapter.build_input``.

The application reads the gate's inputs in three queries with the evidence reduced in SQL; these
functions read every row the obvious way, so tests can check that both give the same verdict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max

from governance import adapter
from governance.gate import (
    CheckpointInfo,
    Evidence,
    GateInput,
    PauseInfo,
    PrecautionInfo,
    ResultInfo,
    SafeguardInfo,
)
from governance.models import (
    DecisionStatus,
    Pause,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
)


def effective_approval(model: Any, version_id: Any, scope: str) -> ScalingDecision | None:
    """The latest approved decision of ``scope`` for ``model`` under the policy version."""
    return (
        ScalingDecision.objects.filter(
            model=model, scope=scope, status=DecisionStatus.APPROVED, policy_version_id=version_id
        )
        .order_by("-decided_at", "-pk")
        .first()
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


def build_input_rowwise(
    model: Any, scope: str, planned_compute: float | None, now: datetime
) -> tuple[GateInput, datetime | None]:
    """``adapter.build_input`` the slow, obvious way: every capability result as a row, and one
    query per ancestor and per governance table: the reference the reduced input must match
    (same verdict)."""
    from evaluations.models import Checkpoint, EvalResult

    policy = adapter.active_snapshot()
    pauses = tuple(
        PauseInfo(id=p.pk, reason=p.reason, created_at=p.created_at)
        for p in pauses_in_force(model, scope)
    )
    lineage = model.lineage_ids()
    claimed = claimed_ancestors(model)
    checkpoints = tuple(
        CheckpointInfo(
            id=c["pk"],
            name=c["name"] if c["model_id"] == model.pk else f"{c['model__slug']}:{c['name']}",
            effective_compute=c["effective_compute"],
            created_at=c["reported_at"],
            own=c["model_id"] == model.pk,
            claimed=c["model_id"] in claimed,
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
        for p in adapter.precautions_in_force(model)
    )
    evidence = Evidence(checkpoints=checkpoints, results=results)
    inp = GateInput(
        policy=policy,
        scope=scope,  # type: ignore[arg-type]
        now=now,
        planned_compute=planned_compute,
        evidence=evidence,
        safeguards=safeguards,
        approval=adapter.approval_info(decision) if decision else None,
        pauses=pauses,
        precautions=precautions,
    )
    # As build_input: the evidence's and decisions' own moments; the trail's trust, which also
    # ages, is combined by the caller (governance.services.gates) from the same run.
    return inp, adapter.valid_until(policy, evidence, safeguards, _pending_expiry(model))


def _pending_expiry(model: Any) -> datetime | None:
    return (
        ScalingDecision.objects.filter(model=model, status=DecisionStatus.PENDING)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )


def claimed_ancestors(model: Any) -> set[int]:
    """The ancestors above the first parent link that is only claimed, one query each."""
    from evaluations.models import AIModel

    claimed: set[int] = set()
    doubt, at, seen = False, AIModel.objects.get(pk=model.pk), {model.pk}
    while at.parent_id is not None and at.parent_id not in seen:
        doubt = doubt or at.lineage_confirmed_at is None
        if doubt:
            claimed.add(at.parent_id)
        seen.add(at.parent_id)
        at = AIModel.objects.get(pk=at.parent_id)
    return claimed
