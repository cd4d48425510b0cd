"""Checkpoints leave the database: the file log, witnesses, and this portal as a witness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from audit import verify_bundle as vb
from audit.checkpoints import make_checkpoint, public_key
from audit.models import AuditCheckpoint, WitnessedCheckpoint
from tests.audit_support import WitnessAnswer, append, audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("audit_keys")
def test_every_checkpoint_is_appended_to_the_external_log():
    append(3)
    make_checkpoint()
    append(2)
    make_checkpoint()
    lines = Path(settings.AUDIT_CHECKPOINT_LOG).read_text().splitlines()
    assert [json.loads(line)["size"] for line in lines] == [3, 5]
    notes = list(AuditCheckpoint.objects.order_by("size").values_list("note", flat=True))
    assert [json.loads(line)["note"] for line in lines] == notes


@pytest.mark.usefixtures("audit_keys")
def test_checkpoints_are_posted_to_witnesses(settings: Any, monkeypatch: Any):
    sent: list[tuple[str, bytes, dict[str, str]]] = []

    def fake_urlopen(request: Any, timeout: float) -> WitnessAnswer:
        sent.append((request.full_url, request.data, dict(request.header_items())))
        return WitnessAnswer()  # a witness without a cosigning key

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    settings.AUDIT_WITNESS_URLS = ["https://witness.example/api/v1/audit/witness/"]
    settings.AUDIT_WITNESS_TOKEN = "rsp_abc_def"
    append(2)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    assert sent == [
        (
            "https://witness.example/api/v1/audit/witness/",
            checkpoint.note.encode(),
            {"Content-type": "text/plain; charset=utf-8", "Authorization": "Bearer rsp_abc_def"},
        )
    ]


@pytest.mark.usefixtures("audit_keys")
def test_this_portal_witnesses_another_portals_log(auditor, settings: Any):
    append(2)
    checkpoint = make_checkpoint()
    assert checkpoint is not None
    key = public_key()
    assert key is not None
    settings.AUDIT_WITNESS_KEYS = [vb.verifier_key(settings.AUDIT_ORIGIN, key)]
    client = bearer(auditor, ["audit:read"])
    url = "/api/v1/audit/witness/"
    response = client.post(url, checkpoint.note, content_type="text/plain")
    assert response.status_code == 200, response.content
    assert response.json()["new"] is True
    again = client.post(url, {"note": checkpoint.note}, content_type="application/json")
    assert again.json()["new"] is False
    assert WitnessedCheckpoint.objects.count() == 1

    # The same size with another root: a split view, refused.
    private = vb.load_private_key(settings.AUDIT_SIGNING_KEY_FILE)
    forged = vb.sign_checkpoint(private, settings.AUDIT_ORIGIN, checkpoint.size, b"\x07" * 32)
    assert client.post(url, forged, content_type="text/plain").status_code == 409
    # Unknown signer or unknown log: refused.
    other = vb.sign_checkpoint(_fresh_key(), settings.AUDIT_ORIGIN, 9, b"\x01" * 32)
    assert client.post(url, other, content_type="text/plain").status_code == 400


def _fresh_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def test_only_auditors_hand_in_checkpoints(safety):
    response = bearer(safety).post("/api/v1/audit/witness/", "x", content_type="text/plain")
    assert response.status_code == 403
