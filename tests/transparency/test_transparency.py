"""Issue 26: a public view anyone can check, noncompliance reports, incidents.

Anonymous clients see the policy history, the signed log head and the redacted gate history of
a model marked public, and nothing of a private one; anyone files a noncompliance report and
follows it by its receipt; only recipients see and close it; the public count changes. An
outsider's offline check: bundle + pinned key + the published head → OK; one edited entry → FAIL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from audit.checkpoints import make_checkpoint
from audit.models import AuditEntry
from audit.verification import export_bundle
from audit.verify_bundle import main as verify_main
from governance.models import Pause
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer, client_for
from tests.governance_fixtures import activate_default_policy, add_result, make_model
from transparency import services
from transparency.models import Incident, NoncomplianceReport

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys", "verified_trail")]
JSON = "application/json"


@pytest.fixture
def world(rso, safety):
    activate_default_policy()
    public = make_model("atlas")
    private = make_model("secretmodel")
    add_result(public, "cbrn.vct_accuracy", 0.9)
    add_result(private, "cbrn.vct_accuracy", 0.9)
    services.set_publicity(public, True, False, "published model", rso)
    return public, private


@pytest.mark.usefixtures("audit_keys")
def test_the_public_view_needs_no_login_and_shows_only_public_models(world):
    make_checkpoint()
    page = Client().get("/transparency/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Atlas" in text and "secretmodel" not in text.lower()
    assert "signed log head" in text.lower() and "Merkle root" in text
    api = Client().get("/api/v1/transparency/")
    assert api.status_code == 200, api.content
    body = api.json()
    assert "secretmodel" not in json.dumps(body)
    assert [m["slug"] for m in body["models"]] == ["atlas"]
    history = body["models"][0]["gate_history"]
    assert history and all(len(h["audit_hash"]) == 64 for h in history)
    assert "determinations" not in history[-1]  # values are not public for this model
    hashes = set(AuditEntry.objects.values_list("leaf_hash", flat=True))
    assert {h["audit_hash"] for h in history} <= hashes
    assert body["log_head"]["size"] >= 1 and body["log_head"]["signature"].startswith("rsp-portal")
    assert body["versions"][0]["audit_hash"] in hashes
    assert body["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


def test_values_show_only_when_marked_public(world, rso):
    public, _ = world
    services.set_publicity(public, True, True, "values too", rso)
    history = Client().get("/api/v1/transparency/").json()["models"][0]["gate_history"]
    assert "determinations" in history[-1]


def test_an_anonymous_report_is_followed_by_its_receipt_and_closed_by_a_recipient(
    world, rso, ceo, safety
):
    secret = "the red team skipped the uplift trial on model X"
    filed = Client().post(
        "/api/v1/noncompliance/",
        json.dumps({"summary": "Skipped evaluation", "details": secret}),
        content_type=JSON,
    )
    assert filed.status_code == 201, filed.content
    receipt = filed.json()["receipt"]
    report = NoncomplianceReport.objects.get()
    assert report.reporter is None
    assert receipt not in json.dumps(list(NoncomplianceReport.objects.values()), default=str)
    status = Client().get("/api/v1/noncompliance/status/", {"receipt": receipt})
    assert status.json()["status"] == "received"
    assert Client().get("/api/v1/noncompliance/status/", {"receipt": "nc_wrong"}).status_code == 404
    assert Client().get("/api/v1/transparency/").json()["noncompliance"]["received"] == 1
    # Only recipients see it.
    assert bearer(safety).get("/api/v1/noncompliance/").status_code == 403
    assert Client().get("/api/v1/noncompliance/").status_code in (401, 403)
    assert client_for(safety).get(f"/noncompliance/{report.pk}/").status_code == 403
    listed = bearer(rso).get("/api/v1/noncompliance/").json()["results"]
    assert listed[0]["details"] == secret and listed[0]["reporter"] is None
    page = client_for(rso).post(f"/noncompliance/{report.pk}/", {"status": "closed", "finding": ""})
    assert page.status_code == 200  # closing needs a finding
    page = client_for(rso).post(
        f"/noncompliance/{report.pk}/", {"status": "closed", "finding": "trial run; recorded"}
    )
    assert page.status_code == 302
    assert (
        Client().get("/api/v1/noncompliance/status/", {"receipt": receipt}).json()["status"]
        == "closed"
    )
    counts = Client().get("/api/v1/transparency/").json()["noncompliance"]
    assert counts == {"received": 0, "investigating": 0, "closed": 1}
    assert secret not in Client().get("/transparency/").content.decode()
    assert AuditEntry.objects.filter(action="noncompliance.status").count() == 1


def test_the_public_form_gives_a_receipt_and_never_shows_the_text(world):
    answer = Client().post("/transparency/report/", {"summary": "s", "details": "private words"})
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "nc_" in text and "private words" not in text


def test_bad_reports_are_a_400_naming_the_field(db):
    answer = Client().post("/api/v1/noncompliance/", json.dumps({"summary": ""}), content_type=JSON)
    assert answer.status_code == 400
    assert {"summary", "details"} <= set(answer.json()["errors"])
    long = Client().post(
        "/api/v1/noncompliance/",
        json.dumps({"summary": "x", "details": "y" * 30_000}),
        content_type=JSON,
    )
    assert long.status_code == 400 and "details" in long.json()["errors"]


def test_filing_is_rate_limited(db, settings):
    settings.NONCOMPLIANCE_RATE = "2/hour"
    from django.core.cache import cache

    cache.clear()
    body = json.dumps({"summary": "s", "details": "d"})
    codes = [
        Client().post("/api/v1/noncompliance/", body, content_type=JSON).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]


def test_an_incident_with_a_pause_pauses_the_model_and_is_public_only_when_marked(
    world, safety, rso
):
    public, private = world
    incident = services.open_incident(
        private,
        "Weights exfiltration attempt",
        "Blocked at egress.",
        ["pause", "access_restricted"],
        safety,
    )
    assert Pause.objects.filter(model=private).exists() and incident.pause is not None
    assert "Weights exfiltration" not in json.dumps(Client().get("/api/v1/transparency/").json())
    services.set_incident_public(incident, True, rso)  # a private model's incident stays hidden
    assert Client().get("/api/v1/transparency/").json()["incidents"] == []
    other = services.open_incident(public, "Jailbreak in the wild", "Patched.", ["other"], safety)
    services.set_incident_public(other, True, rso)
    services.close_incident(other, "classifier retrained", safety)
    (shown,) = Client().get("/api/v1/transparency/").json()["incidents"]
    assert shown["title"] == "Jailbreak in the wild" and shown["closure"] == "classifier retrained"
    assert client_for(safety).get(f"/incidents/{incident.pk}/").status_code == 200
    assert Incident.objects.count() == 2


@pytest.mark.usefixtures("world")
def test_publicity_is_a_recorded_act_for_leadership_only(safety, rso):
    assert client_for(safety).get("/transparency/publicity/").status_code == 403
    answer = client_for(rso).post(
        "/transparency/publicity/", {"model": "atlas", "reason": "withdrawn"}
    )
    assert answer.status_code == 302
    assert Client().get("/api/v1/transparency/").json()["models"] == []
    assert AuditEntry.objects.filter(action="model.publicity").count() == 2


@pytest.mark.usefixtures("audit_keys", "world")
def test_an_outsiders_offline_check(tmp_path, capsys, settings):
    make_checkpoint()
    head = tmp_path / "transparency.json"
    head.write_text(json.dumps(Client().get("/api/v1/transparency/").json()))
    bundle = tmp_path / "bundle"
    export_bundle(str(bundle))
    key = Path(settings.AUDIT_PUBLIC_KEY_FILE)

    assert verify_main([str(bundle), "--public-key", str(key), "--published-head", str(head)]) == 0
    assert capsys.readouterr().out.startswith("OK:")

    entries = bundle / "entries.jsonl"
    lines = entries.read_text().splitlines()
    lines[1] = (
        lines[1].replace("atlas", "atlaz", 1)
        if "atlas" in lines[1]
        else lines[1].replace('"', "'", 1)
    )
    entries.write_text("\n".join(lines) + "\n")
    assert verify_main([str(bundle), "--public-key", str(key), "--published-head", str(head)]) == 1
    assert capsys.readouterr().out.startswith("FAIL:")
