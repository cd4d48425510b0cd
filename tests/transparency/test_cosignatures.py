"""Witnesses' cosignatures collected back: verified with the witness's key, kept append-only,
audited, shown beside the published log head and checked by the offline verifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from audit import verify_bundle as vb
from audit.checkpoints import make_checkpoint, public_key
from audit.models import AppendOnlyError, AuditCheckpoint, AuditEntry, WitnessCosignature
from audit.verification import export_bundle
from tests.audit_support import WitnessAnswer, append, audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys")]

WITNESS = "witness.example/w1"
WITNESS_URL = "https://witness.example/api/v1/audit/witness/"


@pytest.fixture
def witness(settings: Any, monkeypatch: Any) -> Ed25519PrivateKey:
    """A test witness: answers each posted checkpoint with its cosignature line (C2SP
    tlog-witness style), plus one line forged with a key it does not hold."""
    key = Ed25519PrivateKey.generate()
    settings.AUDIT_WITNESS_URLS = [WITNESS_URL]
    settings.AUDIT_WITNESS_COSIGNER_KEYS = [vb.cosigner_verifier_key(WITNESS, key.public_key())]

    def fake_urlopen(request: Any, timeout: float) -> WitnessAnswer:
        text = vb.note_text(request.data.decode())
        good = vb.cosign_checkpoint(key, WITNESS, text, 1_790_000_000)
        forged = vb.cosign_checkpoint(Ed25519PrivateKey.generate(), WITNESS, text, 1_790_000_001)
        unknown = vb.cosign_checkpoint(key, "stranger.example", text, 1_790_000_002)
        return WitnessAnswer(f"{good}\n{forged}\n{unknown}\n".encode())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return key


def test_a_witness_cosignature_is_verified_kept_audited_and_published(witness):
    append(3)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    (kept,) = WitnessCosignature.objects.all()  # the forged and the unknown one are dropped
    assert kept.witness == WITNESS and kept.size == checkpoint.size
    assert kept.timestamp == 1_790_000_000
    entry = AuditEntry.objects.get(action="audit.cosignature")
    assert entry.parsed["data"]["size"] == checkpoint.size
    with pytest.raises(AppendOnlyError):
        kept.save()
    with pytest.raises(AppendOnlyError):
        WitnessCosignature.objects.all().delete()

    head = Client().get("/api/v1/transparency/").json()["log_head"]
    assert head["size"] == checkpoint.size and head["sent_to"] == ["witness.example"]
    (shown,) = head["witnesses"]
    assert shown["name"] == WITNESS and shown["cosignature"] == kept.signature
    assert shown["verifier_key"] == vb.cosigner_verifier_key(WITNESS, witness.public_key())
    assert shown["audit_hash"] == entry.leaf_hash
    page = Client().get("/transparency/").content.decode()
    assert 'id="cosignatures"' in page and WITNESS in page


def test_posting_again_keeps_one_cosignature_per_witness(witness):
    append(2)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    from audit.checkpoints import _post_to_witnesses

    _post_to_witnesses(checkpoint)
    assert WitnessCosignature.objects.count() == 1


def test_the_outsiders_check_verifies_the_witnesses_cosignatures(witness, tmp_path, capsys):
    append(3)
    make_checkpoint()
    view = Client().get("/api/v1/transparency/").json()
    head = tmp_path / "transparency.json"
    head.write_text(json.dumps(view))
    bundle = tmp_path / "bundle"
    export_bundle(str(bundle))
    key = str(Path(tmp_path / "keys" / "public.pem"))
    pinned = vb.cosigner_verifier_key(WITNESS, witness.public_key())
    args = [str(bundle), "--public-key", key, "--published-head", str(head)]

    assert vb.main([*args, "--witness-key", pinned]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK:") and f"cosigned by: {WITNESS}" in out
    assert vb.main(args) == 0  # not pinned: checked with the listed key, and said so
    assert "compare them" in capsys.readouterr().out

    # A pinned witness that did not cosign the head.
    other = vb.cosigner_verifier_key("other.example", Ed25519PrivateKey.generate().public_key())
    assert vb.main([*args, "--witness-key", other]) == 1
    assert "lacks the cosignature of pinned witness other.example" in capsys.readouterr().out

    # A cosignature edited in the saved view.
    line = view["log_head"]["witnesses"][0]["cosignature"]
    body = line.rsplit(" ", 1)[1]
    flipped = ("B" if body[20] == "A" else "A").join((body[:20], body[21:]))
    view["log_head"]["witnesses"][0]["cosignature"] = line.replace(body, flipped)
    head.write_text(json.dumps(view))
    assert vb.main([*args, "--witness-key", pinned]) == 1
    assert "FAIL:" in capsys.readouterr().out


def test_this_portal_as_a_witness_answers_with_its_cosignature(auditor, settings, tmp_path):
    own = tmp_path / "cosigning.pem"
    own.write_bytes(vb.generate_private_key_pem())
    settings.AUDIT_COSIGNING_KEY_FILE = str(own)
    append(2)
    checkpoint = make_checkpoint()
    assert isinstance(checkpoint, AuditCheckpoint)
    key = public_key()
    assert key is not None
    settings.AUDIT_WITNESS_KEYS = [vb.verifier_key(settings.AUDIT_ORIGIN, key)]
    answer = bearer(auditor, ["audit:read"]).post(
        "/api/v1/audit/witness/", checkpoint.note, content_type="text/plain"
    )
    assert answer.status_code == 200, answer.content
    line = answer.json()["cosignature"]
    cosigner = vb.load_private_key(own).public_key()
    text = vb.note_text(checkpoint.note)
    assert vb.verify_cosignature(line, text, cosigner, settings.AUDIT_ORIGIN) > 0
    origin, size, root, _ = text.split("\n")
    longer = f"{origin}\n{int(size) + 1}\n{root}\n"
    with pytest.raises(vb.NoteError):  # over another size it does not verify
        vb.verify_cosignature(line, longer, cosigner, settings.AUDIT_ORIGIN)
