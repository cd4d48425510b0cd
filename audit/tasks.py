"""Periodic audit jobs: sign a checkpoint when the log grew, verify the whole log hourly."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.checkpoints import make_checkpoint
from audit.verification import run_verification

logger = logging.getLogger(__name__)


@shared_task(name="audit.sign_checkpoint")
def sign_checkpoint() -> int | None:
    """Sign a checkpoint of the committed log; safe to run twice (a second run finds nothing new).

    Returns the signed size, or None when the log had not grown. A missing key raises, so the
    failure is visible in the worker log rather than silently leaving the log unsigned.
    """
    checkpoint = make_checkpoint()
    return checkpoint.size if checkpoint else None


@shared_task(name="audit.verify")
def verify() -> bool:
    """Verify the stored log and record a VerificationRun for the auditors' status page."""
    outcome, _ = run_verification("worker")
    if not outcome.ok:
        logger.error("audit log verification FAILED: %s", outcome.message)
    return outcome.ok
