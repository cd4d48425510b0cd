# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""Round two of the browser, in Debian's Chromium: a checkpoint registered without a token
(observation 1), a bulk safeguard form that records nothing by default (4), every policy page
reached by clicking from the navigation (6), and a service account kept out of the browser with
the portal's own 403 on the admin (8).

With ``RSP_SCREENSHOTS=<dir>`` the journeys write their screenshots there
(``docs/screenshots/`` in the README).
"""

from __future__ import annotations

import os

import pytest

from evaluations.models import Checkpoint
from governance.models import SafeguardRecord
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.browser.test_browser_journeys import _shot
from tests.governance_fixtures import activate_default_policy, make_model

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]


def test_the_safety_team_registers_a_checkpoint_from_the_model_page(browser, live_server, safety):
    activate_default_policy()
    model = make_model()
    page = _page(browser, live_server, "safety")
    page.goto(f"{live_server.url}/models/{model.slug}/")
    page.click("text=Register a checkpoint")
    page.wait_for_url(f"{live_server.url}/models/{model.slug}/checkpoints/new/")
    # A wrong value is refused with the field named, and nothing is stored.
    page.fill("#id_name", "step-4000")
    page.fill("#id_effective_compute", "-3")
    page.click("button:has-text('Register checkpoint')")
    assert "effective" in page.inner_text("main form").lower()
    assert not Checkpoint.objects.filter(model=model, name="step-4000").exists()
    _shot(page, "checkpoint-form", height=800, full_page=False)
    page.fill("#id_effective_compute", "4e25")
    page.click("button:has-text('Register checkpoint')")
    page.wait_for_url(f"{live_server.url}/models/{model.slug}/")
    assert "step-4000" in page.content()
    assert Checkpoint.objects.get(model=model, name="step-4000").effective_compute == 4e25
    assert page.console_errors == []


def test_the_bulk_safeguard_form_records_nothing_by_default(browser, live_server, safety):
    activate_default_policy()
    model = make_model()
    page = _page(browser, live_server, "safety")
    page.goto(f"{live_server.url}/models/{model.slug}/safeguards/")
    boxes = page.locator("#bulk input[name=requirements]")
    assert boxes.count() > 0
    assert all(not boxes.nth(i).is_checked() for i in range(boxes.count()))
    status = page.locator("#bulk select[name=status]")
    assert status.input_value() != "verified"
    _shot(page, "safeguards-bulk", height=800, full_page=False)
    # Submitting untouched verifies nothing: the form asks for a selection.
    page.locator("#bulk button[type=submit]").click()
    page.wait_for_load_state()
    assert not SafeguardRecord.objects.filter(model=model, status="verified").exists()
    assert page.console_errors == []


def test_every_policy_page_is_reached_by_clicking(browser, live_server, auditor):
    activate_default_policy()
    page = _page(browser, live_server, "auditor")
    page.click("nav >> text=Policy")
    page.click("main >> text=all versions")
    page.wait_for_url(f"{live_server.url}/policy/versions/")
    for link, path in [
        ("Compare two versions", "/policy/diff/"),
        ("Activations and their sign-off", "/policy/activations/"),
        ("Compare frameworks", "/policy/compare/"),
        ("Self-assessment", "/policy/self-assessment/"),
    ]:
        page.goto(f"{live_server.url}/policy/versions/")
        page.click(f"text={link}")
        page.wait_for_url(f"{live_server.url}{path}**")
        assert page.locator("h1").count() == 1, path
    # The bare diff page is a form, not an error.
    page.goto(f"{live_server.url}/policy/diff/")
    assert page.locator("form").count() >= 1
    assert page.console_errors == []
    _shot(page, "policy-diff-form", height=800, full_page=False)


def test_a_service_account_cannot_sign_in_and_the_admin_answers_with_the_portals_403(
    browser, live_server, pipeline, auditor
):
    page = browser.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", pipeline.username)
    page.fill("#id_password", f"{pipeline.username}-password-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.startswith(f"{live_server.url}/login/")
    signed_in = _page(browser, live_server, "auditor")
    response = signed_in.goto(f"{live_server.url}/admin/")
    assert response is not None and response.status == 403
    assert "Django administration" not in signed_in.content()
    assert signed_in.locator("nav").count() >= 1  # the portal's layout, not the admin's login
    _shot(signed_in, "admin-forbidden", height=800, full_page=False)
