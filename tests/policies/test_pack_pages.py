"""Issue 24 obs 5 (pages): sources and pack choices shown, any two packs compared, the
framework history with its sections, tiers kept apart, marks linked to their evidence."""

from __future__ import annotations

import pytest
from django.utils.html import escape

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


def test_framework_history_renders_every_loosening_and_tightening_with_its_section(safety):
    """RSP v1.0 → v3.4: every change the page lists (computed from the packs, or read from the
    text where no field holds it) is rendered with the section it cites, never as a pack
    choice; and each v3.x revision shows what its text changed."""
    response = client_for(safety).get("/policy/history/", {"family": "anthropic-rsp"})
    assert response.status_code == 200
    body = response.content.decode()
    steps = {s["new"]["source"]["version"]: s for s in response.context["steps"]}
    for version, step in steps.items():
        shown = step["loosenings"] + step["tightenings"]
        read = step["text_loosenings"] + step["text_others"]
        assert shown or read, f"v{version}: the history shows no change"
        for row in shown:
            assert row["source"] and row["source"] != "pack choice", (version, row["key"])
            assert escape(row["why"]) in body and escape(row["source"]) in body
        for change in read:
            assert change["source"].startswith(f"RSP v{version} ")
            assert escape(change["change"]) in body and escape(change["source"]) in body
    # What each revision's text changed, in the list its direction puts it in.
    text = {
        v: {c["source"]: c["direction"] for c in steps[v]["new"]["source"].get("changes", [])}
        for v in ("2.0", "2.1", "2.2", "3.1", "3.2", "3.3", "3.4")
    }
    # v2.2's only change, to the insiders of the ASL-3 Security threat model, is a loosening.
    assert text["2.2"] == {"RSP v2.2 §4.2; Changelog ('ASL-3 Security')": "loosening"}
    assert "mixed" in text["2.1"].values()  # the ASL-N+1 commitment traded for reevaluation
    assert list(text["2.0"].values()).count("loosening") == 3
    assert text["3.1"]["RSP v3.1 §3.4(2)"] == "loosening"  # no longer separate reviewers
    assert text["3.2"] == {
        "RSP v3.2 §3.6": "tightening",  # the LTBT may request external review
        "RSP v3.2 §3.6.1": "tightening",  # the LTBT approves the reviewers
        "RSP v3.2 §4.2": "tightening",  # regular LTBT briefings
    }
    assert text["3.3"]["RSP v3.3 §1 table, row 2"] == "mixed"  # novel chem/bio redefined
    assert text["3.3"]["RSP v3.3 §3.1"] == "loosening"  # internal scope narrowed
    assert text["3.4"]["RSP v3.4 §1 table, row 4"] == "loosening"  # acceleration bar raised
    assert text["3.4"]["RSP v3.4 §4.3"] == "loosening"  # unredacted to >= 200 employees
    assert text["3.4"]["RSP v3.4 §3.5"] == "tightening"  # redactions disclosed
    assert [c["source"] for c in steps["3.4"]["text_loosenings"]] == [
        "RSP v3.4 §1 table, row 4",
        "RSP v3.4 §3.1",
        "RSP v3.4 §4.3",
    ]
    # The computed diff still carries what the data holds: v3.3's new chem/bio wording.
    assert any(
        row["key"] == "CB-NOVEL" and row["field"] == "description"
        for row in steps["3.3"]["tightenings"]
    )


def test_compare_keeps_tiers_apart_within_a_domain(safety):
    """Obs 5: OpenAI's research category Nuclear and Radiological sits in the CBRN row next to
    the tracked Biological and Chemical category, each with its own tier, never merged."""
    response = client_for(safety).get(
        "/policy/compare/", {"a": "default", "b": "openai-preparedness-v2"}
    )
    assert response.status_code == 200
    (cbrn,) = [row for row in response.context["framework"]["domains"] if row.category == "cbrn"]
    assert cbrn.new is not None
    assert cbrn.new.domain_tiers["NUCLEAR-RADIOLOGICAL"] == "research"
    assert set(cbrn.new.domain_tiers.values()) == {"tracked", "research"}
    body = response.content.decode()
    assert '<code>NUCLEAR-RADIOLOGICAL</code> <span class="badge">research</span>' in body


def test_compare_marks_invented_cadences_and_z_as_pack_choices(safety):
    """Obs 5: the cadence and uncertainty_z a text does not give are shown as the pack's
    choice beside the value, and never listed among the lab's loosenings."""
    response = client_for(safety).get("/policy/compare/", {"a": "default", "b": "gdm-fsf-v3"})
    assert response.status_code == 200
    rows = {row["key"]: row for row in response.context["settings"]}
    assert rows["uncertainty_z"]["other_source"] == "pack choice"
    assert rows["uncertainty_z"]["active_source"] == "pack choice"
    assert rows["months_between_assessments"]["other_source"] == "pack choice"
    assert rows["months_between_assessments"]["active_source"] == "RSP v2.2 §3.1"
    loosenings = response.context["framework"]["loosenings"]
    assert not [c for c in loosenings if c.key in {"uncertainty_z", "months_between_assessments"}]
    body = response.content.decode()
    assert body.count('<span class="badge warning"') >= 2
