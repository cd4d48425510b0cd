"""Tampering with the stored trail is caught by `verify_audit` and by the offline verifier.

Each case plays an attacker with owner rights on the database: the append-only triggers are
switched off first (they refuse all of this otherwise, see test_audit_trail.py), then one kind
of change is made. The log has 13 entries with a signed checkpoint at 10.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit import verify_bundle as vb
from audit.checkpoints import make_checkpoint
from audit.models import AuditCheckpoint, AuditEntry, VerificationRun
from audit.verification import export_bundle
from tests.audit_support import append, attacker, audit_keys  # noqa: F401  (fixture)
from tests.bundle_fixtures import run_verifier

pytestmark = pytest.mark.django_db


def _leaf(seq: int) -> str:
    return AuditEntry.objects.values_list("leaf_hash", flat=True).get(seq=seq)


def flip_one_byte(cursor: Any) -> int:
    body = bytearray(AuditEntry.objects.get(seq=4).body_bytes)
    at = body.index(b"test.event") + len(b"test.")
    body[at] = ord("E")  # "test.event" -> "test.Event": still canonical JSON
    cursor.execute("UPDATE audit_auditentry SET body = %s WHERE seq = 4", [bytes(body)])
    return 4


def delete_one(cursor: Any) -> int:
    cursor.execute("DELETE FROM audit_auditentry WHERE seq = 6")
    return 6


def swap_two(cursor: Any) -> int:
    cursor.execute("UPDATE audit_auditentry SET seq = 1000000 WHERE seq = 3")
    cursor.execute("UPDATE audit_auditentry SET seq = 3 WHERE seq = 4")
    cursor.execute("UPDATE audit_auditentry SET seq = 4 WHERE seq = 1000000")
    return 3


def insert_one(cursor: Any) -> int:
    """A well-formed forged entry at 5, chained to entry 4; the later ones renumbered."""
    prev = _leaf(4)
    cursor.execute("UPDATE audit_auditentry SET seq = seq + 1000 WHERE seq >= 5")
    cursor.execute("UPDATE audit_auditentry SET seq = seq - 999 WHERE seq >= 1000")
    # UNIQUE(prev) refuses a second child of entry 4, so the attacker edits the old one's column.
    cursor.execute("UPDATE audit_auditentry SET prev = %s WHERE seq = 6", ["f" * 64])
    now = timezone.now()
    body = vb.entry_body(
        origin=settings.AUDIT_ORIGIN,
        seq=5,
        prev=bytes.fromhex(prev),
        ts=vb.rfc3339_utc(now),
        actor={"system": "worker"},
        action="decision.approve",
        obj={"type": "governance.decision", "id": "1"},
        data={},
    )
    AuditEntry.objects.create(
        seq=5,
        prev=prev,
        leaf_hash=vb.leaf_hash(body).hex(),
        body=body,
        ts=now,
        actor="system:worker",
        action="decision.approve",
        object_type="governance.decision",
        object_id="1",
    )
    cursor.execute("UPDATE audit_loghead SET size = size + 1")
    return 6  # the forged entry itself is well formed; its successor no longer fits


def truncate_below_checkpoint(cursor: Any) -> int:
    """Drop entries 7.. and make the head agree, hiding everything after entry 6."""
    head = _leaf(6)
    cursor.execute("DELETE FROM audit_auditentry WHERE seq >= 7")
    cursor.execute("UPDATE audit_loghead SET size = 7, head_hash = %s", [head])
    return 7


CASES: dict[str, Callable[[Any], int]] = {
    "one byte of one body changed": flip_one_byte,
    "an entry deleted": delete_one,
    "two entries swapped": swap_two,
    "an entry inserted": insert_one,
    "the tail truncated below a signed checkpoint": truncate_below_checkpoint,
}


@pytest.fixture
def signed_log(audit_keys: Path) -> AuditCheckpoint:  # noqa: F811
    append(10)
    checkpoint = make_checkpoint()
    assert checkpoint is not None and checkpoint.size == 10
    append(3, start=10)  # an unsigned tail
    call_command("verify_audit", stdout=open_null())
    return checkpoint


def open_null() -> Any:
    import io

    return io.StringIO()


def _pinned() -> Any:
    return vb.public_key_from_pem(Path(settings.AUDIT_PUBLIC_KEY_FILE).read_bytes())


def assert_caught(tmp_path: Path, first_bad: int | None, reason: str) -> None:
    """verify_audit, the in-process verifier and the standalone one all name the same fault."""
    with pytest.raises(CommandError, match=reason) as raised:
        call_command("verify_audit", stdout=open_null())
    assert raised.value.returncode == 1
    run = VerificationRun.objects.order_by("-started_at", "-pk").first()
    assert run is not None and not run.ok and run.first_bad_seq == first_bad
    expected = f"entry {first_bad}: " if first_bad is not None else "checkpoint #"
    assert str(raised.value).startswith(f"FAIL: {expected}")

    bundle = tmp_path / "bundle"
    export_bundle(bundle)
    with pytest.raises(vb.VerificationError, match=reason) as offline:
        vb.verify_bundle(bundle, public_key=_pinned(), origin=settings.AUDIT_ORIGIN)
    assert offline.value.seq == first_bad
    standalone = run_verifier(bundle / vb.VERIFIER_FILE, bundle, tmp_path)
    assert standalone.returncode == 1, standalone.stdout + standalone.stderr
    assert standalone.stdout.startswith(f"FAIL: {expected}")


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_caught_and_names_the_first_bad_seq(signed_log, tmp_path, case):
    with attacker() as cursor:
        first_bad = CASES[case](cursor)
    reasons = {
        "one byte of one body changed": "leaf hash does not match body",
        "an entry deleted": "missing",
        "two entries swapped": "body says seq 4",
        "an entry inserted": "body says seq 5",
        "the tail truncated below a signed checkpoint": "checkpoint #0 is signed for 10",
    }
    assert_caught(tmp_path, first_bad, reasons[case])


def test_a_checkpoint_signed_by_another_key_is_caught(signed_log, tmp_path):
    # Inserting needs no trigger switched off: the table is append-only, not write-protected.
    leaves = [bytes.fromhex(h) for h in AuditEntry.objects.values_list("leaf_hash", flat=True)]
    other = Ed25519PrivateKey.generate()
    note = vb.sign_checkpoint(other, settings.AUDIT_ORIGIN, 13, vb.merkle_root(leaves))
    AuditCheckpoint.objects.create(
        size=13, root_hash=vb.merkle_root(leaves).hex(), note=note, key_id="00000000"
    )
    assert_caught(tmp_path, None, "checkpoint #1: no valid signature from the pinned key")


def test_a_filter_column_edited_to_hide_an_entry_is_caught(signed_log):
    # The export only carries bodies, so this is the database-side check.
    with attacker() as cursor:
        cursor.execute("UPDATE audit_auditentry SET model_slug = '' WHERE seq = 2")
    with pytest.raises(CommandError, match=r"entry 2: column model_slug is ''"):
        call_command("verify_audit", stdout=open_null())


def test_a_log_head_that_disagrees_is_caught(signed_log):
    with attacker() as cursor:
        cursor.execute("UPDATE audit_loghead SET size = 20")
    with pytest.raises(CommandError, match=r"entry 13: the log head counts 20 entries"):
        call_command("verify_audit", stdout=open_null())


def test_the_untouched_log_verifies_everywhere(signed_log, tmp_path):
    out = open_null()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().strip() == "OK: 13 entries, 1 checkpoints"
    bundle = tmp_path / "bundle"
    call_command("export_audit", str(bundle), stdout=open_null())
    result = run_verifier(bundle / vb.VERIFIER_FILE, bundle, tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OK: 13 entries, 1 checkpoints, head ")
