"""Issue 25: external reviewers, results from outside bodies, reminders, the report guard.

The Risk Report journey on RSP v3.4: drafted from the record, signed by the CEO and the RSO,
an external reviewer granted access for a week (the LTBT approves the reviewer, as the pack
says), who reads it and leaves an advisory review; the access ends by itself after the week;
the public edition withholds one section. Every write is audited and the exported trail
verifies offline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accountability import commitments, reports, reviews
from accountability.models import CommitmentReminder, GrantStatus, Report, Review, ReviewerGrant
from audit.models import AuditEntry
from audit.verification import export_bundle
from audit.verify_bundle import main as verify_main
from core.models import Role
from core.services import create_user
from evaluations.models import AIModel, EvalResult
from governance.models import Notification
from policies import services as policy_services
from policies.packs import load_pack_file
from rsp_portal.errors import ServiceError
from tests.audit_support import audit_keys, verify_trail  # noqa: F401  (fixture)
from tests.conftest import bearer, client_for, guards_enforced, set_email
from tests.governance_fixtures import make_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]
JSON = "application/json"
SECTIONS = [
    {"heading": "Summary", "body": "Risk is **moderate**; ASL-3 safeguards hold."},
    {"heading": "Threat intelligence", "body": "Sensitive: named actors and uplift paths."},
]


def v34() -> Any:
    return policy_services.load_pack(
        load_pack_file("anthropic-rsp-v3-4"), actor=None, activate=True
    )


@pytest.fixture
def ltbt(db: None) -> Any:
    return create_user("ltbt", Role.LEADERSHIP, titles=["LTBT"], password="ltbt-password-123")


@pytest.fixture
def reviewer(db: None) -> Any:
    return create_user(
        "aisi", Role.REVIEWER, password="aisi-password-123", email="reviewer@aisi.example"
    )


def signed_risk_report(safety: Any, rso: Any, ceo: Any) -> Report:
    report = reports.create_report("risk_report", None, "Risk Report Q3", SECTIONS, safety)
    for signer in (ceo, rso):
        reports.sign_report(report, "approve", report.snapshot_sha256, "", signer)
    report.refresh_from_db()
    assert report.status == "signed"
    return report


def post(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type=JSON)


# --- The Risk Report journey over the API -----------------------------------------------------


@pytest.mark.usefixtures("audit_keys")
def test_the_risk_report_journey_with_an_external_reviewer(
    safety, rso, ceo, ltbt, reviewer, auditor, tmp_path, capsys, settings
):
    version = v34()
    make_model("atlas")
    report = signed_risk_report(safety, rso, ceo)
    other = reports.create_report("risk_report", None, "Another draft", SECTIONS, safety)
    access = next(i for i in commitments.due_items(version) if i.code == "external_review_access")
    assert access.status(timezone.now()) == "open"  # within one week of the signature

    # CEO grants the reviewer a week; the pack makes the LTBT approve the reviewer first.
    granted = post(
        bearer(ceo),
        "/api/v1/reviewer-grants/",
        {"reviewer": "aisi", "organisation": "AI Security Institute", "report": report.pk,
         "days": 7},
    )  # fmt: skip
    assert granted.status_code == 201, granted.content
    grant = granted.json()
    assert (grant["status"], grant["approval_title"], grant["in_force"]) == (
        "pending",
        "LTBT",
        False,
    )
    as_reviewer = bearer(reviewer)
    assert as_reviewer.get(f"/api/v1/reports/{report.pk}/").status_code == 404
    # The RSO holds another title: only the LTBT approves reviewers.
    refused = post(bearer(rso), f"/api/v1/reviewer-grants/{grant['id']}/approve/", {})
    assert refused.status_code == 409 and "LTBT" in json.dumps(refused.json())
    approved = post(bearer(ltbt), f"/api/v1/reviewer-grants/{grant['id']}/approve/", {})
    assert approved.status_code == 200, approved.content
    assert approved.json()["in_force"] is True
    # Granting access kept the commitment "reviewers get access within a week".
    access = next(i for i in commitments.due_items(version) if i.code == "external_review_access")
    assert access.status(timezone.now()) == "fulfilled"

    # The reviewer reads the granted report, and nothing else.
    listing = as_reviewer.get("/api/v1/reports/").json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert [r["id"] for r in rows] == [report.pk]
    assert as_reviewer.get(f"/api/v1/reports/{other.pk}/").status_code == 404
    body = as_reviewer.get(f"/api/v1/reports/{report.pk}/").json()
    assert body["snapshot_sha256"] == report.snapshot_sha256
    for path in ("/api/v1/models/", "/api/v1/results/", "/api/v1/decisions/",
                 "/api/v1/commitments/", "/api/v1/audit/", "/api/v1/policy/"):  # fmt: skip
        assert as_reviewer.get(path).status_code == 403, path

    # The review: advisory, in the report (API and page).
    reviewed = post(
        as_reviewer,
        f"/api/v1/reports/{report.pk}/reviews/",
        {"body": "The *threat model* omits insider risk.",
         "snapshot_sha256": report.snapshot_sha256},
    )  # fmt: skip
    assert reviewed.status_code == 201, reviewed.content
    assert reviewed.json()["advisory"] is True
    shown = bearer(auditor).get(f"/api/v1/reports/{report.pk}/").json()["reviews"]
    assert [(r["organisation"], r["advisory"]) for r in shown] == [("AI Security Institute", True)]
    page = client_for(rso).get(f"/reports/{report.pk}/").content.decode()
    assert "External reviews" in page and "<em>threat model</em>" in page and "advisory" in page
    printed = client_for(rso).get(f"/reports/{report.pk}/print/").content.decode()
    assert "External reviews (advisory)" in printed and "insider risk" in printed

    # A week later the access has ended by itself: no job ran.
    later = timezone.now() + timedelta(days=7, minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert as_reviewer.get(f"/api/v1/reports/{report.pk}/").status_code == 404
        again = post(
            as_reviewer,
            f"/api/v1/reports/{report.pk}/reviews/",
            {"body": "more", "snapshot_sha256": report.snapshot_sha256},
        )
        assert again.status_code == 404
        assert reviews.grants_in_force(reviewer) == []

    # The public edition withholds one section, and says so.
    published = post(
        bearer(ceo),
        f"/api/v1/reports/{report.pk}/publish/",
        {"redactions": [{"section": 1, "reason": "infohazard: named threat actors"}]},
    )
    assert published.status_code == 200, published.content
    public = published.json()["public_sections"]
    assert public[1] == {
        "heading": "Threat intelligence",
        "body": "",
        "redacted": True,
        "reason": "infohazard: named threat actors",
    }
    transparency = client_for(auditor).get("/api/v1/transparency/").json()
    (edition,) = transparency["reports"]
    assert len(edition["redactions"]) == 1

    # Every write is in the trail, which verifies offline.
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "report.create", "report.sign", "report.signed", "review.grant", "review.approve",
        "review.start", "commitment.fulfil", "review.record", "report.publish",
    } <= actions  # fmt: skip
    verify_trail()
    bundle = tmp_path / "bundle"
    export_bundle(str(bundle))
    key = Path(settings.AUDIT_PUBLIC_KEY_FILE)
    assert verify_main([str(bundle), "--public-key", str(key)]) == 0
    assert capsys.readouterr().out.startswith("OK:")


def test_without_an_approving_title_a_grant_starts_at_once_and_can_end_early(
    safety, rso, ceo, reviewer
):
    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-0"), actor=None, activate=True)
    report = signed_risk_report(safety, rso, ceo)
    grant = reviews.grant_access(
        reviewer, report=report, organisation="Outside auditors", days=7, actor=ceo
    )
    assert grant.status == GrantStatus.ACTIVE and grant.approval_title == ""
    assert reviews.grant_for(reviewer, report) == grant
    reviews.end_grant(grant, rso)
    assert reviews.grant_for(reviewer, report) is None


def test_a_grant_forged_in_sql_confers_nothing(safety, rso, ceo, reviewer):
    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-0"), actor=None, activate=True)
    report = signed_risk_report(safety, rso, ceo)
    now = timezone.now()
    ReviewerGrant.objects.create(
        reviewer=reviewer, organisation="forged", report=report, days=7, granted_by=ceo,
        status=GrantStatus.ACTIVE, starts_at=now, ends_at=now + timedelta(days=7),
    )  # fmt: skip
    assert reviews.grant_for(reviewer, report) is None
    assert bearer(reviewer).get(f"/api/v1/reports/{report.pk}/").status_code == 404
    # A real grant whose period is stretched in SQL stops counting too.
    grant = reviews.grant_access(reviewer, report=report, organisation="x", days=1, actor=ceo)
    ReviewerGrant.objects.filter(pk=grant.pk).update(ends_at=now + timedelta(days=300))
    assert reviews.grant_for(reviewer, report) is None


def test_verification_names_a_grant_forged_or_stretched_in_sql(safety, rso, ceo, reviewer):
    from audit.reconcile import reconcile
    from audit.verify_bundle import VerificationError

    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-0"), actor=None, activate=True)
    report = signed_risk_report(safety, rso, ceo)
    grant = reviews.grant_access(reviewer, report=report, organisation="x", days=7, actor=ceo)
    assert reviews.first_unbacked_grant() is None
    ReviewerGrant.objects.filter(pk=grant.pk).update(ends_at=grant.ends_at + timedelta(days=300))
    fault = reviews.first_unbacked_grant()
    assert fault is not None and f"#{grant.pk}" in fault
    with pytest.raises(VerificationError, match="reviewergrant"):
        reconcile()


def test_grants_refuse_bad_input_naming_the_field(safety, rso, ceo, reviewer, auditor):
    v34()
    report = signed_risk_report(safety, rso, ceo)
    with pytest.raises(ServiceError) as caught:
        reviews.grant_access(auditor, report=report, organisation="x", days=7, actor=ceo)
    assert "reviewer" in caught.value.message_dict
    with pytest.raises(ServiceError) as caught:
        reviews.grant_access(reviewer, report=report, organisation="x", days=0, actor=ceo)
    assert "days" in caught.value.message_dict
    answer = post(
        bearer(ceo),
        "/api/v1/reviewer-grants/",
        {"reviewer": "aisi", "organisation": "", "model": "nope", "days": 7},
    )
    assert answer.status_code == 400
    assert post(bearer(safety), "/api/v1/reviewer-grants/", {}).status_code == 403
    assert Client().get("/api/v1/reviewer-grants/").status_code in (401, 403)
    assert client_for(safety).get("/reviews/").status_code == 200  # reads, cannot grant
    assert client_for(safety).post("/reviews/", {"reviewer": "aisi"}).status_code == 403
    review = {"body": "x", "snapshot_sha256": report.snapshot_sha256}
    assert post(bearer(ceo), f"/api/v1/reports/{report.pk}/reviews/", review).status_code == 403
    assert (
        post(bearer(reviewer), f"/api/v1/reports/{report.pk}/reviews/", review).status_code == 404
    )  # no grant: the report is not there for them


def test_a_model_grant_covers_the_models_reports_and_reviews_reach_the_dossier(
    safety, rso, ceo, ltbt, reviewer
):
    v34()
    model = make_model("atlas")
    kinds = reports.report_kinds(reports.active_version())
    assert kinds["risk_report"]["external_review"]["approved_by"] == "LTBT"
    report = reports.create_report("risk_report", model, "Atlas risk", SECTIONS, safety)
    for signer in (ceo, rso):
        reports.sign_report(report, "approve", report.snapshot_sha256, "", signer)
    grant = reviews.grant_access(reviewer, model=model, organisation="AISI", days=7, actor=ceo)
    reviews.approve_grant(grant, ltbt)
    reviews.record_review(report, "Looks sound.", report.snapshot_sha256, reviewer)
    relied = reports.decision_reports((model, "scaling"))["relied_on"]
    assert relied[0]["reviews"][0]["organisation"] == "AISI"
    assert relied[0]["reviews"][0]["advisory"] is True
    with pytest.raises(ServiceError):
        reviews.record_review(report, "again", "0" * 64, reviewer)
    assert Review.objects.count() == 1


# --- A reviewer reaches nothing else ---------------------------------------------------------


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((prefix + str(entry.pattern), entry.name))
    return found


def _concrete(route: str, values: dict[str, str]) -> str:
    import re

    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    return "/" + path.lstrip("^").rstrip("$").replace("\\Z", "")


def test_a_reviewer_reaches_only_the_granted_report_walking_every_route(safety, rso, ceo, reviewer):
    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-0"), actor=None, activate=True)
    model = make_model("atlas")
    report = signed_risk_report(safety, rso, ceo)
    other = reports.create_report("risk_report", model, "not granted", SECTIONS, safety)
    reviews.grant_access(reviewer, report=report, organisation="AISI", days=7, actor=ceo)
    values = {
        "pk": str(other.pk), "slug": "atlas", "key_id": "x", "verb": "approve",
        "name": "ckpt-1", "requirement_code": "ASL-3-S",
    }  # fmt: skip
    page, api = client_for(reviewer), bearer(reviewer)
    # What a reviewer may reach: their grants, their tokens and settings, the granted report
    # (the walk asks for another one: 404), the report list and grant list filtered to theirs.
    allowed_pages = {"reviewer-home", "account", "tokens", "logout", "report-detail",
                     "report-print", "api-reports", "api-reviewer-grants",
                     "password_reset_confirm"}  # fmt: skip
    reached = []
    for route, name in _routes(get_resolver()):
        if "(?P" in route or "static" in route or "media" in route:
            continue
        path = _concrete(route, values)
        client = api if path.startswith("/api/") else page
        status = client.get(path).status_code
        if status < 300 or (status in (301, 302) and name not in ("logout", "dashboard")):
            reached.append((path, name, status))
    public = {"transparency", "transparency-verify", "noncompliance-report",
              "noncompliance-status", "api-transparency", "api-noncompliance-status",
              "healthz", "login", "password_reset_complete", "api-schema", "api-docs",
              "api-me", "reviewer-home", "tokens", "public-key", "api-noncompliance"}  # fmt: skip
    leaked = [
        (path, name, status)
        for path, name, status in reached
        if name not in public and name not in allowed_pages
    ]
    assert leaked == [], leaked
    # The other report exists but is not granted: 404 on the page and the API.
    assert page.get(f"/reports/{other.pk}/").status_code == 404
    assert api.get(f"/api/v1/reports/{other.pk}/").status_code == 404
    assert page.get(f"/reports/{report.pk}/").status_code == 200
    assert page.get("/").status_code == 302  # the dashboard sends a reviewer to their grants
    assert page.get("/models/").status_code == 403
    assert page.get("/reports/").status_code == 403
    rows = api.get("/api/v1/reports/").json()
    assert [r["id"] for r in (rows["results"] if isinstance(rows, dict) else rows)] == [report.pk]
    grants = api.get("/api/v1/reviewer-grants/").json()
    grants = grants["results"] if isinstance(grants, dict) else grants
    assert {g["reviewer"] for g in grants} == {"aisi"}


# --- Results from outside bodies ---------------------------------------------------------------


def test_a_result_from_an_outside_body_names_it_over_the_api_and_in_the_browser(safety):
    v34()
    make_model("atlas")
    metric = reports.active_version().metrics.order_by("key").first().key  # type: ignore[union-attr]
    item = {"model": "atlas", "checkpoint": "ckpt-1", "metric": metric, "value": 0.1,
            "external_body": "UK AI Security Institute (pre-deployment tests)"}  # fmt: skip
    answer = post(bearer(safety), "/api/v1/results/", item)
    assert answer.status_code == 201, answer.content
    assert (answer.json()["source"], answer.json()["external_body"]) == (
        "external",
        "UK AI Security Institute (pre-deployment tests)",
    )
    listed = bearer(safety).get("/api/v1/results/?model=atlas").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows[0]["source"] == "external"
    entry = AuditEntry.objects.filter(action="result.create").latest("seq")
    assert entry.parsed["data"]["external_body"].startswith("UK AI Security")
    too_long = post(bearer(safety), "/api/v1/results/", {**item, "external_body": "x" * 300})
    assert too_long.status_code == 400 and "external_body" in too_long.json()["errors"]
    form = client_for(safety).post(
        "/models/atlas/results/new/",
        {"checkpoint": "ckpt-1", "metric": metric, "value": "0.2", "mitigation": "pre",
         "external_body": "US CAISI"},
    )  # fmt: skip
    assert form.status_code == 302, form.content.decode()[:3000]
    assert EvalResult.objects.filter(source="external", external_body="US CAISI").exists()
    page = client_for(safety).get("/models/atlas/").content.decode()
    assert "external: US CAISI" in page
    own = post(bearer(safety), "/api/v1/results/", {**item, "external_body": ""})
    assert own.json()["source"] == "api"


def test_the_database_refuses_an_external_result_without_its_body(safety):
    v34()
    model = make_model("atlas")
    checkpoint = model.checkpoints.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        EvalResult.objects.create(
            model=model, checkpoint=checkpoint, metric_key="m", value=1.0, source="external"
        )


# --- Reminders ------------------------------------------------------------------------------


def test_a_reminder_goes_out_before_a_deadline_once(safety, rso, ceo, settings):
    settings.COMMITMENT_REMINDER_DAYS = 3
    set_email(safety, "safety@lab.example")
    v34()
    signed_risk_report(safety, rso, ceo)  # external_review_access: due in 7 days
    assert commitments.send_reminders() == 0  # 7 days ahead: not yet
    soon = timezone.now() + timedelta(days=5)
    assert commitments.send_reminders(now=soon) == 1
    assert commitments.send_reminders(now=soon) == 0  # a retried beat tick sends nothing again
    (reminder,) = CommitmentReminder.objects.all()
    assert reminder.code == "external_review_access"
    (notified,) = Notification.objects.filter(event="commitment.reminder")
    assert notified.recipients == ["safety@lab.example"]
    assert notified.message is not None  # the outbox delivers it through the transports
    assert AuditEntry.objects.filter(action="commitment.remind").count() == 1


def test_reminders_are_a_beat_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["accountability-remind-commitments"]
    assert entry["task"] == "accountability.remind_commitments"


# --- The database guards a report's frozen content ------------------------------------------


def _sql(statement: str, params: list[Any]) -> None:
    with guards_enforced(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_the_database_keeps_a_reports_content_frozen(safety, rso, ceo):
    v34()
    report = signed_risk_report(safety, rso, ceo)
    for statement in (
        "UPDATE accountability_report SET snapshot_sha256 = 'x' WHERE id = %s",
        "UPDATE accountability_report SET title = 'rewritten' WHERE id = %s",
        "UPDATE accountability_report SET status = 'draft' WHERE id = %s",
        "UPDATE accountability_report SET signed_at = created_at WHERE id = %s",
        "UPDATE accountability_report SET public_sections = '[1]' WHERE id = %s",
        "DELETE FROM accountability_report WHERE id = %s",
    ):
        with pytest.raises(DatabaseError):
            _sql(statement, [report.pk])
    draft = reports.create_report("risk_report", None, "draft", SECTIONS, safety)
    with pytest.raises(DatabaseError):
        _sql("UPDATE accountability_report SET sections = '[]' WHERE id = %s", [draft.pk])
    with pytest.raises(DatabaseError):
        _sql("UPDATE accountability_reportsignature SET verdict = 'reject'", [])
    # The service's own moves still go through: publishing writes the edition once.
    reports.publish_report(report, [{"section": 1, "reason": "infohazard"}], ceo)
    with pytest.raises(DatabaseError):
        _sql("UPDATE accountability_report SET status = 'signed' WHERE id = %s", [report.pk])


# --- Query counts do not grow with the number of reports and commitments --------------------


def test_report_and_commitment_lists_cost_the_same_for_more_rows(safety, rso, ceo, reviewer):
    # RSP v3.0: grants start at once (no LTBT approval), so the reviewer reads each report.
    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-0"), actor=None, activate=True)
    make_model("atlas")

    def add(n: int) -> None:
        for _ in range(n):
            report = signed_risk_report(safety, rso, ceo)
            reviews.grant_access(reviewer, report=report, organisation="x", days=7, actor=ceo)

    def cost(path: str) -> int:
        from django.db import connection as conn
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(conn) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    client = bearer(ceo)
    add(2)
    small = {p: cost(p) for p in ("/api/v1/reports/", "/api/v1/commitments/",
                                  "/api/v1/reviewer-grants/")}  # fmt: skip
    client = client_for(ceo)
    small["/reviews/"] = cost("/reviews/")
    client = bearer(ceo)
    add(4)
    for path in ("/api/v1/reports/", "/api/v1/commitments/", "/api/v1/reviewer-grants/"):
        assert cost(path) == small[path], path
    client = client_for(ceo)
    assert cost("/reviews/") == small["/reviews/"]
    # A reviewer's list: the grants (2 queries with their trail) and the reports.
    client = bearer(reviewer)
    cost("/api/v1/reports/")  # the token's first use is written down once
    reviewer_small = cost("/api/v1/reports/")
    add(2)
    assert cost("/api/v1/reports/") == reviewer_small
    listed = client.get("/api/v1/reports/").json()
    assert len(listed["results"] if isinstance(listed, dict) else listed) == 8
    assert AIModel.objects.count() == 1
