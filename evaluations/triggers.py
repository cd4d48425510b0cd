"""Reassessment triggers: the last fully evaluated checkpoint, the compute multiple of the
latest checkpoint over it and the months since, against the policy's limits."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
)
from evaluations.policy import PolicyView, active_policy_view

# --- Reassessment triggers -----------------------------------------------------------------


@dataclass(frozen=True)
class Triggers:
    """How far a model has moved since its last full evaluation (DESIGN §4 due checks)."""

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


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    from governance.gate import add_months

    months = max(0, (end.year - start.year) * 12 + end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months


def compute_triggers(
    checkpoints: Sequence[Checkpoint],
    latest_by_metric: Mapping[tuple[int, str], datetime],
    policy: PolicyView | None,
    now: datetime,
) -> Triggers:
    """The trigger arithmetic over plain data (checkpoints oldest first).

    ``latest_by_metric`` maps (checkpoint id, metric key) to the time of the latest current
    result. The last fully evaluated checkpoint is the most recent one with a current result
    for every indicator metric; its evaluation dates from the stalest of those results.
    Boundaries are inclusive: exactly ``multiple`` times the compute, or exactly ``months``
    calendar months, is due.
    """
    from governance.gate import add_months

    latest = checkpoints[-1] if checkpoints else None
    if policy is None or latest is None:
        return Triggers(
            latest,
            None,
            None,
            None,
            None,
            False,
            False,
            False,
            policy.effective_compute_multiple if policy else None,
            policy.months_between_assessments if policy else None,
        )
    keys = policy.indicator_metric_keys
    last_full, evaluated_at = None, None
    for ckpt in reversed(checkpoints):
        times = [latest_by_metric.get((ckpt.pk, key)) for key in keys]
        if all(t is not None for t in times):
            last_full = ckpt
            evaluated_at = min((t for t in times if t is not None), default=ckpt.reported_at)
            break
    if last_full is None or evaluated_at is None:
        return Triggers(
            latest,
            None,
            None,
            None,
            None,
            False,
            False,
            True,
            policy.effective_compute_multiple,
            policy.months_between_assessments,
        )
    base, top = last_full.effective_compute, latest.effective_compute
    # Zero compute (a stub checkpoint) is a ratio of 1 to zero, and of infinity to anything more.
    multiple = top / base if base > 0 else (1.0 if top == 0 else math.inf)
    due_compute = top >= policy.effective_compute_multiple * base and top > 0
    due_time = now >= add_months(evaluated_at, policy.months_between_assessments)
    return Triggers(
        latest,
        last_full,
        evaluated_at,
        multiple,
        months_between(evaluated_at, now),
        due_compute,
        due_time,
        False,
        policy.effective_compute_multiple,
        policy.months_between_assessments,
    )


def triggers_for_models(
    models: Sequence[AIModel], policy: PolicyView | None = None, now: datetime | None = None
) -> dict[int, Triggers]:
    """Triggers of several models in two queries (checkpoints, latest result times)."""
    now = now or timezone.now()
    ids = [m.pk for m in models]
    checkpoints: dict[int, list[Checkpoint]] = {pk: [] for pk in ids}
    for ckpt in Checkpoint.objects.filter(model_id__in=ids).order_by("reported_at", "id"):
        checkpoints[ckpt.model_id].append(ckpt)
    latest: dict[tuple[int, str], datetime] = {}
    if policy is not None and policy.indicator_metric_keys and ids:
        rows = (
            EvalResult.objects.current()
            .filter(model_id__in=ids, metric_key__in=policy.indicator_metric_keys)
            .values("checkpoint_id", "metric_key")
            .annotate(last=Max("recorded_at"))
            .order_by()
        )
        latest = {(r["checkpoint_id"], r["metric_key"]): r["last"] for r in rows}
    return {pk: compute_triggers(checkpoints[pk], latest, policy, now) for pk in ids}


def triggers_for(
    model: AIModel, policy: PolicyView | None = None, now: datetime | None = None
) -> Triggers:
    """Reassessment triggers of one model under the active policy."""
    if policy is None:
        policy = active_policy_view()
    return triggers_for_models([model], policy, now)[model.pk]
