# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""Round two of the browser, in Debian's Chromium (issue 27): the crossing named where people
look (observation 2), lines with their direction on every page and on paper (3), a compact
model page whose top fits one 1280 x 800 screen (9).

With ``RSP_SCREENSHOTS=<dir>`` the journeys write their screenshots there
(``docs/screenshots/`` in the README).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.utils import timezone

from governance import services
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.browser.test_browser_journeys import _shot
from tests.governance_fixtures import (
    activate_default_policy,
    add_result,
    baseline,
    evaluate_all_below,
    make_model,
    sign_required_reports,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]


def _crossed(safety: Any) -> Any:
    """A model past CBRN-3's critical line, its baseline verified, no decision."""
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    add_result(model, "cbrn.vct_accuracy", 0.7)
    return model


def test_the_crossing_is_named_first_where_people_look(browser, live_server, safety):
    model = _crossed(safety)
    page = _page(browser, live_server, "safety")
    row = page.locator("tr", has_text=model.name).first
    assert "CBRN-3 crossed → ASL-3-S: 5 to verify" in row.inner_text()
    _shot(page, "dashboard-crossing")
    row.locator("a", has_text=model.name).click()
    page.wait_for_url(f"{live_server.url}/models/{model.slug}/")
    first = page.locator(".gate-why ul.reasons > li").first
    text = first.inner_text()
    assert text.startswith("CBRN-3") and "crossed" in text and "ASL-3-S" in text
    assert "CBRN-3 crossed → ASL-3-S: 5 to verify" in page.inner_text(".gate-why")
    # The crossing's line links to its determination further down.
    first.locator("a", has_text="determination").click()
    card = page.locator("#threshold-CBRN-3")
    assert card.is_visible() and "crossed" in card.inner_text()
    assert page.console_errors == []
    _shot(page, "crossing-determination", height=800, full_page=False)


def test_lines_keep_their_direction_on_screen_and_on_paper(
    browser, live_server, safety, rso, ceo, auditor
):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)  # cbrn.protocol_error_rate 0.9: lower is more capable
    baseline(model, safety)
    sign_required_reports(model, safety, rso, ceo)
    decision = services.request_decision(model, 2e24, "Below every line.", safety)
    page = _page(browser, live_server, "rso")
    page.goto(f"{live_server.url}/decisions/{decision.pk}/")
    row = page.locator("#dossier tr", has_text="cbrn.protocol_error_rate").first
    assert "≤ 0.4 / ≤ 0.25" in row.inner_text()
    vct = page.locator("#dossier tr", has_text="cbrn.vct_accuracy").first
    assert "≥ 0.35 / ≥ 0.5" in vct.inner_text()
    page.click("text=printable view")
    page.wait_for_url(f"{live_server.url}/decisions/{decision.pk}/print/")
    page.emulate_media(media="print")
    sheet = page.inner_text("main")
    assert "https://evidence.example/x" in sheet and "\tlink" not in sheet
    assert "ASL2S.supply_chain Supply-chain and vendor security reviews" in sheet
    assert "≤ 0.4 / ≤ 0.25" in sheet
    assert page.console_errors == []
    _shot(page, "dossier-print")
    page.close()

    page = _page(browser, live_server, "auditor")
    moment = timezone.localtime().strftime("%Y-%m-%dT%H:%M:%S")
    page.goto(f"{live_server.url}/models/{model.slug}/gate/as-of/?as_of={moment}&scope=scaling")
    result = page.inner_text("#as-of-result")
    assert "cbrn.protocol_error_rate" in result and "critical ≤ 0.25" in result
    assert "warning ≤ 0.4" in result and "critical ≥ 0.5" in result
    assert page.console_errors == []
    _shot(page, "gate-as-of-lines")


def test_the_model_page_top_fits_one_screen(browser, live_server, safety):
    model = _crossed(safety)
    page = _page(browser, live_server, "safety")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/models/{model.slug}/")
    for selector in ("#gate-panel h2", ".gate-why", ".gate-next ol.next-steps"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, (selector, box)
    # The details come after the gate, the long ones closed until asked for.
    assert page.locator("#history").get_attribute("open") is None
    assert page.locator("#gate-history").get_attribute("open") is None
    assert page.locator("#gate-history table.transitions").is_hidden()
    page.click("#gate-history summary")
    assert page.locator("#gate-history table.transitions").is_visible()
    assert page.console_errors == []
    page.goto(f"{live_server.url}/models/{model.slug}/")
    _shot(page, "model-page-top", height=800, full_page=False)
