"""The audit API: read-only, for auditors and admins (token scope audit:read); the key for all."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from audit import verify_bundle as vb
from audit.checkpoints import make_checkpoint
from audit.models import VerificationRun
from audit.verification import run_verification
from tests.audit_support import append, audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer, client_for

pytestmark = pytest.mark.django_db

AUDITOR_ROUTES = ["/api/v1/audit/", "/api/v1/audit/export/", "/api/v1/audit/verify/"]


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("url", [*AUDITOR_ROUTES, "/api/v1/audit/key/"])
def test_anonymous_callers_get_401(url):
    assert Client().get(url).status_code == 401


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("url", AUDITOR_ROUTES)
@pytest.mark.parametrize("role", ["safety", "rso", "ceo", "pipeline", "outsider"])
def test_other_roles_cannot_read_the_trail(url, role, request):
    user = request.getfixturevalue(role)
    response = client_for(user).get(url)
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("url", AUDITOR_ROUTES)
@pytest.mark.parametrize("role", ["auditor", "admin_user"])
def test_auditors_and_admins_read_the_trail(url, role, request):
    user = request.getfixturevalue(role)
    run_verification("test")
    assert client_for(user).get(url).status_code == 200
    assert bearer(user, ["audit:read"]).get(url).status_code == 200


def test_a_token_without_the_audit_scope_is_refused(auditor):
    response = bearer(auditor, ["read"]).get("/api/v1/audit/")
    assert response.status_code == 403
    assert "audit:read" in response.json()["detail"]


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", [*AUDITOR_ROUTES, "/api/v1/audit/key/"])
def test_nobody_can_change_the_trail(url, method, admin_user):
    if url.endswith("/verify/") and method == "post":
        pytest.skip("POST runs a verification, which changes nothing in the trail")
    response = getattr(client_for(admin_user), method)(url, {}, content_type="application/json")
    assert response.status_code in (403, 405)


def test_list_items_carry_the_hashed_fields(auditor):
    append(2, actor=auditor)
    items = client_for(auditor).get("/api/v1/audit/?action=test.event").json()["results"]
    first = items[0]
    assert list(first) == ["seq", "ts", "actor", "action", "object", "data", "leaf_hash", "prev"]
    assert first["object"] == {"type": "test.thing", "id": "0"}
    assert first["data"] == {"i": 0, "model": "frontier-1"}
    assert first["actor"]["username"] == "auditor"
    assert first["ts"].endswith("Z")
    assert items[1]["prev"] == first["leaf_hash"]


def test_list_filters(auditor, admin_user):
    append(6, actor=admin_user)
    client = client_for(auditor)

    def seqs(query: str) -> list[int]:
        response = client.get(f"/api/v1/audit/?{query}")
        assert response.status_code == 200, response.content
        return [item["seq"] for item in response.json()["results"]]

    base = seqs("action=test.event")[0]
    assert seqs("model=frontier-1") == [base, base + 2, base + 4]
    assert seqs("object_type=test.thing&object_id=3") == [base + 3]
    assert seqs("actor=admin_user&action=test.event") == list(range(base, base + 6))
    assert seqs("actor=nobody") == []
    assert len(seqs("since=2000-01-01T00:00:00Z&until=2999-01-01")) == base + 6
    assert seqs("until=2000-01-01") == []


def test_a_bad_filter_is_a_400_with_errors(auditor):
    response = client_for(auditor).get("/api/v1/audit/?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_the_list_is_cursor_paginated_by_seq(auditor):
    append(12)
    client = client_for(auditor)
    page = client.get("/api/v1/audit/?page_size=5&action=test.event").json()
    seen = [item["seq"] for item in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [item["seq"] for item in page["results"]]
    assert seen == sorted(seen) and len(seen) == 12


def test_list_query_budget(auditor, django_assert_num_queries):
    append(60)
    client = client_for(auditor)
    client.get("/api/v1/audit/")  # warm the session
    # Expect 3 queries: session, user (the role is a column), one page of entries.
    with django_assert_num_queries(3):
        response = client.get("/api/v1/audit/?page_size=50")
    assert len(response.json()["results"]) == 50


@pytest.mark.usefixtures("audit_keys")
def test_export_streams_a_zip_that_verifies(auditor, tmp_path):
    append(5)
    make_checkpoint()
    response = client_for(auditor).get("/api/v1/audit/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path)
    folder = tmp_path / names[0].split("/")[0]
    assert {Path(n).name for n in names} >= {"entries.jsonl", "verify_bundle.py", "VERIFY.md"}
    pinned = vb.public_key_from_pem(Path(settings.AUDIT_PUBLIC_KEY_FILE).read_bytes())
    report = vb.verify_bundle(folder, public_key=pinned)
    assert (report.entries, report.checkpoints) == (6, 1)  # 5 + creating the auditor


@pytest.mark.usefixtures("audit_keys")
def test_verify_reports_and_records_the_outcome(auditor):
    append(4)
    make_checkpoint()
    response = client_for(auditor).post("/api/v1/audit/verify/")
    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert (body["entries"], body["checkpoints"], body["first_bad_seq"]) == (5, 1, None)
    assert body["message"] == "OK: 5 entries, 1 checkpoints"
    assert "checked_at" in body
    assert VerificationRun.objects.get().triggered_by == "auditor"


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("role", ["pipeline", "safety", "rso", "auditor"])
def test_the_public_key_is_published_to_every_role(role, request):
    user = request.getfixturevalue(role)
    body = bearer(user, ["read"]).get("/api/v1/audit/key/").json()
    pem = Path(settings.AUDIT_PUBLIC_KEY_FILE).read_text()
    key = vb.public_key_from_pem(pem)
    assert body == {
        "origin": settings.AUDIT_ORIGIN,
        "key_id": vb.key_id(settings.AUDIT_ORIGIN, key).hex(),
        "verifier_key": vb.verifier_key(settings.AUDIT_ORIGIN, key),
        "public_key_pem": pem,
    }


@pytest.mark.usefixtures("audit_keys")
def test_the_key_is_not_for_accounts_without_a_role(outsider):
    assert client_for(outsider).get("/api/v1/audit/key/").status_code == 403


def test_no_key_configured_is_a_404(auditor, settings, tmp_path):
    settings.AUDIT_PUBLIC_KEY_FILE = tmp_path / "none.pem"
    response = client_for(auditor).get("/api/v1/audit/key/")
    assert response.status_code == 404


def test_the_schema_documents_the_audit_routes(auditor):
    response = client_for(auditor).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for route in ("/api/v1/audit/", "/api/v1/audit/export/", "/api/v1/audit/verify/"):
        assert route in paths
    assert "/api/v1/audit/key/" in paths


@pytest.mark.usefixtures("audit_keys")
def test_reading_the_verification_changes_nothing(auditor):
    append(3)
    run_verification("worker")
    before = VerificationRun.objects.count()
    client = client_for(auditor)
    for _ in range(3):
        body = client.get("/api/v1/audit/verify/").json()
        assert body["ok"] is True
        assert body["entries"] == 4
    assert VerificationRun.objects.count() == before


def test_reading_before_any_verification_is_a_404(auditor):
    assert client_for(auditor).get("/api/v1/audit/verify/").status_code == 404


@pytest.mark.usefixtures("audit_keys")
def test_full_verification_on_demand_is_throttled(auditor, settings):
    from django.core.cache import cache

    cache.clear()
    settings.AUDIT_VERIFY_RATE = "2/hour"
    client = client_for(auditor)
    assert client.post("/api/v1/audit/verify/").status_code == 201
    assert client.post("/api/v1/audit/verify/").status_code == 201
    response = client.post("/api/v1/audit/verify/")
    assert response.status_code == 429
    assert VerificationRun.objects.count() == 2
    cache.clear()
