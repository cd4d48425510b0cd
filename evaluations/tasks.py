"""Celery tasks of the evidence app: pruning of uploaded evidence files."""

from __future__ import annotations

from celery import shared_task

from evaluations import import_service


@shared_task(name="evaluations.prune_imports")
def prune_imports() -> dict[str, int]:
    """Delete uploaded logs past their retention (previews after a day, imports after 90)."""
    return import_service.prune_uploads()
