"""Issue 25: reports, commitments and the late-evaluation register, as records.

The journey on the default pack (RSP v2.2's Capability and Safeguards Reports, and the Board
and LTBT commitment): a crossing, both reports drafted from the record and signed by RSO and
CEO, the commitment kept, the decision relying on them, approved. Every write is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accountability import commitments, late, reports
from accountability.markdown import render
from accountability.models import CommitmentFulfilment, Report, ReportSignature, ReportStatus
from audit.models import AuditEntry
from evaluations.models import AIModel
from governance import services
from governance.models import GateTransition, Scope
from policies import services as policy_services
from policies.packs import load_pack_file
from rsp_portal.errors import ServiceError
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer, client_for
from tests.governance_fixtures import add_result, codes, make_model, verify_standards

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]
JSON = "application/json"
KINDS = [
    {
        "code": "capability_report",
        "name": "Capability Report",
        "signoff_titles": ["RSO", "CEO"],
        "required_for": ["scaling"],
        "source": "RSP v2.2 §3.3",
    },
    {
        "code": "safeguards_report",
        "name": "Safeguards Report",
        "signoff_titles": ["RSO", "CEO"],
        "required_for": ["scaling"],
        "source": "RSP v2.2 §4.3",
    },
]
BOARD = {
    "code": "board_ltbt",
    "text": "Board and LTBT receive the Capability Report before proceeding",
    "trigger": "report_signed",
    "report_kind": "capability_report",
    "deadline_days": 0,
    "gating": True,
    "source": "RSP v2.2 §3.3",
}
SECTIONS = [
    {"heading": "Summary", "body": "CBRN-3 **crossed** on the VCT indicator."},
    {"heading": "Red-team details", "body": "Sensitive: <script>alert(1)</script> uplift paths."},
]


def load_policy(commitments_: list[dict[str, Any]] | None = None) -> Any:
    pack = load_pack_file("default")
    pack["report_kinds"] = KINDS
    pack["commitments"] = [BOARD] if commitments_ is None else commitments_
    return policy_services.load_pack(pack, actor=None, activate=True)


def sign_all(report: Report, *signers: Any) -> Report:
    for signer in signers:
        reports.sign_report(report, "approve", report.snapshot_sha256, "", signer)
    report.refresh_from_db()
    return report


def test_the_journey_crossing_reports_commitment_decision_approved(safety, rso, ceo):
    load_policy()
    model = make_model("atlas")
    add_result(model, "cbrn.vct_accuracy", 0.9)  # crosses CBRN-3 (and CBRN-4)
    verify_standards(model, {"ASL-2-D", "ASL-2-S", "ASL-3-S", "ASL-4-S"}, safety)

    # A decision needs both signed reports first.
    with pytest.raises(ServiceError) as refused:
        services.request_decision(model, 2e24, "continue", safety)
    assert "Capability Report" in str(refused.value.message_dict)

    capability = reports.create_report(
        "capability_report", model, "Atlas capabilities", SECTIONS, safety
    )
    safeguards = reports.create_report(
        "safeguards_report", model, "Atlas safeguards", SECTIONS[:1], safety
    )
    assert capability.snapshot["models"][0]["gates"]["scaling"]["crossed_thresholds"]
    assert len(capability.snapshot_sha256) == 64
    sign_all(capability, rso, ceo)
    sign_all(safeguards, rso, ceo)
    assert capability.status == ReportStatus.SIGNED

    # The Board/LTBT commitment fell due when the Capability Report was signed: gating.
    gate = services.gate_for(model, Scope.SCALING)
    assert "commitment_overdue" in codes(gate)
    (item,) = commitments.due_items(capability.policy_version, model=model)
    commitments.fulfil(item.key, "https://board.example/minutes", "sent to Board and LTBT", safety)
    assert "commitment_overdue" not in codes(services.gate_for(model, Scope.SCALING))

    decision = services.request_decision(model, 2e24, "continue with ASL-3/4 security", safety)
    relied = {r["kind"]: r["id"] for r in decision.dossier["reports"]}
    assert relied == {"capability_report": capability.pk, "safeguards_report": safeguards.pk}
    services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256, "")
    services.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256, "")
    decision.refresh_from_db()
    assert decision.status == "approved"

    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"report.create", "report.sign", "report.signed", "commitment.fulfil"} <= actions


def test_the_author_cannot_sign_and_one_title_signs_once(safety, rso, ceo):
    load_policy()
    model = make_model("atlas")
    report = reports.create_report("capability_report", model, "t", SECTIONS, rso)
    assert reports.signing_title(report, rso) is None
    with pytest.raises(ServiceError):
        reports.sign_report(report, "approve", report.snapshot_sha256, "", rso)
    reports.sign_report(report, "approve", report.snapshot_sha256, "", ceo)
    with pytest.raises(ServiceError):
        reports.sign_report(report, "approve", report.snapshot_sha256, "", ceo)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportSignature.objects.create(
            report=report, signer=rso, author=rso, title="RSO", verdict="approve",
            snapshot_sha256=report.snapshot_sha256,
        )  # fmt: skip


def test_a_signature_over_another_snapshot_is_refused(safety, rso):
    load_policy()
    report = reports.create_report("capability_report", make_model("atlas"), "t", SECTIONS, safety)
    with pytest.raises(ServiceError) as caught:
        reports.sign_report(report, "approve", "0" * 64, "", rso)
    assert "snapshot_sha256" in caught.value.message_dict


def test_a_revision_is_a_new_version_and_freezes_the_record_again(safety):
    load_policy()
    model = make_model("atlas")
    first = reports.create_report("capability_report", model, "t", SECTIONS, safety)
    add_result(model, "cbrn.vct_accuracy", 0.9)
    second = reports.revise_report(first, "t2", SECTIONS[:1], safety)
    first.refresh_from_db()
    assert (first.status, second.version, second.supersedes_id) == ("superseded", 2, first.pk)
    assert second.snapshot_sha256 != first.snapshot_sha256
    with pytest.raises(ServiceError):
        reports.revise_report(first, "again", SECTIONS, safety)


def test_publishing_derives_a_public_edition_with_its_redactions(safety, rso, ceo):
    load_policy()
    report = sign_all(
        reports.create_report("capability_report", make_model("atlas"), "t", SECTIONS, safety),
        rso,
        ceo,
    )
    published = reports.publish_report(report, [{"section": 1, "reason": "infohazard"}], ceo)
    assert published.status == ReportStatus.PUBLISHED
    assert published.public_sections[0]["body"] == SECTIONS[0]["body"]
    assert published.public_sections[1] == {
        "heading": "Red-team details", "body": "", "redacted": True, "reason": "infohazard"
    }  # fmt: skip
    (redaction,) = published.redactions.all()
    assert (redaction.section, redaction.redacted_by) == (1, ceo)
    entry = AuditEntry.objects.filter(action="report.publish").get()
    assert entry.parsed["data"]["redactions"] == [{"section": 1, "reason": "infohazard"}]


def test_an_unsigned_report_cannot_be_published_and_bad_redactions_name_the_field(safety, rso, ceo):
    load_policy()
    report = reports.create_report("capability_report", make_model("atlas"), "t", SECTIONS, safety)
    with pytest.raises(ServiceError):
        reports.publish_report(report, [], ceo)
    sign_all(report, rso, ceo)
    with pytest.raises(ServiceError) as caught:
        reports.publish_report(report, [{"section": 9, "reason": "x"}], ceo)
    assert "redactions[0].section" in caught.value.message_dict


def test_markdown_is_rendered_sanitised():
    html = render(
        "**bold** <script>alert(1)</script> [x](javascript:alert(1)) [y](https://ok.example)"
    )
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "javascript:" not in html
    assert 'href="https://ok.example"' in html


def test_a_late_commitment_shows_how_late_and_a_fulfilment_is_once(safety, rso, ceo):
    version = load_policy([{**BOARD, "deadline_days": 7, "gating": False}])
    report = sign_all(
        reports.create_report("capability_report", make_model("atlas"), "t", SECTIONS, safety),
        rso,
        ceo,
    )
    later = timezone.now() + timedelta(days=10)
    (item,) = commitments.due_items(version, now=later)
    assert item.status(later) == "late" and 2.9 < item.days_late(later) < 3.1
    assert "commitment_overdue" not in codes(services.gate_for(report.model, Scope.SCALING))
    commitments.fulfil(item.key, "", "told them", safety)
    with pytest.raises(ServiceError):
        commitments.fulfil(item.key, "", "again", safety)
    assert CommitmentFulfilment.objects.count() == 1


def test_periodic_commitments_fall_due_every_period(safety):
    version = load_policy(
        [{"code": "risk_report", "text": "Risk Report", "trigger": "periodic",
          "deadline_days": 182, "gating": False, "source": "RSP v3.0 §4"}]
    )  # fmt: skip
    items = commitments.due_items(version, now=timezone.now() + timedelta(days=400))
    assert [i.subject_id for i in items] == ["1", "2", "3"]
    assert [i.status(timezone.now() + timedelta(days=400)) for i in items] == [
        "late",
        "late",
        "open",
    ]


def test_the_late_evaluation_register_reads_the_gate_history(safety):
    load_policy([])
    model = AIModel.objects.create(slug="atlas", name="Atlas")  # no transitions of its own yet
    start = timezone.now() - timedelta(days=20)
    for i, (reasons, when) in enumerate(
        [
            ([{"code": "evaluation_due_compute"}], start),
            ([], start + timedelta(days=3)),
            ([{"code": "evaluation_due_time"}], start + timedelta(days=10)),
        ]
    ):
        GateTransition.objects.create(
            model=model, scope="scaling", to_state="paused", reasons=reasons, cause=f"t{i}",
            created_at=when,
        )  # fmt: skip
    found = late.register([model])
    assert [(e.trigger, e.completed_at is None) for e in found] == [
        ("evaluation_due_time", True),
        ("evaluation_due_compute", False),
    ]
    assert found[1].days_late() == 3.0


# --- API and pages ----------------------------------------------------------------------------


def test_the_api_journey_and_roles(safety, rso, ceo, auditor, pipeline, outsider):
    load_policy()
    make_model("atlas")
    body = {"kind": "capability_report", "model": "atlas", "title": "Atlas", "sections": SECTIONS}
    assert (
        bearer(pipeline).post("/api/v1/reports/", json.dumps(body), content_type=JSON).status_code
        == 403
    )
    created = bearer(safety).post("/api/v1/reports/", json.dumps(body), content_type=JSON)
    assert created.status_code == 201, created.content
    report = created.json()
    bad = bearer(safety).post(
        "/api/v1/reports/", json.dumps({**body, "kind": "nope"}), content_type=JSON
    )
    assert bad.status_code == 400 and "kind" in bad.json()["errors"]
    sign = {"snapshot_sha256": report["snapshot_sha256"]}
    for signer in (rso, ceo):
        answer = bearer(signer).post(
            f"/api/v1/reports/{report['id']}/sign/", json.dumps(sign), content_type=JSON
        )
        assert answer.status_code == 200, answer.content
    publish = {"redactions": [{"section": 1, "reason": "infohazard"}]}
    answer = bearer(ceo).post(
        f"/api/v1/reports/{report['id']}/publish/", json.dumps(publish), content_type=JSON
    )
    assert answer.status_code == 200 and answer.json()["status"] == "published"
    assert (
        bearer(auditor).get(f"/api/v1/reports/{report['id']}/").json()["redactions"][0]["reason"]
        == "infohazard"
    )
    items = bearer(auditor).get("/api/v1/commitments/").json()
    assert [i["status"] for i in items] == ["late"]
    fulfil = bearer(safety).post(
        f"/api/v1/commitments/{items[0]['id']}/fulfil/",
        json.dumps({"evidence_url": "https://board.example/m"}),
        content_type=JSON,
    )
    assert fulfil.status_code == 201, fulfil.content
    assert fulfil.json()["status"] in ("fulfilled", "fulfilled_late")
    assert bearer(auditor).get("/api/v1/models/atlas/late-evaluations/").status_code == 200
    assert client_for(outsider).get("/api/v1/reports/").status_code in (401, 403)


def test_the_pages_write_sign_publish_and_list(safety, rso, ceo, auditor):
    load_policy()
    make_model("atlas")
    page = client_for(safety).post(
        "/reports/new/",
        {"kind": "capability_report", "model": "atlas", "title": "Atlas",
         "sections": "# Summary\nAll **fine**.\n# Details\nSecret."},
    )  # fmt: skip
    assert page.status_code == 302, page.content.decode()[:2000]
    report = Report.objects.get()
    assert [s["heading"] for s in report.sections] == ["Summary", "Details"]
    for signer in (rso, ceo):
        answer = client_for(signer).post(
            f"/reports/{report.pk}/", {"sign": "1", "snapshot_sha256": report.snapshot_sha256}
        )
        assert answer.status_code == 302, answer.content.decode()[:2000]
    answer = client_for(ceo).post(
        f"/reports/{report.pk}/", {"publish": "1", "redact_1": "on", "reason_1": "infohazard"}
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    detail = client_for(auditor).get(f"/reports/{report.pk}/").content.decode()
    assert "infohazard" in detail and "<strong>fine</strong>" in detail
    assert client_for(auditor).get(f"/reports/{report.pk}/print/").status_code == 200
    listing = client_for(auditor).get("/commitments/").content.decode()
    assert "Board and LTBT" in listing
    assert "Reports" in client_for(auditor).get("/reports/").content.decode()
    assert client_for(auditor).get("/models/atlas/late-evaluations/").status_code == 200
