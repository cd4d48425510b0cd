"""A compact model page (issue 27, observation 9).

The model page was 3,900 px with the determinations far below. Now the gate, the crossings and
what to do first come first; the details (determinations, checkpoints, results, the gate's
history) follow, the long ones collapsed. The browser journey checks that the top fits in one
1280 x 800 screen.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import client_for
from tests.governance_fixtures import (
    activate_default_policy,
    add_result,
    evaluate_all_below,
    make_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _page(safety) -> str:
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "cbrn.vct_accuracy", 0.7)  # CBRN-3 crossed
    return client_for(safety).get(f"/models/{model.slug}/").content.decode()


def test_the_gate_the_crossings_and_what_to_do_first_come_first(safety):
    page = _page(safety)
    order = [
        "<h1>",
        'id="gate-panel"',
        "Why scaling is paused",
        "CBRN-3 crossed",
        "What to do first",
        'id="thresholds"',
        'id="checkpoints"',
        'id="triggers"',
        'id="history"',
        'id="gate-history"',
    ]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))


def test_the_long_details_are_collapsed(safety):
    page = _page(safety)
    for section in ("history", "gate-history"):
        tag = re.search(rf'<details[^>]*id="{section}"[^>]*>', page)
        assert tag is not None, section
        assert " open" not in tag.group(0)
    # The gate's timeline and transitions are in its history, not at the top.
    history = page.split('id="gate-history"', 1)[1]
    assert "Recent gate transitions" in history or "transitions" in history
    top = page.split('id="thresholds"', 1)[0]
    assert 'class="transitions"' not in top and "timeline-chart" not in top


def test_what_to_do_first_leads_with_one_step(safety):
    page = _page(safety)
    steps = page.split("What to do first", 1)[1].split("</ol>", 1)[0]
    first = re.search(r"<li[^>]*>(.*?)</li>", steps, re.S)
    assert first is not None and 'class="first"' in steps.split("</li>", 1)[0]


def test_thresholds_at_or_past_a_line_come_first_with_their_charts_open(safety):
    page = _page(safety)
    cards = re.findall(r'<article class="threshold-card (\w+)" id="threshold-([^"]+)"', page)
    statuses = [status for status, _ in cards]
    assert statuses[0] == "crossed" and cards[0][1] == "CBRN-3"
    rank = {"crossed": 0, "presumed": 0, "warning": 1, "below": 2}
    assert statuses == sorted(statuses, key=rank.__getitem__)
    below = page.split(f'id="threshold-{cards[-1][1]}"', 1)[1].split("</article>", 1)[0]
    assert '<details class="chart-details">' in below and "metric-chart" in below
    crossed = page.split('id="threshold-CBRN-3"', 1)[1].split("</article>", 1)[0]
    assert "chart-details" not in crossed and "metric-chart" in crossed
