"""Lines keep their direction everywhere (issue 27, observation 3).

A lower-is-more-capable metric (``cbrn.protocol_error_rate``: warning 0.4, critical 0.25) read
"0.7 · 0.4 / 0.25" in the dossier, its print view and the as-of page, which looks crossed. Every
line now reads ``≥ 0.5`` or ``≤ 0.25``, written by one helper (``policies.rules.line_text``,
the ``line`` template filter). The print view shows evidence links as their URL text and
requirement codes with their titles.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from governance import services
from policies import rules
from tests.conftest import client_for
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]

REPO = Path(__file__).resolve().parents[2]


def _row(page: str, metric: str) -> str:
    """The table row (or block) of one indicator metric."""
    return page.split(f"<code>{metric}</code>", 1)[1].split("</tr>", 1)[0]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_helper_writes_the_comparison_that_crosses():
    assert rules.line_text(0.4, higher_is_more_capable=True) == "≥ 0.4"
    assert rules.line_text(0.25, higher_is_more_capable=False) == "≤ 0.25"
    assert rules.line_text(3e25, higher_is_more_capable=True) == "≥ 3e+25"
    # A frozen record without a direction shows the bare number (no guess).
    assert rules.line_text(0.25, higher_is_more_capable=None) == "0.25"
    assert rules.line_text(None, higher_is_more_capable=True) == "—"


def _decision(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)  # cbrn.protocol_error_rate 0.9: far from its lines (≤ 0.4, ≤ 0.25)
    baseline(model, safety)
    return model, services.request_decision(model, 2e24, "Below every line.", safety)


def test_the_dossier_writes_each_line_with_its_direction(safety, rso):
    _, decision = _decision(safety)
    page = client_for(rso).get(f"/decisions/{decision.pk}/").content.decode()
    lower = _text(_row(page.split('id="dossier"', 1)[1], "cbrn.protocol_error_rate"))
    assert "≤ 0.4 / ≤ 0.25" in lower
    higher = _text(_row(page.split('id="dossier"', 1)[1], "cbrn.vct_accuracy"))
    assert "≥ 0.35 / ≥ 0.5" in higher


def test_the_print_view_has_directions_urls_and_requirement_titles(safety, rso):
    _, decision = _decision(safety)
    page = client_for(rso).get(f"/decisions/{decision.pk}/print/").content.decode()
    assert "≤ 0.4 / ≤ 0.25" in _text(_row(page, "cbrn.protocol_error_rate"))
    # Evidence as its address (useful on paper), never the bare word "link".
    assert ">link<" not in page
    assert ">https://evidence.example/x</a>" in page
    # Requirement codes with their titles.
    row = _text(_row(page, "ASL2S.supply_chain"))
    assert "Supply-chain and vendor security reviews" in row


def test_the_as_of_page_writes_each_line_with_its_direction(safety, auditor):
    model, _ = _decision(safety)
    # To the microsecond: a moment cut to the second can fall before the records it asks about.
    moment = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%f")
    page = (
        client_for(auditor)
        .get(f"/models/{model.slug}/gate/as-of/", {"as_of": moment, "scope": "scaling"})
        .content.decode()
    )
    assert 'id="as-of-result"' in page
    block = _text(page.split("<code>cbrn.protocol_error_rate</code>", 1)[1].split("</div>", 1)[0])
    assert "≤ 0.4" in block and "≤ 0.25" in block
    assert "≥ 0.5" in _text(page.split("<code>cbrn.vct_accuracy</code>", 1)[1].split("</div>")[0])


def test_the_model_page_and_its_charts_write_each_line_with_its_direction(safety):
    model, _ = _decision(safety)
    page = client_for(safety).get(f"/models/{model.slug}/").content.decode()
    chart = page.split('data-metric="cbrn.protocol_error_rate"', 1)[1].split("</svg>", 1)[0]
    assert "critical ≤ 0.25" in chart and "warning ≤ 0.4" in chart
    card = page.split('id="threshold-CBRN-3"', 1)[1].split("</article>", 1)[0]
    assert "critical ≤ 0.25" in _text(card)


def test_templates_write_no_comparison_sign_of_their_own():
    """One helper writes lines: a template that spells ≥ or ≤ itself will one day disagree."""
    offenders = [
        str(path.relative_to(REPO))
        for path in REPO.glob("*/templates/**/*.html")
        if re.search(r"[≥≤]", path.read_text())
    ]
    assert offenders == []


def test_the_dossier_preview_before_a_request_reads_the_same(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    page = (
        client_for(safety)
        .post(
            f"/models/{model.slug}/decide/",
            {"scope": "scaling", "compute_limit": "2e24", "rationale": "Below every line."},
        )
        .content.decode()
    )
    assert "≤ 0.4 / ≤ 0.25" in _text(_row(page, "cbrn.protocol_error_rate"))
    assert "Supply-chain and vendor security reviews" in _text(_row(page, "ASL2S.supply_chain"))
