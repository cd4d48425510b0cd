# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""Reports, commitments and outside reviewers in Debian's Chromium (issue 25).

Two journeys: the Risk Report on RSP v3.4 with an external reviewer granted for a week (the
LTBT approves the reviewer), whose access ends by itself, and a public edition with one
redaction; and the default pack's path from a crossing through the Capability and Safeguards
Reports and the Board/LTBT commitment to an approved decision that relies on them. Each fails
on a console error."""

from __future__ import annotations

import os
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from accountability import reviews
from accountability.models import Report, Review, ReviewerGrant
from audit.models import AuditEntry
from core.models import Role
from core.services import create_user
from governance import services
from governance.models import ScalingDecision
from policies import services as policy_services
from policies.packs import load_pack_file
from tests.accountability.test_reports_journey import load_policy
from tests.audit_support import audit_keys, verify_trail  # noqa: F401  (fixture)
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.governance_fixtures import (
    add_result,
    evaluate_all_below,
    make_model,
    verify_standards,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]


def _sign(browser: Any, live_server: Any, username: str, report_pk: int) -> None:
    page = _page(browser, live_server, username)
    page.goto(f"{live_server.url}/reports/{report_pk}/")
    page.click("button[name=sign]")
    assert "You approved" in page.inner_text("main")
    assert page.console_errors == []
    page.close()


def _draft(page: Any, live_server: Any, kind: str, model: str, title: str, text: str) -> int:
    page.goto(f"{live_server.url}/reports/new/")
    page.select_option("#id_kind", kind)
    page.select_option("#id_model", model)
    page.fill("#id_title", title)
    page.fill("#id_sections", text)
    page.click("main button:has-text('Write the draft')")
    assert "the record is frozen in it" in page.inner_text("main")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


@pytest.mark.usefixtures("audit_keys")
def test_a_risk_report_with_an_external_reviewer_for_a_week(browser, live_server, safety, rso, ceo):
    policy_services.load_pack(load_pack_file("anthropic-rsp-v3-4"), actor=None, activate=True)
    make_model("atlas")
    create_user("ltbt", Role.LEADERSHIP, titles=["LTBT"], password="ltbt-password-123")
    create_user("aisi", Role.REVIEWER, password="aisi-password-123")

    page = _page(browser, live_server, "safety")
    pk = _draft(
        page, live_server, "risk_report", "", "Risk Report Q3",
        "# Summary\nRisk is **moderate**.\n# Threat intelligence\nNamed actors.",
    )  # fmt: skip
    page.close()
    for signer in ("ceo", "rso"):
        _sign(browser, live_server, signer, pk)

    # The CEO grants the reviewer a week; the LTBT approves the reviewer (RSP v3.4 §3.6.1).
    page = _page(browser, live_server, "ceo")
    page.goto(f"{live_server.url}/reviews/")
    page.select_option("#id_reviewer", "aisi")
    page.fill("#id_organisation", "AI Security Institute")
    page.fill("#id_report", str(pk))
    page.fill("#id_days", "7")
    page.click("button[name=grant]")
    assert "waits for a holder of the LTBT title" in page.inner_text("main")
    assert page.console_errors == []
    page.close()
    page = _page(browser, live_server, "ltbt")
    page.goto(f"{live_server.url}/reviews/")
    page.click("#grants button:has-text('Approve')")
    assert "approve recorded" in page.inner_text("main")
    assert "in force" in page.inner_text("#grants")
    page.close()

    # The reviewer lands on their grants, reads the report and leaves an advisory review.
    page = _page(browser, live_server, "aisi", lands_on="/reviews/")
    page.click("#your-reports a:has-text('Risk Report Q3')")
    assert "Named actors." in page.inner_text("main")
    page.fill("#id_body", "The threat model omits **insider** risk.")
    page.click("button[name=review]")
    assert "shown as advisory" in page.inner_text("main")
    assert "insider" in page.inner_text("#external-reviews")
    assert page.console_errors == []
    # Nothing else is open to them.
    assert page.goto(f"{live_server.url}/models/").status == 403
    assert page.goto(f"{live_server.url}/reports/").status == 403
    # A week later the access has ended by itself (no job ran).
    later = timezone.now() + timedelta(days=7, minutes=1)
    with mock.patch.object(reviews, "timezone", SimpleNamespace(now=lambda: later)):
        assert page.goto(f"{live_server.url}/reports/{pk}/").status == 404
        page.goto(f"{live_server.url}/reviews/")
        assert "None: no grant is in force" in page.inner_text("#your-reports")
    page.close()

    # The CEO publishes the public edition, withholding one section with a reason.
    page = _page(browser, live_server, "ceo")
    page.goto(f"{live_server.url}/reports/{pk}/")
    assert "External review" in page.inner_text("#external-reviews")
    page.check("#id_redact_1")
    page.fill("#id_reason_1", "infohazard: named threat actors")
    page.click("button[name=publish]")
    assert "is published" in page.inner_text("main")
    assert "infohazard: named threat actors" in page.inner_text("main")
    assert page.console_errors == []
    page.close()

    report = Report.objects.get(pk=pk)
    assert report.status == "published" and report.redactions.count() == 1
    assert Review.objects.filter(report=report).count() == 1
    assert ReviewerGrant.objects.get().approved_by.username == "ltbt"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"review.grant", "review.approve", "review.record", "report.publish"} <= actions
    verify_trail()


def test_the_default_pack_from_a_crossing_to_an_approved_decision(
    browser, live_server, safety, rso, ceo
):
    load_policy()  # the default pack with RSP v2.2's reports and the Board/LTBT commitment
    model = make_model("atlas")
    evaluate_all_below(model)
    add_result(model, "cbrn.vct_accuracy", 0.9)  # crosses CBRN-3 (and CBRN-4)
    verify_standards(model, {"ASL-2-D", "ASL-2-S", "ASL-3-S", "ASL-4-S"}, safety)

    page = _page(browser, live_server, "safety")
    capability = _draft(
        page, live_server, "capability_report", "atlas", "Atlas capabilities",
        "# Summary\nCBRN-3 crossed on the VCT indicator.",
    )  # fmt: skip
    safeguards = _draft(
        page, live_server, "safeguards_report", "atlas", "Atlas safeguards",
        "# Summary\nASL-3 and ASL-4 security verified.",
    )  # fmt: skip
    for pk in (capability, safeguards):
        for signer in ("rso", "ceo"):
            _sign(browser, live_server, signer, pk)

    # The Board/LTBT commitment fell due when the Capability Report was signed.
    page.goto(f"{live_server.url}/commitments/")
    assert "Board and LTBT" in page.inner_text("main")
    page.click("text=record as kept")
    page.fill("#id_evidence_url", "https://board.example/minutes")
    page.fill("#id_notes", "Sent to the Board and the LTBT.")
    page.click("main button:has-text('Record')")
    assert "kept" in page.inner_text("main")

    # The decision relies on both reports.
    page.goto(f"{live_server.url}/models/atlas/decide/")
    page.fill("#id_compute_limit", "2e24")
    page.fill("#id_rationale", "Continue with ASL-3/4 security, per the reports.")
    page.click("button[name=preview]")
    page.click("button[name=confirm]")
    assert "Reports relied on" in page.inner_text("main")
    assert page.console_errors == []
    page.close()
    decision = ScalingDecision.objects.get()
    relied = {r["kind"]: r["id"] for r in decision.dossier["reports"]}
    assert relied == {"capability_report": capability, "safeguards_report": safeguards}
    for signer in ("rso", "ceo"):
        page = _page(browser, live_server, signer)
        page.goto(f"{live_server.url}/decisions/{decision.pk}/")
        page.click("button[name=approve]")
        assert "You approved" in page.inner_text("main")
        assert page.console_errors == []
        page.close()
    decision.refresh_from_db()
    assert decision.status == "approved"
    gate = services.gate_for(model)
    assert gate["state"] == "approved", gate["reasons"]
