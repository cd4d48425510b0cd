"""End-to-end journeys in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from governance import services
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    # Gates here trust the audit trail: verified as the beat would (issue 21).
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(
        not shutil.which(CHROMIUM), reason="needs Debian's Chromium: apt-get install -y chromium"
    ),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are ordinary synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            chromium.close()
            # Inside sync_playwright() the ORM calls of the test and its user fixtures get a
            # connection object of their own, which Django's teardown never sees or closes;
            # left open, it kept the PostgreSQL test database from being dropped.
            connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _page(browser: Any, live_server: Any, username: str, lands_on: str = "/") -> Any:
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.console_errors = errors
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-password-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{lands_on}")
    return page


def test_leadership_signs_a_decision_in_the_browser(browser, live_server, safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "Below every line.", safety)

    for signer in ("rso", "ceo"):
        page = _page(browser, live_server, signer)
        assert f"Decision #{decision.pk}" in page.inner_text("main")  # waiting for my signature
        page.click(f"text=Decision #{decision.pk}")
        assert decision.dossier_sha256 in page.inner_text("main")
        page.fill("#id_comment", f"Reviewed by {signer}.")
        page.click("button[name=approve]")
        assert "You approved" in page.inner_text("main")
        assert page.console_errors == []
        page.close()

    page = _page(browser, live_server, "safety")
    row = page.locator("tr", has_text=model.name).first
    assert "approved" in row.inner_text()
    assert page.console_errors == []


def test_a_safety_user_pauses_a_model_from_its_page(browser, live_server, safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    page = _page(browser, live_server, "safety")
    page.goto(f"{live_server.url}/models/{model.slug}/")
    assert "Scaling gate" in page.inner_text("main")
    page.click("details.pause summary")  # one click away, beside what to do first
    page.fill("form.pause-form textarea", "Unexpected eval transcript")
    page.click("form.pause-form button")
    assert "is paused" in page.inner_text("main")
    assert "manual_pause" in page.inner_text("#gate-panel")
    assert page.console_errors == []


def test_an_auditor_cannot_see_the_sign_buttons(browser, live_server, safety, auditor):
    activate_default_policy()
    model = make_model()
    decision = services.request_decision(model, 2e24, "x", safety)
    page = _page(browser, live_server, "auditor")
    page.goto(f"{live_server.url}/decisions/{decision.pk}/")
    assert page.locator("button[name=approve]").count() == 0
    assert "Waiting for: RSO, CEO" in page.inner_text("main")
