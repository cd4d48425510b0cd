"""The hostile-insider drill on PostgreSQL (issue 12, observations 2, 4 and 5).

The attacker owns the tables. Each tampering is made as the owner would make it, then must be
detected by ``verify_audit``, by the offline verifier given the checkpoint log kept outside the
database, and by the every-minute quick verification, which pauses every gate at once.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import verify_bundle as vb
from audit.checkpoints import CheckpointError, make_checkpoint
from audit.dbguard import PG_FUNCTION
from audit.models import AuditEntry, VerificationRun
from audit.tasks import verify_quick
from audit.verification import export_bundle, run_verification
from governance import services
from tests.audit_support import (  # noqa: F401  (fixture)
    append,
    attacker,
    audit_keys,
    restore_guards,
)
from tests.conftest import guards_enforced
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)
from tests.services import requires_services

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, requires_services, pytest.mark.usefixtures("verified_trail")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def approved(audit_keys: Path, safety: Any, rso: Any, ceo: Any) -> Any:  # noqa: F811
    """An approved gate over a trail with a signed, published checkpoint."""
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "below every line", safety)
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    make_checkpoint()
    outcome, _ = run_verification("test")
    assert outcome.ok, outcome.message
    assert services.gate_for(model)["state"] == "approved"
    return model


# --- Observation 2: the test-only flush switch is no bypass in production ------------------


def test_the_flush_switch_does_nothing_in_a_production_database():
    with guards_enforced(), connection.cursor() as cursor:
        # The trigger function exactly as migrations install it in production.
        cursor.execute(PG_FUNCTION)
        cursor.execute("SET rsp.allow_test_flush = 'on'")
        for table in ("audit_auditentry", "audit_auditcheckpoint", "audit_loghead"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(f"TRUNCATE {table}")


def test_no_shipped_code_can_install_the_test_escape():
    """Issue 22 obs 9: the escape lives in tests/ only, not in a module the product ships."""
    sources = [
        path.read_text()
        for app in (
            "audit",
            "core",
            "policies",
            "evaluations",
            "suites",
            "governance",
            "rsp_portal",
        )
        for path in (REPO / app).rglob("*.py")
    ]
    assert sources
    assert not any("allow_test_flush" in text or "PG_TEST_FUNCTION" in text for text in sources)
    assert "current_setting" not in PG_FUNCTION


# --- The tamperings of the drill -----------------------------------------------------------


def truncate_everything(cursor: Any) -> None:
    cursor.execute("TRUNCATE audit_auditentry, audit_auditcheckpoint, audit_loghead")
    cursor.execute("TRUNCATE audit_verificationrun")


def delete_a_middle_entry(cursor: Any) -> None:
    middle = AuditEntry.objects.count() // 2
    cursor.execute("DELETE FROM audit_auditentry WHERE seq = %s", [middle])


def swap_two_rows(cursor: Any) -> None:
    cursor.execute("UPDATE audit_auditentry SET seq = 1000000 WHERE seq = 3")
    cursor.execute("UPDATE audit_auditentry SET seq = 3 WHERE seq = 4")
    cursor.execute("UPDATE audit_auditentry SET seq = 4 WHERE seq = 1000000")


def backdate_a_safeguard(cursor: Any) -> None:
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
    cursor.execute("ALTER TABLE governance_safeguardrecord DISABLE TRIGGER USER")
    cursor.execute(
        "UPDATE governance_safeguardrecord SET recorded_at = recorded_at - interval '400 days' "
        "WHERE id = (SELECT min(id) FROM governance_safeguardrecord)"
    )
    cursor.execute("ALTER TABLE governance_safeguardrecord ENABLE TRIGGER USER")


def flip_a_byte(cursor: Any) -> None:
    body = bytearray(AuditEntry.objects.get(seq=4).body_bytes)
    at = body.index(b'"action":"') + len(b'"action":"')
    body[at] ^= 0x20  # "test.event" -> "Test.event": one bit, still canonical JSON
    cursor.execute("UPDATE audit_auditentry SET body = %s WHERE seq = 4", [bytes(body)])


DRILL: dict[str, Callable[[Any], None]] = {
    "truncate": truncate_everything,
    "delete-middle": delete_a_middle_entry,
    "swap-two": swap_two_rows,
    "backdate-safeguard": backdate_a_safeguard,
    "flip-a-byte": flip_a_byte,
}


def _offline_verifier(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bundle = tmp_path / "bundle"
    export_bundle(bundle)
    return subprocess.run(
        [
            sys.executable,
            str(bundle / vb.VERIFIER_FILE),
            str(bundle),
            "--public-key",
            str(settings.AUDIT_PUBLIC_KEY_FILE),
            "--checkpoint-log",
            str(settings.AUDIT_CHECKPOINT_LOG),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("tamper", DRILL.values(), ids=DRILL.keys())
def test_the_drill_detects_each_tampering_and_pauses_every_gate(
    tamper: Callable[[Any], None], approved: Any, tmp_path: Path
):
    # The gate is approved and the trail verified a moment ago.
    assert _offline_verifier(tmp_path / "before").returncode == 0
    with attacker() as cursor:
        tamper(cursor)

    # The every-minute task notices, and the gates pause at once.
    assert verify_quick() is False
    gate = services.gate_for(approved)
    assert gate["state"] == "paused"
    assert {r["code"] for r in gate["reasons"]} == {"audit_unverified"}

    with pytest.raises(CommandError, match="FAIL"):
        call_command("verify_audit")

    if tamper is not backdate_a_safeguard:  # a business row is not in the bundle
        offline = _offline_verifier(tmp_path / "after")
        assert offline.returncode == 1, offline.stdout
        assert offline.stdout.startswith("FAIL")


def test_a_truncated_log_names_the_external_checkpoint(approved: Any):
    size = AuditEntry.objects.count()
    with attacker() as cursor:
        truncate_everything(cursor)
    outcome, _ = run_verification("test")
    assert not outcome.ok
    assert "external checkpoint log" in outcome.message
    assert "log has only 0" in outcome.message
    assert outcome.first_bad_seq == 0
    assert size > 10


def test_the_signer_refuses_to_sign_a_log_that_lost_published_entries(approved: Any):
    with attacker() as cursor:
        truncate_everything(cursor)
    append(3)
    with pytest.raises(CheckpointError, match="external checkpoint log"):
        make_checkpoint()


def test_a_backdated_safeguard_is_named(approved: Any):
    with attacker() as cursor:
        backdate_a_safeguard(cursor)
    outcome, _ = run_verification("test")
    assert not outcome.ok
    assert "governance.safeguardrecord" in outcome.message
    assert "not when the trail recorded it" in outcome.message


def test_a_row_without_an_entry_is_named(approved: Any):
    from core.models import User
    from governance.models import Pause

    Pause.objects.create(
        model=approved, reason="slipped in without the trail", created_by=User.objects.first()
    )
    outcome, _ = run_verification("test")
    assert not outcome.ok
    assert "governance.pause" in outcome.message
    assert "has no audit entry" in outcome.message


# --- Observation 5: noticed within the minute, and a silent verifier pauses too ------------


def test_a_gate_read_pauses_when_verification_has_gone_quiet(approved: Any, settings: Any):
    settings.AUDIT_VERIFY_MAX_AGE_SECONDS = 120
    from governance.models import GateState

    with transaction.atomic():
        services.recompute(approved, "test")
    assert services.gate_for(approved)["state"] == "approved"
    stored = GateState.objects.get(model=approved, scope="scaling").valid_until
    last = VerificationRun.objects.order_by("-started_at").first()
    assert stored is not None and last is not None
    assert stored <= last.started_at + dt.timedelta(seconds=120)
    # The verifier stopped (worker killed, beat down): its last run was three minutes ago.
    # (Runs are append-only and signed: the test clears them as the owner would, restores the
    # guards, and has the worker's key sign a run dated three minutes back.)
    with attacker() as cursor:
        cursor.execute("DELETE FROM audit_verificationrun")
        restore_guards(cursor)
    three_minutes_ago = timezone.now() - dt.timedelta(minutes=3)
    with mock.patch("audit.verification.timezone.now", return_value=three_minutes_ago):
        run_verification("worker (quick)", quick=True)
    # The stored gate expires with the trust the last verification gave (here: 3 minutes ago,
    # so a minute ago). (Stored gate rows are sealed: the test recomputes rather than edit.)
    with transaction.atomic():
        services.recompute(approved, "test")
    state = GateState.objects.get(model=approved, scope="scaling")
    assert state.state == "paused"
    gate = services.gate_for(approved)
    assert gate["state"] == "paused"
    [reason] = gate["reasons"]
    assert reason["code"] == "audit_unverified"
    assert "more than 120 s ago" in reason["message"]
    # A fresh quick verification restores it.
    assert verify_quick() is True
    assert services.gate_for(approved)["state"] == "approved"
