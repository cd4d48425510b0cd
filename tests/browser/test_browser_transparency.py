# ruff: noqa: F811  (the browser fixture is imported from tests.browser.test_browser)
"""Transparency to outsiders in Debian's Chromium, without a session.

An outsider sees the policy's history, the signed log head and a public model's redacted gate
history, and nothing of a private model; files a noncompliance report anonymously and follows
it by its receipt; a recipient (signed in, in another browser context) moves it to
investigating and closes it with a finding; the public count changes. With
``RSP_SCREENSHOTS=<dir>`` the pages are captured (``docs/screenshots/`` in the README).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache

from audit import verify_bundle as vb
from audit.checkpoints import make_checkpoint
from policies import services as policy_services
from policies.packs import load_pack_file
from tests.audit_support import WitnessAnswer, audit_keys  # noqa: F401  (fixture)
from tests.browser.test_browser import CHROMIUM, _page, browser  # noqa: F401  (fixture)
from tests.browser.test_browser_journeys import _shot
from tests.governance_fixtures import activate_default_policy, add_result, make_model
from transparency import services
from transparency.models import NoncomplianceReport

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("audit_keys", "verified_trail"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium"),
]

SECRET = "The uplift trial on secretmodel was skipped on 3 March"
WITNESS = "witness.example/log-watch"


def _outsider(browser: Any) -> Any:
    """A page in a fresh browser context: no cookie, no session."""
    page = browser.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.console_errors = errors
    return page


def _counts(page: Any) -> str:
    return " ".join(page.inner_text("#noncompliance").split())


@pytest.fixture
def record(rso: Any, audit_keys: Any, settings: Any, monkeypatch: Any) -> None:
    cache.clear()  # rate counters of earlier tests in this process
    witness_key = Ed25519PrivateKey.generate()
    settings.AUDIT_WITNESS_URLS = ["https://witness.example/api/v1/audit/witness/"]
    settings.AUDIT_WITNESS_COSIGNER_KEYS = [
        vb.cosigner_verifier_key(WITNESS, witness_key.public_key())
    ]

    def witness_answers(request: Any, timeout: float) -> Any:
        line = vb.cosign_checkpoint(
            witness_key, WITNESS, vb.note_text(request.data.decode()), int(time.time())
        )
        return WitnessAnswer(line.encode())

    monkeypatch.setattr("urllib.request.urlopen", witness_answers)
    activate_default_policy()
    tighter = load_pack_file("default")
    tighter["version"] = "2.2-portal.4"
    tighter["settings"]["months_between_assessments"] = 3  # a tightening: no extra sign-off
    policy_services.activate(policy_services.load_pack(tighter), rso)
    atlas = make_model("atlas")
    secret = make_model("secretmodel")
    add_result(atlas, "cbrn.vct_accuracy", 0.9)
    add_result(secret, "cbrn.vct_accuracy", 0.9)
    services.set_publicity(atlas, True, False, "Released to the public", rso)
    make_checkpoint()


@pytest.mark.usefixtures("record")
def test_an_outsider_checks_the_record_and_a_report_is_followed_to_its_closure(
    browser, live_server, rso, ceo
):
    page = _outsider(browser)
    page.goto(f"{live_server.url}/transparency/")
    versions = page.inner_text("#policy")
    assert "2.2-portal.4" in versions and "superseded" in versions
    head = page.inner_text("#log-head")
    assert "Merkle root" in head and re.search(r"Entries: \d+", head)
    assert "rsp-portal" in head  # the signed note itself
    assert WITNESS in page.inner_text("#cosignatures")  # the witness's cosignature
    models = page.inner_text("#models")
    assert "Atlas" in models and "paused" in models
    assert "Thresholds" not in models  # values were not made public
    assert "secretmodel" not in page.content().lower()
    assert "Received: 0" in _counts(page)
    assert page.console_errors == []
    _shot(page, "transparency-public")

    page.click("#noncompliance a:has-text('Report possible noncompliance')")
    assert "RSO" in page.inner_text("main") and "CEO" in page.inner_text("main")
    page.fill("#id_summary", "An evaluation was skipped")
    page.fill("#id_details", SECRET)
    page.click("main button:has-text('Send the report')")
    receipt = page.inner_text("code.receipt").strip()
    assert receipt.startswith("nc_") and SECRET not in page.content()
    _shot(page, "noncompliance-receipt")

    page.click("main a:has-text('Follow a report')")
    page.fill("#id_receipt", receipt)
    page.click("main button:has-text('Look up')")
    assert "Status: Received" in page.inner_text("main")
    page.goto(f"{live_server.url}/transparency/")
    assert "Received: 1" in _counts(page)
    assert SECRET not in page.content()

    # A recipient, signed in in a browser context of their own.
    recipient = _page(browser, live_server, "rso")
    recipient.click("nav a:has-text('Noncompliance')")
    recipient.click("main a:has-text('An evaluation was skipped')")
    assert SECRET in recipient.inner_text("main")
    assert "an anonymous reporter" in recipient.inner_text("main")
    recipient.select_option("#id_status", "investigating")
    recipient.click("main button:has-text('Record')")
    assert "is now investigating" in recipient.inner_text("body")
    recipient.select_option("#id_status", "closed")
    recipient.fill("#id_finding", "Confirmed; the trial was rerun and the result recorded.")
    _shot(recipient, "noncompliance-recipient")
    recipient.click("main button:has-text('Record')")
    assert "is now closed" in recipient.inner_text("body")
    assert recipient.console_errors == []
    assert NoncomplianceReport.objects.get().status == "closed"

    page.goto(f"{live_server.url}/transparency/report/status/?receipt={receipt}")
    assert "Status: Closed" in page.inner_text("main")
    page.goto(f"{live_server.url}/transparency/")
    counts = _counts(page)
    assert "Received: 0" in counts and "being investigated: 0" in counts and "closed: 1" in counts
    assert SECRET not in page.content() and "secretmodel" not in page.content().lower()
    assert page.console_errors == []
    _shot(page, "transparency-after")
