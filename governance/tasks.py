"""Celery tasks of the verdict: notification delivery, the gate after result writes, the sweep."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from celery import shared_task
from django.db import transaction
from django.utils import timezone

import audit
from core import outbox
from evaluations import summary
from evaluations.models import AIModel, EvidenceSummaryState
from evaluations.services import catch_up_summaries
from governance import gatemac, notifications, services
from governance.models import DecisionStatus, GateState, ScalingDecision
from governance.services import hooks

if TYPE_CHECKING:
    from evaluations.models import AIModel

logger = logging.getLogger(__name__)


@shared_task(name=notifications.SEND_TASK)
def send_notification(outbox_id: int) -> None:
    """Deliver one notification; safe to run twice (the outbox claim lets one run send it)."""
    outbox.consume(outbox_id, notifications.send_queued, int(outbox_id))


@shared_task(name=hooks.SETTLE_TASK)
def settle_gate(model_id: int, outbox_id: int | None = None) -> None:
    """Recompute a model's gate after a burst of result writes (ADR 0052)."""
    outbox.consume(outbox_id, hooks.settle_due, int(model_id))


def settle_pending() -> int:
    """Run here and now, as the worker would, every recomputation that result writes asked for
    and that is still pending (the bench before it measures; tests, whose transaction never
    sends a message). Returns how many ran."""
    from core.models import OutboxMessage, OutboxStatus

    pending = OutboxMessage.objects.filter(topic=hooks.SETTLE_TASK, status=OutboxStatus.PENDING)
    ran = 0
    for message in pending.order_by("pk"):
        settle_gate(**message.payload, outbox_id=message.pk)
        ran += 1
    return ran


@shared_task(name="governance.sweep_gates")
def sweep_gates() -> int:
    """Expire overdue decisions, then compare every stored gate with a recomputation."""

    now = timezone.now()
    for decision in ScalingDecision.objects.filter(
        status=DecisionStatus.PENDING, expires_at__lte=now
    ):
        with transaction.atomic():
            locked = ScalingDecision.objects.select_for_update().get(pk=decision.pk)
            services.expire_if_due(locked)
            services.recompute(locked.model, "decision.expired")
    return sweep_stored_gates()


def sweep_stored_gates() -> int:
    """Compare every stored gate with a recomputation, then store the recomputation.

    A row whose MAC does not verify (changed outside the application), or a fresh row whose
    state differs from what the engine says now (a missed recomputation), is a mismatch: it is
    appended to the trail (``gate.mismatch``), logged and notified, and replaced by the
    recomputed, sealed row. Returns how many models were swept.
    """

    now = timezone.now()
    count = 0
    # Every gate is recomputed below, so a recomputation asked for after result writes whose
    # message died (ADR 0052) is covered; and the next write asks for one again.
    EvidenceSummaryState.objects.filter(gate_due=True).update(gate_due=False)
    # ... and so is a summary left behind its results by the same lost message (ADR 0055).
    for model_id in summary.behind():
        catch_up_summaries([model_id])
    for model in AIModel.objects.order_by("pk"):
        with transaction.atomic():
            stored = {
                s.scope: s
                for s in GateState.objects.select_for_update().filter(model=model).order_by("pk")
            }
            tampered = sorted(
                scope for scope, s in stored.items() if s.mac and not gatemac.verifies(s)
            )
            fresh = {
                scope: s.state
                for scope, s in stored.items()
                if s.mac
                and scope not in tampered
                and not services.gates._is_stale(s, now)
                # Behind the model's results: never served, its recomputation is on its way.
                and not services.gates._behind(s)
            }
            # Every model is swept (descendants too); a change time alone made is recorded as
            # of the moment it fell due, unless the row was tampered with.
            states = services.recompute(
                model,
                "gate.tampered" if tampered else "gate.sweep",
                descendants=False,
                catch_up=not tampered,
            )
            differs = sorted(
                scope
                for scope, state in fresh.items()
                if scope in states and states[scope].state != state
            )
            if tampered or differs:
                _report_mismatch(model, stored, states, tampered, differs)
        count += 1
    return count


def _report_mismatch(
    model: AIModel,
    stored: dict[str, GateState],
    states: dict[str, GateState],
    tampered: list[str],
    differs: list[str],
) -> None:
    payload = {
        "model": model.slug,
        "tampered": tampered,
        "differs": differs,
        "stored": {scope: stored[scope].state for scope in [*tampered, *differs]},
        "recomputed": {
            scope: states[scope].state for scope in [*tampered, *differs] if scope in states
        },
    }
    logger.error("stored gate mismatch for %s: %s", model.slug, payload)
    audit.record("gate.mismatch", model, payload, actor="worker")
    notifications.notify("gate.mismatch", payload, roles=("safety", "leadership", "auditor"))
