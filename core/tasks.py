"""Operational tasks: the worker heartbeat and the outbox relay."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from core import outbox
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


@shared_task(name="core.relay_outbox")
def relay_outbox() -> int:
    """Send outbox messages that are due (missed by the fast path, or retried after a failure).

    Safe to run twice at once: each message is claimed with a conditional UPDATE.
    """
    return outbox.relay()


@shared_task(name="core.prune_outbox")
def prune_outbox() -> int:
    """Delete outbox messages done more than a week ago."""
    return outbox.prune()
