"""Issue 24, observations 2, 3 and 4: the packs of every lab but Anthropic read from their texts.

Each test states one thing the lab's own text says (or does not say) and checks the pack
against it; the section of the text is named in the test. Pure: no database.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from policies.diff import diff_policies
from policies.framework_diff import all_loosenings
from policies.packs import SHIPPED_PACKS, load_pack_file

GDM = ["gdm-fsf-v1", "gdm-fsf-v2", "gdm-fsf-v3", "gdm-fsf-v3-1"]
OPENAI = ["openai-preparedness-2023", "openai-preparedness-v2"]
XAI = ["xai-rmf-2025-02", "xai-rmf-2025-08", "xai-faif-2025-12", "xai-faif-2026-06"]
META = ["meta-frontier-ai-v1", "meta-scaling-v2"]
OTHERS = [*META, "microsoft-fgf", "amazon-fmsf"]
OURS = [*GDM, *OPENAI, *XAI, *OTHERS]

# The corpus id of each version's primary text (caiitlinm/PRISM, study/corpus/).
DOCUMENTS = {
    "gdm-fsf-v1": "GDM-FSF-v1-0",
    "gdm-fsf-v2": "GDM-FSF-v2-0",
    "gdm-fsf-v3": "GDM-FSF-v3-0",
    "gdm-fsf-v3-1": "GDM-FSF-v3-1",
    "openai-preparedness-2023": "OAI-PF-2023",
    "openai-preparedness-v2": "OAI-PF-v2",
    "xai-rmf-2025-02": "XAI-RMF-2025-02",
    "xai-rmf-2025-08": "XAI-RMF-2025-08",
    "xai-faif-2025-12": "XAI-FAIF-2025",
    "xai-faif-2026-06": "XAI-FAIF-2026",
}
# How each pack's citations begin (the document and version they cite).
CITES = {
    "gdm-fsf-v1": "FSF v1.0",
    "gdm-fsf-v2": "FSF v2.0",
    "gdm-fsf-v3": "FSF v3.0",
    "gdm-fsf-v3-1": "FSF v3.1",
    "openai-preparedness-2023": "PF Beta",
    "openai-preparedness-v2": "PF v2",
    "xai-rmf-2025-02": "RMF draft 2025-02",
    "xai-rmf-2025-08": "RMF 2025-08",
    "xai-faif-2025-12": "FAIF 2025-12",
    "xai-faif-2026-06": "FAIF 2026-06",
}


def pack(name: str) -> dict[str, Any]:
    return load_pack_file(name)


def elements(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every element that carries a ``source``, with a readable location."""
    out: list[tuple[str, dict[str, Any]]] = []
    for section in ("levels", "domains", "report_kinds", "commitments"):
        out += [(f"{section}/{e['code']}", e) for e in data[section]]
    out += [(f"metrics/{m['key']}", m) for m in data["metrics"]]
    for s in data["standards"]:
        out.append((f"standards/{s['code']}", s))
        out += [(f"requirements/{r['code']}", r) for r in s["requirements"]]
    for t in data["thresholds"]:
        out.append((f"thresholds/{t['code']}", t))
        out += [(f"indicators/{t['code']}/{i['metric']}", i) for i in t["indicators"]]
    return out


def thresholds(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["code"]: t for t in data["thresholds"]}


def texts(data: dict[str, Any]) -> str:
    """All the words of a pack's elements (names, titles, descriptions, evidence)."""
    words = []
    for _, element in elements(data):
        for key in ("name", "title", "description", "evidence", "text"):
            words.append(str(element.get(key) or ""))
    return "\n".join(words)


# ------------------------------------------------------------------------ every pack


def test_every_pack_of_this_issue_is_shipped() -> None:
    assert set(OURS) <= set(SHIPPED_PACKS)


@pytest.mark.parametrize("name", OURS)
def test_every_element_and_setting_cites_its_text_or_says_pack_choice(name: str) -> None:
    data = pack(name)
    prefix = CITES.get(name)
    for where, element in elements(data):
        source = element["source"]
        assert source, where
        if prefix is not None:
            # A corpus text: a section of that very version, or the pack's choice.
            assert source == "pack choice" or source.startswith(prefix), (where, source)
    assert set(data["settings"]["sources"]) == {
        "baseline_level",
        "baseline_standards",
        "effective_compute_multiple",
        "months_between_assessments",
        "safeguard_reapproval_months",
        "warning_behaviour",
        "uncertainty_z",
        "signoff_titles",
        "advisory_titles",
    }
    if prefix is not None:
        for key, source in data["settings"]["sources"].items():
            assert source == "pack choice" or source.startswith(prefix), (key, source)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_version_names_its_primary_text(name: str) -> None:
    assert pack(name)["source"]["document"] == DOCUMENTS[name]


@pytest.mark.parametrize("name", OTHERS)
def test_a_pack_without_a_corpus_text_says_so(name: str) -> None:
    data = pack(name)
    assert data["source"]["document"].startswith("not in corpus: ")
    assert any(
        "No primary text" in note and "study corpus" in note for note in data["source"]["notes"]
    )


@pytest.mark.parametrize(
    ("family", "names"),
    [("gdm-fsf", GDM), ("openai-pf", OPENAI), ("xai", XAI), ("meta", META)],
)
def test_each_family_is_ordered_by_the_dates_of_its_texts(family: str, names: list[str]) -> None:
    dates = [pack(name)["source"]["date"] for name in names]
    assert all(pack(name)["family"] == family for name in names)
    assert dates == sorted(dates) and len(set(dates)) == len(dates)


@pytest.mark.parametrize("name", OURS)
def test_indicator_lines_and_metrics_never_claim_a_text_they_do_not_have(name: str) -> None:
    # A line that cites the text must be one the text gives (v1.0's "3X", v2.0's "e.g. 2x",
    # PF v2's "1/5th", xAI's "1 out of 20"); every other line is the pack's choice.
    allowed = {
        ("gdm-fsf-v1", "MLRD-ACCELERATION-1", 3.0),
        ("gdm-fsf-v2", "MLRD-ACCELERATION-1", 2.0),
        ("gdm-fsf-v2", "CYBER-UPLIFT-1", 10.0),
        ("openai-preparedness-v2", "SELF-CRITICAL", 0.2),
        ("xai-rmf-2025-08", "BIOCHEM-ACCEPTANCE", 0.05),
        ("xai-rmf-2025-08", "MASK-ACCEPTANCE", 0.5),
        ("xai-faif-2025-12", "BIOCHEM-ACCEPTANCE", 0.05),
        ("xai-faif-2025-12", "MASK-ACCEPTANCE", 0.5),
    }
    for code, threshold in thresholds(pack(name)).items():
        for indicator in threshold["indicators"]:
            if indicator["source"] != "pack choice" and name != "xai-rmf-2025-02":
                assert (name, code, indicator["critical"]) in allowed, (code, indicator)


# ------------------------------------------------------------- observation 2: GDM FSF


@pytest.mark.parametrize("name", ["gdm-fsf-v3", "gdm-fsf-v3-1"])
def test_gdm_v3_security_requirements_come_from_v3s_levels_not_v1s_ladder(name: str) -> None:
    data = pack(name)
    security = [s for s in data["standards"] if s["kind"] == "security"]
    assert security
    version = CITES[name]
    for standard in security:
        for requirement in standard["requirements"]:
            assert "RAND SL" in requirement["title"], requirement["code"]
            assert requirement["source"].startswith(version), requirement["code"]
    # FSF v1.0's own ladder (controlled access, lockdown, HTDE, advanced protection) is gone.
    words = texts(data).lower()
    for v1_only in ("high-trust developer", "lockdown of unilateral", "slsa build", "tpus with"):
        assert v1_only not in words


def test_gdm_v1_keeps_its_own_security_and_deployment_ladders() -> None:
    data = pack("gdm-fsf-v1")
    codes = {s["code"] for s in data["standards"]}
    assert {"FSF1-SEC-1", "FSF1-SEC-4", "FSF1-DEP-1", "FSF1-DEP-3"} <= codes
    assert "high-trust developer environments" in texts(data)


def test_gdm_v1_maps_no_ccl_to_a_mitigation_level() -> None:
    # v1.0 'Future work': mitigation plans mapping CCLs to levels are still to come, so a
    # crossed CCL pauses until a policy version defines them.
    for threshold in pack("gdm-fsf-v1")["thresholds"]:
        assert threshold["requires"]["scaling"] == []
        assert threshold["requires"]["deployment"] == []
        assert threshold["halt"] is False


def test_gdm_v1_evaluation_cadence_is_v1s_own_and_later_versions_do_not_claim_it() -> None:
    v1 = pack("gdm-fsf-v1")["settings"]
    assert (v1["effective_compute_multiple"], v1["months_between_assessments"]) == (6, 3)
    assert v1["sources"]["effective_compute_multiple"].startswith("FSF v1.0 §2")
    for name in ("gdm-fsf-v2", "gdm-fsf-v3", "gdm-fsf-v3-1"):
        sources = pack(name)["settings"]["sources"]
        assert sources["effective_compute_multiple"] == "pack choice"
        assert sources["months_between_assessments"] == "pack choice"


def test_gdm_v3_cyber_ccl_is_v3s_wording() -> None:
    cyber = thresholds(pack("gdm-fsf-v3"))["CYBER-UPLIFT-1"]
    assert "sufficient uplift with high impact cyber attacks" in cyber["description"]
    assert "additional expected harm at severe scale" in cyber["description"]
    assert "order of magnitude" not in cyber["description"]  # that is FSF v2.0's wording
    assert "order of magnitude" in thresholds(pack("gdm-fsf-v2"))["CYBER-UPLIFT-1"]["description"]


@pytest.mark.parametrize("name", ["gdm-fsf-v3", "gdm-fsf-v3-1"])
def test_gdm_v3_states_no_2x_ml_rd_figure(name: str) -> None:
    data = pack(name)
    assert not re.search(r"\b2\s*[x\u00d7]", texts(data))  # "2x" or "2 times-sign"
    acceleration = thresholds(data)["MLRD-ACCELERATION-1"]
    assert "from historical rates" in acceleration["description"]
    assert all(i["source"] == "pack choice" for i in acceleration["indicators"])
    assert all(i["critical"] != 2 for i in acceleration["indicators"])
    # The "e.g. 2x" is FSF v2.0's, and its pack says so.
    v2 = thresholds(pack("gdm-fsf-v2"))["MLRD-ACCELERATION-1"]
    assert "(e.g. 2x)" in v2["description"]


@pytest.mark.parametrize("name", ["gdm-fsf-v3", "gdm-fsf-v3-1"])
def test_gdm_ml_rd_ccls_gate_internal_deployment(name: str) -> None:
    for code in ("MLRD-ACCELERATION-1", "MLRD-AUTOMATION-1"):
        threshold = thresholds(pack(name))[code]
        assert "SL-3-D" in threshold["requires"]["internal_deployment"], code
    # Misuse CCLs: "required only for external deployment" (v3.0 §1.6).
    assert "internal_deployment" not in thresholds(pack(name))["CBRN-UPLIFT-1"]["requires"] or (
        thresholds(pack(name))["CBRN-UPLIFT-1"]["requires"]["internal_deployment"] == []
    )


def test_gdm_v3_1_has_exactly_two_tcls() -> None:
    data = pack("gdm-fsf-v3-1")
    tcls = {code for code, t in thresholds(data).items() if t["tier"] == "early_warning"}
    assert tcls == {"CBRN-TCL", "STEALTH-SA-TCL"}
    assert thresholds(data)["STEALTH-SA-TCL"]["name"] == "Stealth and Situational Awareness TCL"
    assert not any("ML R&D" in thresholds(data)[code]["name"] for code in tcls)
    assert data["settings"]["warning_behaviour"] == "require_safeguards"


def test_gdm_v3_1_folds_misalignment_into_one_domain_with_ml_rd() -> None:
    data = pack("gdm-fsf-v3-1")
    assert all(d["tier"] != "research" for d in data["domains"])
    assert "exploratory" not in texts(data).replace("(exploratory)", "")
    ts = thresholds(data)
    assert ts["STEALTH-SA-TCL"]["domain"] == ts["MLRD-AUTOMATION-1"]["domain"] == "MLRD"
    (domain,) = [d for d in data["domains"] if d["code"] == "MLRD"]
    assert domain["name"] == "ML R&D and Misalignment"


def test_gdm_v3_1_recommends_security_level_2_plus_for_misuse_ccls() -> None:
    data = pack("gdm-fsf-v3-1")
    assert "SL-2-PLUS" in {level["code"] for level in data["levels"]}
    for code in ("CBRN-UPLIFT-1", "CYBER-UPLIFT-1", "HARMFUL-MANIPULATION-1"):
        threshold = thresholds(data)[code]
        assert threshold["requires"]["scaling"] == ["SL-2-PLUS-S", "SL-2-S"], code
        assert "security level 2+" in threshold["description"].lower()
    # v3.0 recommended plain SL2 for the same CCLs.
    assert thresholds(pack("gdm-fsf-v3"))["CBRN-UPLIFT-1"]["requires"]["scaling"] == ["SL-2-S"]


@pytest.mark.parametrize("name", ["gdm-fsf-v2", "gdm-fsf-v3", "gdm-fsf-v3-1"])
def test_gdm_safety_case_is_reviewed_before_deployment(name: str) -> None:
    (kind,) = pack(name)["report_kinds"]
    assert kind["code"] == "safety_case"
    assert "deployment" in kind["required_for"]
    assert kind["signoff_titles"] == ["GOVERNANCE-FUNCTION"]


@pytest.mark.parametrize("name", ["gdm-fsf-v2", "gdm-fsf-v3", "gdm-fsf-v3-1"])
def test_gdm_government_disclosure_is_a_commitment_as_the_text_says(name: str) -> None:
    commitments = {c["code"]: c for c in pack(name)["commitments"]}
    disclosure = commitments["government-disclosure"]
    assert disclosure["trigger"] == "crossing" and disclosure["gating"] is False


@pytest.mark.parametrize(
    ("old", "new"), [("gdm-fsf-v2", "gdm-fsf-v3"), ("gdm-fsf-v3", "gdm-fsf-v3-1")]
)
def test_gdm_history_shows_what_each_version_changed(old: str, new: str) -> None:
    changes = diff_policies(pack(old), pack(new))
    keys = {(c.section, c.key) for c in changes.loosenings}
    if new == "gdm-fsf-v3":
        # v3.0 dropped Cyber autonomy level 1 and v2.0's "order of magnitude" measure.
        assert ("thresholds", "CYBER-AUTONOMY-1") in keys
    else:
        # v3.1 only adds and strengthens (TCLs, SL2+, residual risk assessments).
        assert changes.loosenings == []


# ------------------------------------------------------ observation 3: OpenAI PF


def test_openai_v2_self_improvement_high_requires_only_security_controls() -> None:
    high = thresholds(pack("openai-preparedness-v2"))["SELF-HIGH"]
    for scope, codes in high["requires"].items():
        assert codes in ([], ["HIGH-S"]), scope
    assert high["requires"]["scaling"] == high["requires"]["deployment"] == ["HIGH-S"]


def test_openai_v2_cyber_high_gates_large_scale_internal_deployment() -> None:
    ts = thresholds(pack("openai-preparedness-v2"))
    assert ts["CYBER-HIGH"]["requires"]["internal_deployment"] == ["HIGH-A", "HIGH-S"]
    assert ts["CYBER-HIGH"]["requires"]["deployment"] == ["HIGH-D", "HIGH-S"]
    assert ts["BIO-HIGH"]["requires"].get("internal_deployment", []) == []


def test_openai_v2_keeps_the_marginal_risk_clause() -> None:
    notes = " ".join(pack("openai-preparedness-v2")["source"]["notes"])
    assert "PF v2 §4.3" in notes
    for condition in ("does not meaningfully increase", "publicly acknowledges", "more protective"):
        assert condition in notes


def test_openai_v2_board_safety_and_security_committee_oversees() -> None:
    settings = pack("openai-preparedness-v2")["settings"]
    assert settings["signoff_titles"] == ["CEO"]
    assert settings["advisory_titles"] == ["SAG", "BOARD-SSC"]
    assert settings["sources"]["advisory_titles"].startswith("PF v2")


def test_openai_v2_capabilities_and_safeguards_reports_go_to_the_sag() -> None:
    kinds = {k["code"]: k for k in pack("openai-preparedness-v2")["report_kinds"]}
    assert set(kinds) == {"capabilities_report", "safeguards_report"}
    assert kinds["capabilities_report"]["source"] == "PF v2 §3.3"
    assert kinds["safeguards_report"]["source"] == "PF v2 §4.2"
    assert all(k["signoff_titles"] == ["SAG"] for k in kinds.values())


def test_openai_v2_research_categories_keep_their_responses() -> None:
    data = pack("openai-preparedness-v2")
    research = {d["name"] for d in data["domains"] if d["tier"] == "research"}
    assert research == {
        "Long-range Autonomy",
        "Sandbagging",
        "Autonomous Replication and Adaptation",
        "Undermining Safeguards",
        "Nuclear and Radiological",
    }
    notes = " ".join(data["source"]["notes"])
    for name in research:
        assert f"{name} ->" in notes, name
    codes = {c["code"] for c in data["commitments"]}
    assert {"misalignment-safeguards-report", "safeguards-case-robust-to-undermining"} <= codes


def test_openai_2x_compute_trigger_is_the_betas() -> None:
    beta = pack("openai-preparedness-2023")["settings"]
    v2 = pack("openai-preparedness-v2")["settings"]
    assert beta["effective_compute_multiple"] == 2
    assert beta["sources"]["effective_compute_multiple"].startswith("PF Beta 'Scorecard")
    assert v2["sources"]["effective_compute_multiple"] == "pack choice"


def test_openai_beta_to_v2_shows_the_halt_added_and_persuasion_dropped() -> None:
    beta, v2 = pack("openai-preparedness-2023"), pack("openai-preparedness-v2")
    assert not any(t["halt"] for t in beta["thresholds"])
    assert all(t["halt"] for t in v2["thresholds"] if t["code"].endswith("-CRITICAL"))
    removed = {c.key for c in diff_policies(beta, v2).loosenings if c.section == "thresholds"}
    assert {"PERSUASION-HIGH", "PERSUASION-CRITICAL"} <= removed


# --------------------------------------------- observation 4: Meta, Microsoft, Amazon, xAI


def test_meta_v2_date_is_8_april_2026() -> None:
    assert pack("meta-scaling-v2")["source"]["date"] == "2026-04-08"


def test_meta_v2_critical_develops_with_mitigations_where_v1_stopped() -> None:
    v1, v2 = pack("meta-frontier-ai-v1"), pack("meta-scaling-v2")
    for code, threshold in thresholds(v1).items():
        assert threshold["halt"] is code.endswith("-CRITICAL"), code
    assert not any(t["halt"] for t in v2["thresholds"])
    for code, threshold in thresholds(v2).items():
        if code.endswith("-CRITICAL"):
            assert "Stop development" not in threshold["description"]
            assert threshold["requires"]["scaling"] == ["CRITICAL-S"]
    # The lab's own change log: "Critical threshold changed from 'Stop' to 'Develop with
    # Mitigations.'" The history shows it as loosenings.
    found = {(c.key, c.field) for c in diff_policies(v1, v2).loosenings}
    assert ("CYBER-CRITICAL", "halt") in found and ("CHEMBIO-CRITICAL", "halt") in found


def test_meta_v2_requires_a_safety_and_preparedness_report_to_deploy() -> None:
    (kind,) = pack("meta-scaling-v2")["report_kinds"]
    assert kind["code"] == "safety_preparedness_report"
    assert kind["required_for"] == ["deployment"]


@pytest.mark.parametrize("name", ["microsoft-fgf", "amazon-fmsf"])
def test_microsoft_and_amazon_state_their_cyber_and_autonomy_definitions(name: str) -> None:
    data = pack(name)
    words = texts(data) + " ".join(data["source"]["notes"])
    assert "not condensed" not in words
    cyber = [t for t in data["thresholds"] if t["domain"] == "CYBER"]
    assert cyber and all(len(t["description"]) > 80 for t in cyber)
    if name == "microsoft-fgf":
        assert "highly disruptive or destructive cyberattacks" in words
        assert "expert-level tasks autonomously, including AI research and development" in words
        assert (
            "fully automate the AI R&D pipeline"
            in thresholds(data)["AUTONOMY-CRITICAL"]["description"]
        )
    else:
        assert (
            "discover new, high-value vulnerabilities"
            in thresholds(data)["CYBER-CCT"]["description"]
        )
        assert "compromise digital systems with the intent to cause harm" in words


def test_xai_texts_are_four_versions_of_one_framework() -> None:
    names = [pack(name)["source"]["framework"] for name in XAI]
    assert names[:2] == ["xAI Risk Management Framework (Draft)", "xAI Risk Management Framework"]
    assert names[2:] == ["xAI Frontier Artificial Intelligence Framework"] * 2


@pytest.mark.parametrize("name", ["xai-rmf-2025-08", "xai-faif-2025-12"])
def test_xai_risk_acceptance_criteria_are_the_texts_lines(name: str) -> None:
    ts = thresholds(pack(name))
    (bio,) = ts["BIOCHEM-ACCEPTANCE"]["indicators"]
    (mask,) = ts["MASK-ACCEPTANCE"]["indicators"]
    assert (bio["critical"], mask["critical"]) == (0.05, 0.5)
    # A crossed criterion makes the deployment unacceptable: no standard lets it past.
    assert ts["BIOCHEM-ACCEPTANCE"]["requires"]["deployment"] == []


def test_xai_2026_drops_the_numeric_criteria_and_the_history_says_so() -> None:
    old, new = pack("xai-faif-2025-12"), pack("xai-faif-2026-06")
    assert {d["code"] for d in new["domains"]} == {
        "CBRN",
        "CYBER",
        "LOSS-OF-CONTROL",
        "MANIPULATION",
    }
    removed = {c.key for c in diff_policies(old, new).loosenings if c.section == "thresholds"}
    assert {"BIOCHEM-ACCEPTANCE", "MASK-ACCEPTANCE"} <= removed
    assert new["settings"]["months_between_assessments"] == 12
    assert new["settings"]["sources"]["months_between_assessments"] == "FAIF 2026-06 §2"


@pytest.mark.parametrize(("old", "new"), [("gdm-fsf-v3", "gdm-fsf-v3-1")])
def test_successor_gdm_version_loosens_nothing_by_domain_either(old: str, new: str) -> None:
    assert all_loosenings(pack(old), pack(new)) == []
