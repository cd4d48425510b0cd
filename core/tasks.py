"""Operational tasks."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from core.models import WorkerHeartbeat


@shared_task(name="core.heartbeat")
def heartbeat(nonce: str) -> None:
    """Answer a ping from the web tier; safe to run twice (it only stamps the latest answer)."""
    WorkerHeartbeat.objects.update_or_create(
        pk=1,
        defaults={
            "answered_at": timezone.now(),
            "answered_nonce": nonce,
            "worker": socket.gethostname(),
        },
    )
