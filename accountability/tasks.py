"""Celery tasks of accountability: reminders before a commitment's deadline."""

from __future__ import annotations

from celery import shared_task

from accountability import commitments


@shared_task(name="accountability.remind_commitments")
def remind_commitments() -> int:
    """Remind people of deadlines coming up; safe to run twice (one reminder per due item)."""
    return commitments.send_reminders()
