"""Celery tasks of the suites app: suite runs, schedule ticks, the reaper.

Tasks take primary keys and delegate to :mod:`suites.services`, which claims work with a
conditional UPDATE, so every task is safe to run twice. Runs are sent through the outbox
(:mod:`core.outbox`), which relays them. Task names keep their ``evaluations.`` prefix: beat's
PeriodicTask rows and queued messages name them (ADR 0015).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from core import outbox
from suites import services


@shared_task(bind=True, name=services.RUN_TASK)
def run_suite(self: Any, run_id: int, outbox_id: int | None = None) -> str | None:
    """Execute one suite run (claim, compute, commit); a no-op when it is not claimable."""
    return outbox.consume(
        outbox_id, services.execute, int(run_id), str(self.request.hostname or "worker")
    )


@shared_task(name=services.SCHEDULED_TASK)
def run_scheduled_suite(suite_id: int) -> int:
    """A schedule tick: create this slot's runs of the suite (once per model and slot)."""
    return len(services.schedule_tick(int(suite_id)))


@shared_task(name="evaluations.reap_suite_runs")
def reap_suite_runs() -> dict[str, int]:
    """Re-queue runs whose worker vanished; fail runs with no attempt left."""
    return services.reap()
