"""The crossing is named where people look (issue 27, observation 2).

After CBRN-3 crosses on a model with no decision, each ``safeguard_missing`` reason names the
threshold that raised its standard (``threshold``, set by the gate engine), the pages group the
safeguards by that crossing ("CBRN-3 crossed → ASL-3-S: 5 to verify"), and the "Why scaling is
paused" box names the crossing first. The API carries the field (documented in the schema).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from governance import services
from tests.conftest import bearer, client_for
from tests.governance_fixtures import (
    activate_default_policy,
    add_result,
    baseline,
    evaluate_all_below,
    make_model,
    sign_required_reports,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _crossed(safety, *, verified_baseline: bool = False):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    if verified_baseline:
        baseline(model, safety)
    add_result(model, "cbrn.vct_accuracy", 0.7)  # past CBRN-3's critical line (0.5)
    return model


def _panel(page: str) -> str:
    return page.split('id="gate-panel"', 1)[1].split("</section>", 1)[0]


def test_each_missing_safeguard_names_the_threshold_that_raised_it(safety):
    model = _crossed(safety)
    reasons = [r for r in services.gate_for(model)["reasons"] if r["code"] == "safeguard_missing"]
    raised = Counter((r["threshold"], r["standard"]) for r in reasons)
    # The baseline's own standards are raised by no threshold; ASL-3-S by the crossing.
    assert raised[("CBRN-3", "ASL-3-S")] == 5
    assert raised[(None, "ASL-2-D")] == 4 and raised[(None, "ASL-2-S")] == 6
    assert all(r["threshold"] in (None, "CBRN-3") for r in reasons)


def test_a_standard_raised_by_two_crossings_names_the_first_by_code(safety):
    model = _crossed(safety, verified_baseline=True)
    add_result(model, "aird.re_bench_score", 1.9)  # AIRD-4 requires ASL-3-S too
    gate = services.gate_for(model)
    assert {"AIRD-4", "CBRN-3"} <= set(gate["crossed_thresholds"])
    missing = {r["threshold"] for r in gate["reasons"] if r["code"] == "safeguard_missing"}
    assert "AIRD-4" in missing  # "AIRD-4" < "CBRN-3": one name per reason, stable


def test_the_threshold_that_raised_a_safeguard_is_context_not_a_new_problem(safety):
    """Which threshold raised a requirement is not part of the reason's subject: a second
    crossing that raises the same standard does not make its missing safeguards new reasons."""
    from governance.gate import Reason

    a = Reason(code="safeguard_missing", message="x", requirement="R", standard="S")
    b = Reason(code="safeguard_missing", message="x", requirement="R", standard="S", threshold="T")
    assert a.subject == b.subject
    crossing = Reason(code="threshold_crossed", message="x", threshold="T")
    assert crossing.subject == "threshold=T"


def test_the_pages_group_safeguards_by_the_crossing_that_raised_them(safety):
    model = _crossed(safety)
    panel = _panel(client_for(safety).get(f"/models/{model.slug}/").content.decode())
    assert "CBRN-3 crossed → ASL-3-S: 5 to verify" in panel
    assert "Baseline → ASL-2-D 4, ASL-2-S 6: 10 to verify" in panel
    # The crossing's safeguards come before the baseline's.
    assert panel.index("CBRN-3 crossed → ASL-3-S") < panel.index("Baseline →")


def test_why_scaling_is_paused_names_the_crossing_first(safety):
    model = _crossed(safety)
    panel = _panel(client_for(safety).get(f"/models/{model.slug}/").content.decode())
    box = panel.split("Why scaling is paused", 1)[1]
    first = re.search(r"<li[^>]*>(.*?)</li>", box, re.S)
    assert first is not None
    text = re.sub(r"<[^>]+>", " ", first.group(1))
    assert "CBRN-3" in text and "crossed" in text
    assert "ASL-3-S" in text  # what the crossing requires for scaling
    assert box.index("CBRN-3") < box.index("No approved scaling decision")


def test_the_dashboard_and_the_dossier_name_the_crossing(safety, rso, ceo):
    model = _crossed(safety)
    dashboard = client_for(safety).get("/").content.decode()
    assert "CBRN-3 crossed → ASL-3-S: 5 to verify" in dashboard
    sign_required_reports(model, safety, rso, ceo)
    decision = services.request_decision(model, 2e24, "Asking early.", safety)
    page = client_for(rso).get(f"/decisions/{decision.pk}/").content.decode()
    assert "CBRN-3 crossed → ASL-3-S: 5 to verify" in page


def test_the_api_reason_carries_the_threshold(safety):
    model = _crossed(safety)
    response = bearer(safety, ["gate:read"]).get(f"/api/v1/models/{model.slug}/gate/")
    assert response.status_code == 200
    reasons = response.json()["reasons"]
    assert any(
        r["code"] == "safeguard_missing" and r["threshold"] == "CBRN-3" and r["standard"]
        for r in reasons
    )


def test_the_schema_documents_the_reasons_fields():
    from pathlib import Path

    import yaml

    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text()
    )
    reason = schema["components"]["schemas"]["Reason"]["properties"]
    for field in ("code", "message", "threshold", "standard", "requirement", "metric"):
        assert field in reason, field
    assert "raised" in reason["threshold"]["description"]
