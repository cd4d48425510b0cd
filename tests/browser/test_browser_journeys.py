# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""The risk picture, role by role, in Debian's Chromium (issue 14).

Each journey fails on a console error (a CSP violation is one). With ``RSP_SCREENSHOTS=<dir>``
the run writes screenshots of the main pages there (``docs/screenshots/`` in the README).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from governance import forms as gate_forms
from governance import services
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.governance_fixtures import (
    activate_default_policy,
    add_checkpoint,
    add_result,
    baseline,
    evaluate_all_below,
    make_model,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # Gates here trust the audit trail: verified as the beat would (issue 21).
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]


def _shot(page: Any, name: str, *, height: int = 900, full_page: bool = True) -> None:
    """A screenshot at 1280 px wide (the whole page, or one screen of ``height``)."""
    target = os.environ.get("RSP_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": height})
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=full_page)


def test_a_result_crossing_a_warning_shows_at_the_top_and_on_the_dashboard(
    browser, live_server, safety
):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "autonomy.swe_task_success", 0.22, add_checkpoint(model, "ckpt-2", 3e24))
    page = _page(browser, live_server, "safety")
    page.goto(f"{live_server.url}/models/{model.slug}/results/new/")
    assert "The lines each metric is held to" in page.inner_text("main")
    page.select_option("#id_checkpoint", "ckpt-2")
    page.select_option("#id_metric", "autonomy.swe_task_success")
    page.fill("#id_value", "0.36")
    page.fill("#id_n_samples", "200")
    page.click("main button:has-text('Record result')")
    page.wait_for_url(f"{live_server.url}/models/{model.slug}/")
    banner = page.locator("#early-warning")
    assert banner.is_visible()
    assert banner.bounding_box()["y"] < 400  # first thing under the title, not 1,300 px down
    assert "AUTONOMY-CHECKPOINT" in banner.inner_text()
    chart = page.locator('svg[data-metric="autonomy.swe_task_success"]').first
    assert chart.locator("circle.point").count() == 2
    assert page.console_errors == []
    _shot(page, "model-page")
    page.goto(f"{live_server.url}/")
    assert "early warning" in page.inner_text("main")
    assert page.console_errors == []
    _shot(page, "dashboard-safety")


def test_two_titled_approvals_open_the_gate(browser, live_server, safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "Below every line.", safety)
    for signer in ("rso", "ceo"):
        page = _page(browser, live_server, signer)
        page.click(f"text=Decision #{decision.pk}")
        main = page.inner_text("main")
        assert "What approval will and will not do" in main
        assert "Once approved, the gate opens for this scope" in main
        assert page.locator("details pre").is_hidden()  # the JSON is one click away
        if signer == "rso":
            _shot(page, "decision")
        page.fill("#id_comment", f"Reviewed by {signer}.")
        page.click("button[name=approve]")
        assert "You approved" in page.inner_text("main")
        assert page.console_errors == []
        page.close()
    assert services.gate_for(model)["state"] == "approved"


@pytest.mark.usefixtures("audit_keys")
def test_an_auditor_asks_how_the_gate_stood(browser, live_server, safety, auditor, monkeypatch):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    page = _page(browser, live_server, "auditor")
    page.goto(f"{live_server.url}/audit/")
    assert "evaluations.evalresult" not in page.inner_text("main")
    assert "result #1 on atlas" in page.inner_text("main") or "model atlas" in page.inner_text(
        "main"
    )
    _shot(page, "audit-timeline")
    page.click("text=Gate as of a past time")
    page.select_option("#id_model", model.slug)
    # A past minute after the gate was recorded (the picker has minutes; the future is refused):
    # the next minute boundary. The auditor asks a minute later: the form's clock (only its
    # own, so the record keeps its real times) is a minute ahead, instead of waiting for it.
    moment = (timezone.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    real_now = timezone.now
    monkeypatch.setattr(
        gate_forms, "timezone", SimpleNamespace(now=lambda: real_now() + timedelta(minutes=1))
    )
    page.fill("#id_as_of", moment.strftime("%Y-%m-%dT%H:%M"))
    page.click("main button:has-text('Show the gate')")
    result = page.inner_text("#as-of-result")
    assert "Scaling gate" in result and "paused" in result
    assert page.console_errors == []
    _shot(page, "gate-as-of")
    page.goto(f"{live_server.url}/audit/status/")
    assert page.locator("a[href='/audit/public-key.pem']").count() == 1
    assert page.console_errors == []
    _shot(page, "audit-status")


def test_forbidden_pages_and_api_docs_stay_in_the_layout(browser, live_server, auditor):
    activate_default_policy()
    make_model()
    page = _page(browser, live_server, "auditor")
    response = page.goto(f"{live_server.url}/models/atlas/results/new/")
    assert response.status == 403
    assert "Your role does not allow this" in page.inner_text("main")
    page.click("text=Back to the dashboard")
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    assert "Back to the portal" in page.inner_text("main")
    # Only the deliberate 403 above may have logged an error; the docs page logs none.
    assert [e for e in page.console_errors if "403" not in e] == []
    _shot(page, "api-docs")
