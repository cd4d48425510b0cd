"""Issue 22, observation 8: a decompression bomb and impossible UTC offsets are refused with a
4xx naming the field, before any work is done and never as a 500."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEntry
from evaluations.importers import base
from evaluations.models import EvalResult
from tests.conftest import bearer, client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import result

JSON = "application/json"
IMPOSSIBLE = ["2026-11-20T09:00:00+16:00", "2026-11-20T09:00:00-20:56", "2026-11-20T09:00+14:01"]


@pytest.fixture
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def bomb(member_bytes: int = 4 * 1024 * 1024) -> bytes:
    """A small .eval whose header inflates to ``member_bytes`` of zeros (ratio ~1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", b"0" * member_bytes)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_zip_bomb_eval_is_refused_before_it_is_inflated(_media, ckpt, pipeline, monkeypatch):
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the log was parsed")

    monkeypatch.setattr("inspect_ai.log.read_eval_log", never)
    payload = bomb()
    assert len(payload) < 20_000
    data = {
        "file": SimpleUploadedFile("run.eval", payload),
        "model": "atlas",
        "checkpoint": "step-1000",
    }
    client = bearer(pipeline)
    before = AuditEntry.objects.count()

    response = client.post("/api/v1/results/import/", data)

    assert response.status_code == 400, response.content
    message = " ".join(response.json()["errors"]["file"])
    assert "decompression bomb" in message
    assert EvalResult.objects.count() == 0
    new = AuditEntry.objects.order_by("seq").values_list("action", flat=True)[before:]
    assert list(new) == []


def test_an_archive_over_the_size_bounds_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.eval"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("header.json", b"{}" * 600)
        archive.writestr("samples/1.json", b"{}" * 600)
    base.check_archive(path, "big.eval")  # within the bounds
    monkeypatch.setattr(base, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(base.ImportFormatError, match="inflate to"):
        base.check_archive(path, "big.eval")
    monkeypatch.setattr(base, "MAX_MEMBER_BYTES", 10_000)
    monkeypatch.setattr(base, "MAX_ARCHIVE_BYTES", 2000)
    with pytest.raises(base.ImportFormatError, match="at most"):
        base.check_archive(path, "big.eval")
    monkeypatch.setattr(base, "MAX_ARCHIVE_MEMBERS", 1)
    with pytest.raises(base.ImportFormatError, match="holds 2 files"):
        base.check_archive(path, "big.eval")


@pytest.mark.django_db
@pytest.mark.parametrize("when", IMPOSSIBLE)
def test_an_impossible_offset_in_evaluated_at_is_a_400(ckpt, pipeline, when):
    client = bearer(pipeline)
    single = client.post(
        "/api/v1/results/", json.dumps(result(evaluated_at=when)), content_type=JSON
    )
    bulk = client.post(
        "/api/v1/results/bulk/",
        json.dumps({"results": [result(), result(evaluated_at=when)]}),
        content_type=JSON,
    )
    assert single.status_code == 400, single.content
    assert "evaluated_at" in single.json()["errors"]
    assert bulk.status_code == 400, bulk.content
    assert "results[1].evaluated_at" in bulk.json()["errors"]
    assert EvalResult.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("when", IMPOSSIBLE)
def test_an_impossible_offset_in_a_query_is_a_400_naming_the_parameter(ckpt, auditor, when):
    client = bearer(auditor)
    audit = client.get("/api/v1/audit/", {"until": when})
    gate = client.get("/api/v1/models/atlas/gate/", {"as_of": when})
    assert audit.status_code == 400, audit.content
    assert "until" in json.dumps(audit.json())
    assert gate.status_code == 400, gate.content
    assert "as_of" in json.dumps(gate.json())


@pytest.mark.django_db
@pytest.mark.parametrize("when", IMPOSSIBLE)
def test_the_pages_show_an_impossible_offset_as_a_form_error(ckpt, auditor, when):
    client = client_for(auditor)
    timeline = client.get("/audit/", {"until": when})
    as_of = client.get("/models/atlas/gate/as-of/", {"as_of": when, "scope": "scaling"})
    assert timeline.status_code == 200
    assert b"-14:00 and +14:00" in timeline.content
    assert as_of.status_code in (200, 400)
    assert b"-14:00 and +14:00" in as_of.content
