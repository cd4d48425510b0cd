"""Reassessment triggers: the largest fully evaluated checkpoint, the compute multiple of the
largest checkpoint over it and the months since, against the policy's limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q
from django.utils import timezone

from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
)
from evaluations.policy import PolicyView, active_policy_view
from policies import rules

# --- Reassessment triggers -----------------------------------------------------------------


@dataclass(frozen=True)
class Triggers:
    """How far a model has moved since its last full evaluation (the gate's "due" checks)."""

    latest_checkpoint: Checkpoint | None
    last_full: Checkpoint | None
    evaluated_at: datetime | None
    compute_multiple: float | None
    months_since: int | None
    due_compute: bool
    due_time: bool
    never_evaluated: bool
    policy_multiple: float | None
    policy_months: int | None

    @property
    def evaluation_due(self) -> bool:
        return self.due_compute or self.due_time or self.never_evaluated


months_between = rules.months_between


def compute_triggers(
    checkpoints: Sequence[Checkpoint],
    dated: Mapping[tuple[int, str], datetime],
    policy: PolicyView | None,
    now: datetime,
) -> Triggers:
    """The trigger arithmetic over plain data (checkpoints oldest first), by the gate's rules.

    ``dated`` maps (checkpoint id, metric key) to when the latest strong, pre-mitigation
    evaluation of that metric there ran (see :func:`policies.rules.last_full_evaluation`).
    """
    # The largest checkpoint, whatever the order they were registered in.
    latest = max(
        checkpoints,
        key=lambda c: rules.checkpoint_rank(c.effective_compute, c.reported_at, c.pk),
        default=None,
    )
    multiple_limit = policy.effective_compute_multiple if policy else None
    months_limit = policy.months_between_assessments if policy else None
    if policy is None or latest is None:
        return Triggers(
            latest, None, None, None, None, False, False, False, multiple_limit, months_limit
        )
    found, evaluated_at = rules.last_full_evaluation(
        (
            (c.pk, rules.checkpoint_rank(c.effective_compute, c.reported_at, c.pk), c.reported_at)
            for c in checkpoints
        ),
        dated,
        policy.indicator_metric_keys,
    )
    last_full = next((c for c in checkpoints if c.pk == found), None)
    if last_full is None or evaluated_at is None:
        return Triggers(
            latest, None, None, None, None, False, False, True, multiple_limit, months_limit
        )
    base, top = last_full.effective_compute, latest.effective_compute
    return Triggers(
        latest,
        last_full,
        evaluated_at,
        rules.compute_multiple(top, base),
        rules.months_between(evaluated_at, now),
        rules.due_by_compute(top, base, policy.effective_compute_multiple),
        rules.due_by_time(evaluated_at, now, policy.months_between_assessments),
        False,
        policy.effective_compute_multiple,
        policy.months_between_assessments,
    )


def strong_evidence(policy: PolicyView) -> Q:
    """Current-or-not results that count toward a full evaluation: pre-mitigation, not
    partial, with enough samples for their metric."""
    enough = Q()
    for key in policy.indicator_metric_keys:
        minimum = policy.metrics[key].min_samples if key in policy.metrics else None
        if minimum is None:
            enough |= Q(metric_key=key)
        else:
            enough |= Q(metric_key=key, n_samples__gte=minimum)
    return Q(partial=False) & ~Q(mitigation=EvalResult.Mitigation.POST) & enough


def triggers_for_models(
    models: Sequence[AIModel], policy: PolicyView | None = None, now: datetime | None = None
) -> dict[int, Triggers]:
    """Triggers of several models in two queries (checkpoints, latest evaluation dates)."""
    now = now or timezone.now()
    ids = [m.pk for m in models]
    checkpoints: dict[int, list[Checkpoint]] = {pk: [] for pk in ids}
    for ckpt in Checkpoint.objects.filter(model_id__in=ids).order_by("reported_at", "id"):
        checkpoints[ckpt.model_id].append(ckpt)
    dated: dict[tuple[int, str], datetime] = {}
    if policy is not None and policy.indicator_metric_keys and ids:
        rows = (
            EvalResult.objects.current()
            .filter(model_id__in=ids, metric_key__in=policy.indicator_metric_keys)
            .filter(strong_evidence(policy))
            .values("checkpoint_id", "metric_key")
            .annotate(last=Max("evaluated_at"))
            .order_by()
        )
        dated = {(r["checkpoint_id"], r["metric_key"]): r["last"] for r in rows}
    return {pk: compute_triggers(checkpoints[pk], dated, policy, now) for pk in ids}


def triggers_for(
    model: AIModel, policy: PolicyView | None = None, now: datetime | None = None
) -> Triggers:
    """Reassessment triggers of one model under the active policy."""
    if policy is None:
        policy = active_policy_view()
    return triggers_for_models([model], policy, now)[model.pk]
