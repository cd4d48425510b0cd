"""Issue 21, observation 4: the database records how far the external checkpoint log got, so a
log that vanished or was rolled back to an older copy fails verification (it passed silently)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from audit.checkpoints import make_checkpoint, publish_checkpoints
from audit.models import CheckpointPublication
from audit.verification import verify_log, verify_quick
from tests.audit_support import append, audit_keys  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys")]


def _log() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_LOG)


def _two_checkpoints() -> None:
    append(3)
    make_checkpoint()
    append(2, start=3)
    make_checkpoint()


def test_publishing_records_how_far_the_log_got():
    _two_checkpoints()

    assert max(CheckpointPublication.objects.values_list("size", flat=True)) == 5
    marks = CheckpointPublication.objects.count()
    assert publish_checkpoints() == 0  # nothing new: no new record
    assert CheckpointPublication.objects.count() == marks
    assert verify_quick().ok and verify_log().ok


@pytest.mark.parametrize("verify", [verify_quick, verify_log])
def test_a_vanished_checkpoint_log_fails_verification(verify):
    _two_checkpoints()
    _log().unlink()

    outcome = verify()

    assert not outcome.ok
    assert "vanished" in outcome.message


@pytest.mark.parametrize("verify", [verify_quick, verify_log])
def test_a_checkpoint_log_rolled_back_to_an_older_copy_fails_verification(verify):
    _two_checkpoints()
    first, _ = _log().read_text().splitlines()
    _log().write_text(first + "\n")

    outcome = verify()

    assert not outcome.ok
    assert "rolled back" in outcome.message


def test_a_log_switched_off_after_it_was_written_fails_verification(settings):
    _two_checkpoints()
    settings.AUDIT_CHECKPOINT_LOG = None

    outcome = verify_quick()

    assert not outcome.ok


def test_without_a_configured_log_nothing_is_recorded_and_verification_passes(settings):
    settings.AUDIT_CHECKPOINT_LOG = None
    append(3)
    make_checkpoint()

    assert not CheckpointPublication.objects.exists()
    assert verify_quick().ok
