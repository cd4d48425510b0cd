"""Celery tasks of the verdict: notification delivery and the periodic gate sweep."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import outbox
from governance import notifications
from governance.models import DecisionStatus, GateState, ScalingDecision

logger = logging.getLogger(__name__)


@shared_task(name=notifications.SEND_TASK)
def send_notification(outbox_id: int) -> None:
    """Deliver one notification; safe to run twice (the outbox claim lets one run send it)."""
    outbox.consume(outbox_id, notifications.send_queued, int(outbox_id))


@shared_task(name="governance.sweep_gates")
def sweep_gates() -> int:
    """Expire overdue decisions and recompute gates whose verdict time may have changed."""
    from governance import services

    now = timezone.now()
    count = 0
    for decision in ScalingDecision.objects.filter(
        status=DecisionStatus.PENDING, expires_at__lte=now
    ):
        with transaction.atomic():
            locked = ScalingDecision.objects.select_for_update().get(pk=decision.pk)
            services._expire_if_due(locked)
            services.recompute(locked.model, "decision.expired")
    stale = GateState.objects.filter(
        Q(valid_until__lte=now) | Q(computed_at__lt=now - services.GATE_MAX_AGE)
    )
    for model_id in stale.values_list("model_id", flat=True).distinct():
        from evaluations.models import AIModel

        with transaction.atomic():
            # Time alone changed it: each change is recorded as of the moment it fell due.
            services.recompute(
                AIModel.objects.get(pk=model_id), "gate.sweep", descendants=False, catch_up=True
            )
        count += 1
    return count
