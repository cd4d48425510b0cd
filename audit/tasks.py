"""Periodic audit jobs: sign a checkpoint when the log grew, verify quickly every minute and
the whole log hourly."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.checkpoints import SIGN_TASK, make_checkpoint
from audit.verification import run_verification
from core import outbox

logger = logging.getLogger(__name__)


@shared_task(name=SIGN_TASK)
def sign_checkpoint(outbox_id: int | None = None) -> int | None:
    """Sign a checkpoint of the committed log; safe to run twice (a second run finds nothing new).

    Returns the signed size, or None when the log had not grown. A missing key raises (from
    beat) or is recorded on the request's outbox message and logged, so the failure is visible
    in the worker log rather than silently leaving the log unsigned.
    """
    return outbox.consume(outbox_id, _sign)


def _sign() -> int | None:
    checkpoint = make_checkpoint()
    return checkpoint.size if checkpoint else None


@shared_task(name="audit.verify")
def verify() -> bool:
    """Verify the stored log and record a VerificationRun for the auditors' status page."""
    outcome, _ = run_verification("worker")
    if not outcome.ok:
        logger.error("audit log verification FAILED: %s", outcome.message)
    return outcome.ok


@shared_task(name="audit.verify_quick")
def verify_quick() -> bool:
    """The every-minute check (hashes and links in the database, Merkle roots against every
    checkpoint held inside and outside the database, gate-input rows against the trail)."""
    outcome, _ = run_verification("worker (quick)", quick=True)
    if not outcome.ok:
        logger.error("audit log quick verification FAILED: %s", outcome.message)
    return outcome.ok
