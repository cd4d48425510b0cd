"""Signed checkpoints, the periodic tasks, the key endpoint's data and the audited core changes."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

import audit
from audit import verify_bundle as vb
from audit.checkpoints import CheckpointError, make_checkpoint, request_checkpoint
from audit.models import AuditCheckpoint, AuditEntry, VerificationRun
from audit.tasks import sign_checkpoint, verify
from core import credentials, outbox
from core.models import ApiToken, OutboxMessage, OutboxStatus, split_token
from core.services import create_user
from tests.audit_support import append, attacker, audit_keys  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _leaves() -> list[bytes]:
    return [
        bytes.fromhex(h)
        for h in AuditEntry.objects.order_by("seq").values_list("leaf_hash", flat=True)
    ]


def _pinned() -> vb.Ed25519PublicKey:
    return vb.public_key_from_pem(Path(settings.AUDIT_PUBLIC_KEY_FILE).read_bytes())


def test_it_refuses_to_sign_without_the_private_key(settings, tmp_path):
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "absent.pem"
    append(2)
    with pytest.raises(CheckpointError, match=r"absent.pem does not exist.*audit_keys"):
        make_checkpoint()
    assert not AuditCheckpoint.objects.exists()


@pytest.mark.usefixtures("audit_keys")
def test_a_checkpoint_signs_the_rfc6962_root_of_every_entry():
    append(7)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    assert checkpoint.size == 7
    assert checkpoint.root_hash == vb.merkle_root(_leaves()).hex()
    size, root = vb.parse_and_verify_note(checkpoint.note, _pinned(), settings.AUDIT_ORIGIN)
    assert (size, root.hex()) == (7, checkpoint.root_hash)
    assert checkpoint.key_id == vb.key_id(settings.AUDIT_ORIGIN, _pinned()).hex()


@pytest.mark.usefixtures("audit_keys")
def test_it_signs_only_when_the_log_grew():
    assert make_checkpoint() is None  # empty log: nothing to sign
    append(3)
    assert make_checkpoint() is not None
    assert make_checkpoint() is None
    append(2, start=3)
    assert make_checkpoint().size == 5
    assert list(AuditCheckpoint.objects.values_list("size", flat=True)) == [3, 5]


@pytest.mark.usefixtures("audit_keys")
def test_it_never_signs_a_size_smaller_than_the_latest():
    append(3)
    leaves = _leaves()
    key = vb.load_private_key(settings.AUDIT_SIGNING_KEY_FILE)
    AuditCheckpoint.objects.create(
        size=50,
        root_hash="0" * 64,
        note=vb.sign_checkpoint(key, settings.AUDIT_ORIGIN, 50, vb.merkle_root(leaves)),
        key_id="x",
    )
    assert make_checkpoint() is None
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.usefixtures("audit_keys")
def test_it_refuses_to_sign_a_log_that_contradicts_its_last_checkpoint():
    append(4)
    make_checkpoint()
    append(2, start=4)
    with attacker() as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET root_hash = %s", ["1" * 64])
    with pytest.raises(CheckpointError, match=r"entries 0..3 no longer match"):
        make_checkpoint()


@pytest.mark.usefixtures("audit_keys")
def test_it_refuses_to_sign_a_log_with_a_hole():
    append(4)
    with attacker() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq = 2")
    with pytest.raises(CheckpointError, match=r"not contiguous at entry 2"):
        make_checkpoint()


@pytest.mark.usefixtures("audit_keys")
def test_the_sign_task_is_idempotent():
    append(3)
    assert sign_checkpoint() == 3
    assert sign_checkpoint() is None
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.usefixtures("audit_keys")
def test_the_verify_task_records_a_run():
    append(3)
    assert verify() is True
    run = VerificationRun.objects.get()
    assert run.ok and run.entries == 3 and run.triggered_by == "worker"


def test_request_checkpoint_enqueues_only_after_commit(django_capture_on_commit_callbacks):
    with (
        mock.patch("core.outbox._send") as send,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        transaction.atomic(),
    ):
        request_checkpoint()
        # The request is a row in the caller's transaction; nothing is sent yet.
        assert OutboxMessage.objects.filter(topic="audit.sign_checkpoint").count() == 1
        assert not send.called
    assert len(callbacks) == 1  # the list is filled when the capture ends
    [call] = send.call_args_list
    assert call.args[0].topic == "audit.sign_checkpoint"


@pytest.mark.usefixtures("audit_keys")
def test_a_sign_off_stands_when_the_broker_is_down(django_capture_on_commit_callbacks, caplog):
    calls: list[str] = []

    def broker_down(message: OutboxMessage) -> None:
        calls.append(message.topic)
        raise ConnectionError("broker down")

    with (
        mock.patch("core.outbox._send", new=broker_down),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        # What governance does on a sign-off: the audited change, then the checkpoint request.
        audit.record("decision.approve", ("governance.scalingdecision", 1), {"model": "atlas"})
        request_checkpoint()
    # The send was attempted after commit and failed; its error was logged, not raised...
    assert calls == ["audit.sign_checkpoint"]
    assert [r.levelname for r in caplog.records if "broker down" in r.getMessage()] == ["WARNING"]
    # ...and the sign-off's audit entry is committed, its checkpoint request kept and due.
    entry = AuditEntry.objects.get()
    assert entry.action == "decision.approve"
    assert not AuditCheckpoint.objects.exists()
    request = OutboxMessage.objects.get(topic="audit.sign_checkpoint")
    assert request.status == OutboxStatus.PENDING and request.available_at <= timezone.now()
    # The broker is back: the relay sends the request and the signer signs the entry.
    sent: list[OutboxMessage] = []
    with mock.patch("core.outbox._send", new=sent.append):
        assert outbox.relay() == 1
    assert sign_checkpoint.run(**sent[0].payload, outbox_id=sent[0].pk) == 1
    assert AuditCheckpoint.objects.get().size == 1
    request.refresh_from_db()
    assert request.status == OutboxStatus.DONE


def test_beat_signs_every_five_minutes_and_verifies_hourly():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["audit-checkpoint"] == {"task": "audit.sign_checkpoint", "schedule": 300.0}
    assert schedule["audit-verify"]["task"] == "audit.verify"
    assert schedule["audit-verify"]["schedule"] == 3600.0


@pytest.mark.usefixtures("audit_keys")
def test_verify_audit_prints_ok_and_records_the_run():
    append(5)
    make_checkpoint()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue() == "OK: 5 entries, 1 checkpoints\n"
    run = VerificationRun.objects.get()
    assert run.ok and run.checkpoints == 1 and run.first_bad_seq is None


@pytest.mark.usefixtures("audit_keys")
def test_verify_audit_without_a_public_key_fails_once_checkpoints_exist(settings):
    append(2)
    make_checkpoint()
    settings.AUDIT_PUBLIC_KEY_FILE = Path(settings.AUDIT_PUBLIC_KEY_FILE).with_name("gone.pem")
    with pytest.raises(Exception, match=r"no public key"):
        call_command("verify_audit", stdout=io.StringIO())


@pytest.mark.parametrize("command", ["verify_audit", "export_audit"])
def test_the_commands_explain_themselves(command, capsys):
    with pytest.raises(SystemExit):
        call_command(command, "--help")
    text = capsys.readouterr().out
    assert "verify" in text and ("exits 1" in text or "verify_bundle.py" in text)


@pytest.mark.usefixtures("audit_keys")
def test_export_audit_writes_a_bundle_the_verifier_accepts(tmp_path):
    append(6)
    make_checkpoint()
    append(1, start=6)
    out = io.StringIO()
    call_command("export_audit", str(tmp_path / "b"), stdout=out)
    assert "Exported 7 entries and 1 checkpoints" in out.getvalue()
    report = vb.verify_bundle(tmp_path / "b", public_key=_pinned(), origin=settings.AUDIT_ORIGIN)
    assert (report.entries, report.checkpoints, report.unsigned_entries) == (7, 1, 1)
    assert (tmp_path / "b" / "VERIFY.md").exists()
    with pytest.raises(Exception, match="already contains a bundle"):
        call_command("export_audit", str(tmp_path / "b"), stdout=io.StringIO())


# --- The core changes that are audited ---------------------------------------------------------


def test_user_creation_is_audited_without_personal_details():
    user = create_user(
        "carol", "leadership", titles=["rso"], password="pw-1234567890-x", email="c@x.org"
    )
    entry = AuditEntry.objects.get(action="user.create")
    assert (entry.object_type, entry.object_id) == ("core.user", str(user.pk))
    assert entry.parsed["data"] == {
        "username": "carol",
        "role": "leadership",
        "titles": ["RSO"],
        "staff": False,
        # A keyed fingerprint of the stored hash, never the hash (core.credentials).
        "credential": credentials.fingerprint(user.password),
        # And of the e-mail address, never the address (ADR 0053).
        "address": credentials.fingerprint("c@x.org", salt=credentials.ADDRESS),
    }
    assert b"c@x.org" not in entry.body_bytes and b"pw-" not in entry.body_bytes
    assert user.password.encode() not in entry.body_bytes


def test_token_issue_and_revoke_are_audited_without_the_secret(safety):
    token, text = ApiToken.issue(safety, "ci", ["read"])
    _, secret = split_token(text)
    token.revoke()
    token.revoke()  # a second revocation changes nothing and records nothing
    issued, revoked = AuditEntry.objects.filter(action__startswith="token.").order_by("seq")
    assert issued.action == "token.issue" and revoked.action == "token.revoke"
    assert issued.parsed["data"]["key_id"] == token.key_id
    assert issued.parsed["actor"]["username"] == "safety"
    for entry in (issued, revoked):
        assert secret.encode() not in entry.body_bytes
        assert token.digest.encode() not in entry.body_bytes
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_issue_token_command_names_the_cli_as_actor(safety):
    call_command(
        "issue_token", "safety", "--name", "cli", stdout=io.StringIO(), stderr=io.StringIO()
    )
    entry = AuditEntry.objects.get(action="token.issue")
    assert entry.parsed["actor"] == {"system": "manage.py issue_token"}
