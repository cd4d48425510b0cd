"""Celery tasks of the verdict: notification delivery and the periodic gate sweep."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import notifications
from governance.models import (
    DecisionStatus,
    DeliveryStatus,
    GateState,
    Notification,
    ScalingDecision,
)

logger = logging.getLogger(__name__)


@shared_task(
    bind=True, name="governance.deliver_notification", max_retries=notifications.MAX_ATTEMPTS
)
def deliver_notification(self, notification_id: int) -> None:  # type: ignore[no-untyped-def]
    """Deliver one notification; safe to run twice (a sent one is skipped)."""
    claimed = Notification.objects.filter(
        pk=notification_id, status=DeliveryStatus.PENDING, attempts__lt=notifications.MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        return
    notification = Notification.objects.select_related("endpoint").get(pk=notification_id)
    try:
        notifications.deliver(notification)
    except Exception as exc:
        logger.warning("notification %s failed: %s", notification_id, exc)
        if notification.attempts >= notifications.MAX_ATTEMPTS:
            Notification.objects.filter(pk=notification_id).update(
                status=DeliveryStatus.FAILED, last_error=str(exc)[:2000]
            )
            return
        notifications.mark(notification_id, ok=False, error=str(exc))
        # 2, 4, 8 ... seconds, capped at 10 minutes.
        raise self.retry(exc=exc, countdown=min(2**notification.attempts, 600)) from None
    notifications.mark(notification_id, ok=True)


@shared_task(name="governance.relay_notifications")
def relay_notifications() -> int:
    """Re-enqueue deliveries left pending (a crash between commit and enqueue)."""
    cutoff = timezone.now() - timedelta(minutes=2)
    ids = list(
        Notification.objects.filter(
            status=DeliveryStatus.PENDING,
            created_at__lt=cutoff,
            attempts__lt=notifications.MAX_ATTEMPTS,
        ).values_list("pk", flat=True)[:200]
    )
    for pk in ids:
        deliver_notification.delay(pk)
    return len(ids)


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
            services.recompute(AIModel.objects.get(pk=model_id), "gate.sweep")
        count += 1
    return count
