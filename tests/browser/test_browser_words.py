# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""Notifications and words, in Debian's Chromium (issue 27 obs 5 and 7).

With ``RSP_SCREENSHOTS=<dir>`` the journeys write their screenshots there (``docs/screenshots/``).
"""

from __future__ import annotations

import os

import pytest

from core.models import User
from governance import services
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.browser.test_browser_journeys import _shot
from tests.conftest import set_email
from tests.governance_fixtures import activate_default_policy, evaluate_all_below, make_model
from tests.project.test_pages_in_words import ALLOWED, _problems

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]


def _words_only(page) -> None:
    from policies.models import Metric

    allowed = ALLOWED | set(Metric.objects.values_list("key", flat=True))
    # The visible text, without the API codes the page marks as code.
    text = page.evaluate(
        """() => { const main = document.querySelector('main').cloneNode(true);
                   main.querySelectorAll('code, pre, .code-badge').forEach(e => e.remove());
                   return main.innerText; }"""
    )
    assert _problems(" ".join(text.split()), allowed) == []


def test_people_see_what_was_sent_in_words_with_the_model(browser, live_server, safety, rso):
    set_email(User.objects.filter(username__in=["safety", "rso"]), "team@example.org")
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    services.pause(model, "Incident under review.", rso)
    page = _page(browser, live_server, "safety")
    page.click("nav >> text=Notifications")
    sent = page.inner_text("main")
    assert "gate.transition" not in sent and "model.paused" not in sent
    assert "atlas was paused" in sent
    assert "Gate of atlas is now paused" in sent or "Gate of atlas still paused" in sent
    assert "waiting" in sent and "Digest of" in sent  # e-mails wait for the burst: one digest
    _words_only(page)
    assert page.console_errors == []
    _shot(page, "notifications-sent-lately")
    page.locator("main a[href='/models/atlas/']").first.click()
    page.wait_for_url(f"{live_server.url}/models/atlas/")
    assert page.console_errors == []


def test_a_person_reads_times_in_their_zone_and_words_instead_of_codes(
    browser, live_server, safety, auditor
):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    page = _page(browser, live_server, "safety")
    page.click("text=Settings")
    page.select_option("#id_time_zone", "Asia/Tokyo")
    page.click("main button:has-text('Save')")
    assert "Times are now shown in Asia/Tokyo" in page.inner_text("main")
    _shot(page, "settings-time-zone")
    page.goto(f"{live_server.url}/")
    main = page.inner_text("main")
    assert "JST" in main and " UTC" not in main
    _words_only(page)
    _shot(page, "dashboard-in-words")
    page.goto(f"{live_server.url}/gate/as-of/")
    assert "Asia/Tokyo" in page.inner_text("main")  # the picker says which zone it reads
    page.goto(f"{live_server.url}/policy/")
    assert "ongoing assessment" in page.inner_text("main")
    _words_only(page)
    _shot(page, "policy-in-words")
    page.close()

    page = _page(browser, live_server, "auditor")
    page.goto(f"{live_server.url}/audit/")
    main = page.inner_text("main")
    assert "Result logged" in main and "result.create" not in main
    assert "Since (UTC)" in main and "time zone (UTC)" in main  # the pickers name their zone
    _words_only(page)
    assert page.console_errors == []
    _shot(page, "audit-timeline-in-words")
