"""Issue 24 obs 1 and obs 5 (Anthropic family): the RSP v3.x packs read as their texts say,
the family's history is its real history, and pack choices are never the lab's."""

from __future__ import annotations

import pytest

from policies.diff import diff_policies
from policies.framework_diff import diff_frameworks
from policies.pack_format import PACK_CHOICE, Pack
from policies.packs import SHIPPED_PACKS, load_pack_file

RSP_FAMILY = [
    "anthropic-rsp-v1-0",
    "anthropic-rsp-v2-0",
    "anthropic-rsp-v2-1",
    "default",
    "anthropic-rsp-v3-0",
    "anthropic-rsp-v3-1",
    "anthropic-rsp-v3-2",
    "anthropic-rsp-v3-3",
    "anthropic-rsp-v3-4",
]
V3 = RSP_FAMILY[4:]


def pack(name: str) -> Pack:
    return load_pack_file(name)


def test_the_family_is_shipped_in_order_with_each_version_and_date() -> None:
    assert [n for n in SHIPPED_PACKS if pack(n)["family"] == "anthropic-rsp"] == RSP_FAMILY
    versions = [pack(n)["source"]["version"] for n in RSP_FAMILY]
    assert versions == ["1.0", "2.0", "2.1", "2.2", "3.0", "3.1", "3.2", "3.3", "3.4"]
    dates = [pack(n)["source"]["date"] for n in RSP_FAMILY]
    assert dates == sorted(dates)
    assert pack("anthropic-rsp-v3-4")["source"]["date"] == "2026-07-08"
    assert pack("default")["source"]["document"] == "ANT-RSP-v2-2"


@pytest.mark.parametrize("name", V3)
def test_v3_has_the_four_row_table_and_no_invented_asl4(name: str) -> None:
    data = pack(name)
    assert {t["code"] for t in data["thresholds"]} == {
        "CB-NONNOVEL",
        "CB-NOVEL",
        "SABOTAGE",
        "AUTOMATED-RD",
    }
    assert all(
        t["source"].startswith(f"RSP v{data['source']['version']} §1 table")
        for t in data["thresholds"]
    )
    # App. B: ASLs label present mitigations only; no ASL-4 mapping is invented.
    assert not [lv for lv in data["levels"] if lv["code"].startswith("ASL-4")]
    assert not [st for st in data["standards"] if st["code"].startswith("ASL-4")]


@pytest.mark.parametrize("name", V3)
def test_v3_maintains_asl3_unconditionally_and_no_report_gates_every_deployment(
    name: str,
) -> None:
    data = pack(name)
    assert data["settings"]["baseline_standards"] == ["ASL-3-D", "ASL-3-S"]
    assert data["settings"]["sources"]["baseline_standards"].endswith("§1 table, row 1")
    (risk_report,) = data["report_kinds"]
    assert risk_report["code"] == "risk_report" and risk_report["required_for"] == []
    # v2.2's 12-month re-approval is not carried over as if the text said it.
    assert data["settings"]["sources"]["safeguard_reapproval_months"] == PACK_CHOICE
    commitments = {c["code"]: c for c in data["commitments"]}
    assert commitments["risk_report_cadence"]["deadline_days"] == 182
    assert commitments["external_review_access"]["deadline_days"] == 7


@pytest.mark.parametrize("name", V3)
def test_the_sabotage_threshold_gates_internal_use(name: str) -> None:
    sabotage = next(t for t in pack(name)["thresholds"] if t["code"] == "SABOTAGE")
    assert sabotage["requires"]["internal_deployment"] == ["PLAN-1-A"]


def test_each_v3_revision_changes_what_its_changelog_says() -> None:
    def threshold(name: str, code: str) -> str:
        return next(t for t in pack(name)["thresholds"] if t["code"] == code)["description"]

    assert "two years of 2018-2024" in threshold("anthropic-rsp-v3-0", "AUTOMATED-RD")
    assert "factor of 5" in threshold("anthropic-rsp-v3-1", "AUTOMATED-RD")
    assert "fastest rate" in threshold("anthropic-rsp-v3-4", "AUTOMATED-RD")
    assert "fastest rate" not in threshold("anthropic-rsp-v3-3", "AUTOMATED-RD")
    assert "COVID-19" in threshold("anthropic-rsp-v3-2", "CB-NOVEL")
    assert "functionally substitute" in threshold("anthropic-rsp-v3-3", "CB-NOVEL")
    notes = " ".join(pack("anthropic-rsp-v3-2")["source"]["notes"])
    assert "LTBT" in notes and "LTBT" not in " ".join(pack("anthropic-rsp-v3-1")["source"]["notes"])
    assert "disclose_redactions" in {c["code"] for c in pack("anthropic-rsp-v3-4")["commitments"]}


def test_v2_2_names_its_reports_and_the_board_before_proceeding() -> None:
    data = pack("default")
    assert {k["code"] for k in data["report_kinds"]} == {"capability_report", "safeguards_report"}
    board = next(c for c in data["commitments"] if c["code"] == "board_ltbt_before_proceeding")
    # Recorded and shown late, not gating: the text asks for the sharing, not a pause.
    assert board["trigger"] == "decision_requested" and not board["gating"]
    assert data["settings"]["sources"]["safeguard_reapproval_months"] == "RSP v2.2 §4.3"


def test_v3_narrowing_cbrn_to_chem_bio_is_noticed() -> None:
    result = diff_frameworks(pack("default"), pack("anthropic-rsp-v3-0"))
    (narrowed,) = [c for c in result.lab_loosenings if c.field == "hazards"]
    assert "radiological, nuclear" in narrowed.why


def test_v3_0_removing_the_pause_is_a_loosening_with_its_section() -> None:
    result = diff_frameworks(pack("default"), pack("anthropic-rsp-v3-0"))
    pause = [c for c in result.lab_loosenings if c.field == "requires.scaling"]
    assert {c.key for c in pause} == {"cbrn", "ai_rd"}
    assert all("RSP v3.0 §1 table" in c.source for c in pause)


def test_pack_choices_are_never_the_labs_loosenings() -> None:
    old, new = pack("anthropic-rsp-v3-0"), pack("default")
    # The illustrative indicator lines differ between v2.2 and v3.0 packs, and so do the
    # pack's cadences; none of it is the lab's loosening.
    changes = diff_policies(new, old).changes
    indicator_changes = [c for c in changes if c.section == "indicators"]
    assert all(c.pack_choice and not c.lab_loosening for c in indicator_changes)
    lowered = dict(pack("default"))
    lowered["settings"] = {**lowered["settings"], "uncertainty_z": 0.5}
    (z,) = [c for c in diff_policies(pack("default"), lowered).changes if c.key == "uncertainty_z"]
    assert z.loosening and z.pack_choice and not z.lab_loosening


def _threshold(name: str, code: str) -> dict[str, object]:
    return dict(next(t for t in pack(name)["thresholds"] if t["code"] == code))


def _commitment(name: str, code: str) -> dict[str, object]:
    return dict(next(c for c in pack(name)["commitments"] if c["code"] == code))


def test_v3_2_reads_its_own_text_not_v3_3s() -> None:
    """v3.2's novel chem/bio row is still 'significantly help ... moderately resourced
    expert-backed teams', the sabotage row keeps its name, the off-cycle analyses compare with
    the most recent Risk Report, and §4.2 (LTBT briefings) moved the governance numbers."""
    novel = str(_threshold("anthropic-rsp-v3-2", "CB-NOVEL")["description"])
    assert "moderately resourced" in novel and "far beyond" in novel
    assert "world-leading" not in novel
    # The expert-substitution metric follows v3.3's wording: no v3.0-v3.2 pack carries it.
    for name in ("anthropic-rsp-v3-0", "anthropic-rsp-v3-1", "anthropic-rsp-v3-2"):
        assert "cb.expert_substitution" not in {m["key"] for m in pack(name)["metrics"]}
    assert _threshold("anthropic-rsp-v3-2", "SABOTAGE")["name"] == (
        "High-stakes sabotage opportunities"
    )
    assert "most recent Risk" in str(
        _commitment("anthropic-rsp-v3-2", "off_cycle_public_model")["text"]
    )
    assert _commitment("anthropic-rsp-v3-2", "noncompliance_board_updates")["source"] == (
        "RSP v3.2 §4.4"
    )
    assert _commitment("anthropic-rsp-v3-2", "procedural_compliance_review")["source"] == (
        "RSP v3.2 §4.7"
    )
    notes = " ".join(pack("anthropic-rsp-v3-2")["source"]["notes"])
    assert "(§3.6.1)" in notes and "(§4.2)" in notes


def test_v3_3_reads_its_revised_chem_bio_row_and_off_cycle_updates() -> None:
    novel = str(_threshold("anthropic-rsp-v3-3", "CB-NOVEL")["description"])
    for words in ("functionally substitute", "world-leading", "comparable to or worse", "millions"):
        assert words in novel
    assert "far beyond" not in novel
    assert "cb.expert_substitution" in {m["key"] for m in pack("anthropic-rsp-v3-3")["metrics"]}
    assert _threshold("anthropic-rsp-v3-3", "SABOTAGE")["name"] == (
        "Misaligned AI systems in high-stakes settings"
    )
    internal = str(_commitment("anthropic-rsp-v3-3", "off_cycle_internal_model")["text"])
    assert "misalignment or automated R&D" in internal
    public = str(_commitment("anthropic-rsp-v3-3", "off_cycle_public_model")["text"])
    assert "publicly analysed" in public and "most recent Risk" not in public


def test_the_automated_rd_row_changes_only_where_its_text_did() -> None:
    """v3.1-v3.3 share one row-4 text ('could lead to even greater acceleration'); v3.4
    compares with the fastest observed rate and asks that the trend 'seems likely' to
    accelerate. The packs' descriptions differ exactly there."""
    rows = {
        v: str(_threshold(f"anthropic-rsp-v3-{v}", "AUTOMATED-RD")["description"]) for v in "1234"
    }
    assert rows["1"] == rows["2"] == rows["3"]
    assert "could lead to even greater acceleration" in rows["3"]
    assert "seems likely to lead to even greater acceleration" in rows["4"]
    assert "three model" in rows["4"] and "three model" not in rows["3"]


@pytest.mark.parametrize("name", V3)
def test_asl_2_is_not_claimed_from_a_text_that_does_not_name_it(name: str) -> None:
    (asl2,) = [lv for lv in pack(name)["levels"] if lv["code"] == "ASL-2"]
    assert asl2["source"] == PACK_CHOICE
    assert not [st for st in pack(name)["standards"] if st["level"] == "ASL-2"]


def test_v3_4_keeps_v3_3s_off_cycle_updates() -> None:
    """v3.4's §3.1 off-cycle paragraph is v3.3's word for word: the packs agree."""
    for code in ("off_cycle_public_model", "off_cycle_internal_model"):
        v33 = _commitment("anthropic-rsp-v3-3", code)
        v34 = _commitment("anthropic-rsp-v3-4", code)
        assert v33["text"] == v34["text"], code
