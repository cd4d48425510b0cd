"""Issue 24 obs 5 (pages): sources and pack choices shown, any two packs compared, the
framework history with its sections, tiers kept apart, marks linked to their evidence."""

from __future__ import annotations

import pytest

from policies import services
from policies.packs import load_pack_file
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_v2_2():
    return services.load_pack(load_pack_file("default"), activate=True)


def test_policy_page_shows_each_source_and_the_pack_choice_notice(safety, active_v2_2):
    body = client_for(safety).get("/policy/").content.decode()
    assert "RSP v2.2 §4.2" in body and 'href="https://www.anthropic.com/rsp"' in body
    assert "pack choice" in body and "illustrative" in body
    assert "/policy/history/" in body and "/policy/compare/" in body


def test_any_two_packs_can_be_compared_without_an_active_policy(safety):
    response = client_for(safety).get(
        "/policy/compare/", {"a": "anthropic-rsp-v1-0", "b": "anthropic-rsp-v3-4"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Responsible Scaling Policy 1.0" in body and "Responsible Scaling Policy 3.4" in body
    assert "RSP v3.4 §1 table, row 3" in body


def test_an_unknown_pack_is_a_clear_400(safety):
    response = client_for(safety).get("/policy/compare/", {"a": "nope", "b": "default"})
    assert response.status_code == 400
    assert "Unknown pack" in response.content.decode()


def test_compare_never_counts_a_pack_choice_as_the_labs_loosening(safety, active_v2_2):
    response = client_for(safety).get("/policy/compare/", {"b": "anthropic-rsp-v3-0"})
    assert response.status_code == 200
    loosenings = response.context["framework"]["loosenings"]
    assert loosenings and not [c for c in loosenings if c.pack_choice]
    assert any(c.field == "hazards" for c in loosenings)  # CBRN narrowed to chem/bio


def test_framework_history_shows_v3_0_removing_the_pause_with_its_section(safety):
    response = client_for(safety).get("/policy/history/", {"family": "anthropic-rsp"})
    assert response.status_code == 200
    steps = response.context["steps"]
    assert [s["new"]["source"]["version"] for s in steps] == [
        "2.0",
        "2.1",
        "2.2",
        "3.0",
        "3.1",
        "3.2",
        "3.3",
        "3.4",
    ]
    v3 = next(s for s in steps if s["new"]["source"]["version"] == "3.0")
    pause = [c for c in v3["loosenings"] if c["field"] == "requires.scaling"]
    assert pause and all("RSP v3.0 §1 table" in c["source"] for c in pause)
    assert not [c for s in steps for c in s["loosenings"] if c["pack_choice"]]
    body = response.content.decode()
    assert "no longer stops scaling" in body and "RSP v3.0 §1 table" in body


def test_an_unknown_family_is_a_clear_400(safety):
    response = client_for(safety).get("/policy/history/", {"family": "acme"})
    assert response.status_code == 400


def test_self_assessment_marks_link_their_evidence(safety, active_v2_2):
    body = client_for(safety).get("/policy/self-assessment/").content.decode()
    assert "Evidence:" in body and "RSP v2.2 §3.1" in body
