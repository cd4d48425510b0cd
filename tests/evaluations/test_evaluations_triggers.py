"""Reassessment triggers: compute multiple and calendar months, both sides of each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evaluations import services, triggers
from evaluations.models import Checkpoint, EvalResult
from evaluations.policy import PolicyView
from evaluations.triggers import compute_triggers, months_between
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import result

T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
KEYS = frozenset({"a", "b"})


def view(multiple: float = 4.0, months: int = 6) -> PolicyView:
    return PolicyView(
        version_id=1,
        label="test",
        metrics={},
        indicators=(),
        effective_compute_multiple=multiple,
        months_between_assessments=months,
        indicator_metric_keys=KEYS,
    )


def ckpt_(pk: int, compute: float) -> Checkpoint:
    return Checkpoint(pk=pk, model_id=1, name=f"c{pk}", effective_compute=compute, reported_at=T0)


def full(pk: int, at: datetime = T0) -> dict[tuple[int, str], datetime]:
    return {(pk, key): at for key in KEYS}


@pytest.mark.parametrize(
    ("latest_compute", "due"),
    [(4e24, True), (4e24 * (1 - 1e-12), False), (3.99e24, False), (5e24, True)],
)
def test_exactly_four_times_the_compute_is_due(latest_compute: float, due: bool) -> None:
    checkpoints = [ckpt_(1, 1e24), ckpt_(2, latest_compute)]
    t = compute_triggers(checkpoints, full(1), view(), T0 + timedelta(days=1))
    assert t.last_full is checkpoints[0]
    assert t.compute_multiple == pytest.approx(latest_compute / 1e24)
    assert t.due_compute is due
    assert t.evaluation_due is due


@pytest.mark.parametrize(
    ("now", "due", "months"),
    [
        # 31 Jan + 6 calendar months is 31 Jul (same time): due from that instant on.
        (datetime(2025, 7, 31, 12, 0, tzinfo=UTC), True, 6),
        (datetime(2025, 7, 31, 11, 59, 59, tzinfo=UTC), False, 5),
        (datetime(2025, 8, 15, tzinfo=UTC), True, 6),
    ],
)
def test_exactly_six_calendar_months_is_due(now: datetime, due: bool, months: int) -> None:
    t = compute_triggers([ckpt_(1, 1e24)], full(1), view(), now)
    assert t.due_time is due
    assert t.months_since == months
    assert t.due_compute is False


def test_month_ends_are_clamped() -> None:
    start = datetime(2024, 8, 31, tzinfo=UTC)
    assert months_between(start, datetime(2025, 2, 28, tzinfo=UTC)) == 6  # 31 Aug + 6 = 28 Feb
    assert months_between(start, datetime(2025, 2, 27, tzinfo=UTC)) == 5


def test_the_evaluation_dates_from_its_stalest_metric() -> None:
    latest = {(1, "a"): T0, (1, "b"): T0 + timedelta(days=60)}
    t = compute_triggers([ckpt_(1, 1e24)], latest, view(), datetime(2025, 7, 31, 12, tzinfo=UTC))
    assert t.evaluated_at == T0
    assert t.due_time is True


def test_a_partly_evaluated_checkpoint_does_not_count() -> None:
    checkpoints = [ckpt_(1, 1e24), ckpt_(2, 2e24), ckpt_(3, 4e24)]
    latest = {**full(1), (2, "a"): T0}  # checkpoint 2 lacks metric b
    t = compute_triggers(checkpoints, latest, view(), T0)
    assert t.last_full is checkpoints[0]
    assert t.due_compute is True


def test_never_fully_evaluated_is_due_and_no_checkpoint_is_not() -> None:
    assert compute_triggers([ckpt_(1, 1e24)], {}, view(), T0).evaluation_due is True
    assert compute_triggers([ckpt_(1, 1e24)], {}, view(), T0).never_evaluated is True
    assert compute_triggers([], {}, view(), T0).evaluation_due is False


def test_zero_compute_base() -> None:
    t = compute_triggers([ckpt_(1, 0.0), ckpt_(2, 1.0)], full(1), view(), T0)
    assert t.compute_multiple == float("inf") and t.due_compute is True
    t = compute_triggers([ckpt_(1, 0.0), ckpt_(2, 0.0)], full(1), view(), T0)
    assert t.compute_multiple == 1.0 and t.due_compute is False


def test_triggers_from_the_database_ignore_superseded_results(ckpt, safety) -> None:
    from evaluations.policy import active_policy_view

    policy: Any = active_policy_view()
    items = [result(metric=key, value=0.0) for key in sorted(policy.indicator_metric_keys)]
    created = services.record_results(items, safety, EvalResult.Source.BROWSER)
    assert triggers.triggers_for(ckpt.model).last_full == ckpt

    # Correcting a result keeps the checkpoint fully evaluated (the correction is current).
    services.correct_result(created[0], {"value": 0.01}, "typo", safety)
    assert triggers.triggers_for(ckpt.model).last_full == ckpt
    bigger = services.report_checkpoint(
        ckpt.model, name="step-2000", effective_compute=4e24, actor=safety
    )
    t = triggers.triggers_for(ckpt.model)
    assert (t.latest_checkpoint, t.compute_multiple, t.due_compute) == (bigger, 4.0, True)
