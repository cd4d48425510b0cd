"""Packs for every published framework (issue 17) and switching between them.

Every shipped pack already loads, activates, exports and reloads equal in
``test_policies_versions.py`` (parametrised over ``SHIPPED_PACKS``); this file covers what
is particular to the framework packs: risk-domain categories, ``source.notes``, the
``load_policy`` command per pack, and the cross-framework diff by risk domain with its
loosenings (the lists in ``docs/policy-packs.md``, "Switching frameworks").
"""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEntry
from core.services import create_user
from policies import activation, services
from policies.diff import diff_policies
from policies.framework_diff import (
    all_loosenings,
    diff_frameworks,
    is_cross_framework,
    same_publisher,
)
from policies.models import PolicyVersion
from policies.packs import (
    DOMAIN_CATEGORIES,
    SHIPPED_PACKS,
    PackError,
    dump_pack,
    load_pack_file,
    parse_pack,
    validate_pack,
)
from policies.selfassessment import ELEMENTS, computed
from tests.conftest import client_for

FRAMEWORK_PACKS = [
    "anthropic-rsp-v3-0",
    "gdm-fsf-v3-1",
    "meta-frontier-ai-v1",
    "meta-scaling-v2",
    "microsoft-fgf",
    "amazon-fmsf",
]

# Loosenings of default (RSP v2.2) -> each other shipped pack, as (section, key, field).
# docs/policy-packs.md lists them in words; change both together.
EXPECTED_LOOSENINGS: dict[str, set[tuple[str, str, str | None]]] = {
    "openai-preparedness-v2": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "autonomy", "tier"),
        ("domains", "autonomy", "early_warnings"),
        ("domains", "autonomy", "warning_lines"),
    },
    "gdm-fsf-v3": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "autonomy", None),
    },
    # RSP v3.0 (same publisher): the pause removed in every domain, CBRN narrowed to
    # chem/bio, cyber and the autonomy checkpoint dropped, the v2.2 items replaced.
    "anthropic-rsp-v3-0": {
        ("domains", "cbrn", "requires.scaling"),
        ("domains", "cbrn", "hazards"),
        ("domains", "ai_rd", "requires.scaling"),
        ("domains", "ai_rd", "red_lines"),
        ("domains", "cyber", None),
        ("domains", "autonomy", None),
        *(
            ("requirements", code, None)
            for code in (
                "ASL3D.defense_in_depth",
                "ASL3D.monitoring",
                "ASL3D.rapid_remediation",
                "ASL3D.red_teaming",
                "ASL3D.third_party_environments",
                "ASL3D.threat_modeling",
                "ASL3D.trusted_users",
                "ASL3S.audits",
                "ASL3S.insider_controls",
                "ASL3S.security_frameworks",
                "ASL3S.third_party_environments",
                "ASL3S.threat_modeling",
            )
        ),
        *(
            ("standards", code, None)
            for code in (
                "ASL-2-D",
                "ASL-2-S",
                "ASL-3-A",
                "ASL-4-A",
                "ASL-4-D",
                "ASL-4-S",
            )
        ),
        ("standards", "ASL-3-D", "includes"),
        ("standards", "ASL-3-S", "includes"),
        *(
            ("thresholds", code, None)
            for code in (
                "AIRD-4",
                "AIRD-5",
                "AUTONOMY-CHECKPOINT",
                "CBRN-3",
                "CBRN-4",
            )
        ),
    },
    "gdm-fsf-v3-1": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "autonomy", None),
    },
    "meta-frontier-ai-v1": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
        ("domains", "cbrn", "hazards"),
    },
    "meta-scaling-v2": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
        ("domains", "cbrn", "hazards"),
    },
    "microsoft-fgf": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "autonomy", None),
    },
    "amazon-fmsf": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "ai_rd", "red_lines"),
        ("domains", "autonomy", None),
    },
    # Issue 24: earlier versions and xAI.
    "gdm-fsf-v1": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("settings", "effective_compute_multiple", None),  # v1.0's "every 6x"
        ("domains", "autonomy", "early_warnings"),
    },
    "gdm-fsf-v2": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "autonomy", None),
    },
    "openai-preparedness-2023": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "ai_rd", None),  # the Beta's AI R&D sits in Model autonomy
        ("domains", "autonomy", "early_warnings"),
    },
    "xai-rmf-2025-02": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "cbrn", "requires.scaling"),
        ("domains", "cbrn", "warning_lines"),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
    },
    "xai-rmf-2025-08": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "cbrn", "requires.scaling"),
        ("domains", "cbrn", "warning_lines"),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
    },
    "xai-faif-2025-12": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("domains", "cbrn", "red_lines"),
        ("domains", "cbrn", "requires.scaling"),
        ("domains", "cbrn", "warning_lines"),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
    },
    "xai-faif-2026-06": {
        ("settings", "baseline_requirements", None),
        ("settings", "signoff_titles", None),
        ("settings", "noncompliance_recipients", None),
        ("settings", "uncertainty_z", None),
        ("settings", "months_between_assessments", None),  # a yearly full assessment
        ("domains", "cbrn", "red_lines"),
        ("domains", "ai_rd", None),
        ("domains", "autonomy", None),
    },
}


def pack(name: str) -> dict[str, Any]:
    return load_pack_file(name)


def keys(changes: list[Any]) -> set[tuple[str, str, str | None]]:
    return {(change.section, change.key, change.field) for change in changes}


# ----------------------------------------------------------------------------- the packs


def test_framework_packs_are_shipped() -> None:
    assert set(FRAMEWORK_PACKS) <= set(SHIPPED_PACKS)
    assert set(EXPECTED_LOOSENINGS) <= set(SHIPPED_PACKS) - {"default"}


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_every_shipped_pack_maps_every_domain_to_a_category(name: str) -> None:
    domains = pack(name)["domains"]
    assert domains
    assert all(domain["category"] in DOMAIN_CATEGORIES for domain in domains)


@pytest.mark.parametrize("name", FRAMEWORK_PACKS)
def test_each_framework_pack_cites_its_source_and_says_numbers_are_illustrative(
    name: str,
) -> None:
    data = pack(name)
    assert data["source"]["url"].startswith("https://")
    assert data["source"]["notes"], "commitments that are not data belong in source.notes"
    assert "illustrat" in data["disclaimer"].lower()
    assert "NOT any lab's real values" in data["disclaimer"]


@pytest.mark.parametrize("name", FRAMEWORK_PACKS)
def test_each_framework_pack_dumps_and_parses_back_equal(name: str) -> None:
    data = pack(name)
    assert parse_pack(dump_pack(data), f"{name}.yaml") == data


def test_gdm_v3_1_tracked_capability_levels_are_early_warnings() -> None:
    thresholds = {t["code"]: t for t in pack("gdm-fsf-v3-1")["thresholds"]}
    tcls = {code for code, t in thresholds.items() if code.endswith("-TCL")}
    assert tcls == {"CBRN-TCL", "STEALTH-SA-TCL"}  # exactly two in v3.1 (§2.2.1, §3.2.1)
    assert all(thresholds[code]["tier"] == "early_warning" for code in tcls)
    assert all(t["tier"] == "red_line" for code, t in thresholds.items() if code not in tcls)
    # TCLs call for proportionate mitigation: a crossed early warning adds its standards.
    assert pack("gdm-fsf-v3-1")["settings"]["warning_behaviour"] == "require_safeguards"


@pytest.mark.parametrize("name", ["meta-frontier-ai-v1"])  # v2 develops with mitigations
def test_meta_critical_thresholds_halt_and_high_ones_do_not(name: str) -> None:
    data = pack(name)
    for threshold in data["thresholds"]:
        assert threshold["halt"] is threshold["code"].endswith("-CRITICAL"), threshold["code"]
    # Expert-review determinations: a panel below min_samples shows danger, never safety.
    assert all(metric["min_samples"] for metric in data["metrics"])
    assert data["settings"]["advisory_titles"] == ["EXPERT-REVIEW"]


def test_microsoft_leading_indicators_are_one_early_warning_on_six_precursors() -> None:
    data = pack("microsoft-fgf")
    early = [t for t in data["thresholds"] if t["tier"] == "early_warning"]
    assert [t["code"] for t in early] == ["LEADING-INDICATORS"]
    assert len(early[0]["indicators"]) == 6
    assert early[0]["requires"] == {"scaling": [], "deployment": [], "internal_deployment": []}


def test_amazon_has_one_critical_capability_threshold_per_domain() -> None:
    data = pack("amazon-fmsf")
    per_domain = sorted(t["domain"] for t in data["thresholds"])
    assert per_domain == sorted(d["code"] for d in data["domains"])


def test_rsp_v3_keeps_scaling_on_the_asl3_protections_it_maintains_unconditionally() -> None:
    v3 = pack("anthropic-rsp-v3-0")
    red = [t for t in v3["thresholds"] if t["tier"] == "red_line"]
    # No pause beyond the ASL-3 protections v3.0 maintains whatever happens (§1, row 1).
    assert red and all(t["requires"]["scaling"] == ["ASL-3-S"] for t in red)
    assert v3["settings"]["baseline_standards"] == ["ASL-3-D", "ASL-3-S"]
    assert all(t["requires"]["deployment"] for t in red)


@pytest.mark.parametrize("name", FRAMEWORK_PACKS)
def test_no_framework_red_line_leaves_a_scope_undefined(name: str) -> None:
    # An empty requires.<scope> on a red line means "no way past it" to the gate (a halt
    # for that scope); the packs say so explicitly with `halt` instead.
    for threshold in pack(name)["thresholds"]:
        if threshold["tier"] == "red_line":
            assert threshold["requires"]["scaling"], threshold["code"]
            assert threshold["requires"]["deployment"], threshold["code"]


# ------------------------------------------------------------------ format: category, notes


def test_a_domain_category_must_be_known() -> None:
    data = copy.deepcopy(pack("default"))
    data["domains"][0]["category"] = "biology"
    with pytest.raises(PackError) as exc:
        validate_pack(data, "x.yaml")
    assert exc.value.locations == ["x.yaml: domains[0].category"]


def test_a_domain_category_is_optional() -> None:
    data = copy.deepcopy(pack("default"))
    del data["domains"][0]["category"]
    assert validate_pack(data, "x.yaml")["domains"][0]["category"] is None


def test_source_notes_are_strings_and_keep_their_order() -> None:
    data = copy.deepcopy(pack("default"))
    data["source"]["notes"] = ["second", "first"]
    assert validate_pack(data, "x.yaml")["source"]["notes"] == ["second", "first"]
    data["source"]["notes"] = ["ok", 3]
    with pytest.raises(PackError) as exc:
        validate_pack(data, "x.yaml")
    assert exc.value.locations == ["x.yaml: source.notes[1]"]


def test_a_category_change_shows_in_the_version_diff() -> None:
    old = pack("default")
    new = copy.deepcopy(old)
    new["domains"][0]["category"] = "other"
    (change,) = diff_policies(old, new).changes
    assert (change.section, change.field, change.loosening) == ("domains", "category", False)


# ------------------------------------------------------------------- cross-framework diff


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_a_pack_against_itself_has_no_finding(name: str) -> None:
    data = pack(name)
    assert diff_frameworks(data, data).changes == []
    assert all_loosenings(data, data) == []


@pytest.mark.parametrize("name", sorted(EXPECTED_LOOSENINGS))
def test_default_to_each_other_pack_flags_exactly_the_documented_loosenings(name: str) -> None:
    old, new = pack("default"), pack(name)
    assert is_cross_framework(old, new)
    assert keys(all_loosenings(old, new)) == EXPECTED_LOOSENINGS[name]


def test_rsp_v2_2_to_v3_shows_the_pause_commitment_removed_domain_by_domain() -> None:
    result = diff_frameworks(pack("default"), pack("anthropic-rsp-v3-0"))
    assert result.old_framework == "Anthropic Responsible Scaling Policy 2.2"
    assert result.new_framework == "Anthropic Responsible Scaling Policy 3.0"
    rows = {row.category: row for row in result.domains}
    assert rows["cbrn"].old is not None and rows["cbrn"].new is not None
    assert rows["cbrn"].old.scaling_standards == ["ASL-3-S", "ASL-4-S"]
    assert rows["cbrn"].new.scaling_standards == ["ASL-3-S"]  # the baseline
    assert rows["cbrn"].new.scaling_beyond_baseline == []
    assert rows["cbrn"].old.scaling_beyond_baseline == ["ASL-3-S", "ASL-4-S"]
    assert rows["misalignment"].old is None  # v3.0's high-stakes sabotage threshold is new
    (scaling,) = [c for c in result.loosenings if c.key == "cbrn" and c.field == "requires.scaling"]
    assert "no longer stops scaling" in scaling.why
    assert scaling.source == "RSP v3.0 §1 table, row 1, RSP v3.0 §1 table, row 2"
    # Same publisher: item codes carry over, so the item loosenings are listed too.
    assert same_publisher(pack("default"), pack("anthropic-rsp-v3-0"))


@pytest.mark.parametrize(
    ("old", "new"),
    [("gdm-fsf-v3", "gdm-fsf-v3-1"), ("xai-rmf-2025-08", "xai-faif-2025-12")],
)
def test_successor_versions_loosen_nothing(old: str, new: str) -> None:
    assert all_loosenings(pack(old), pack(new)) == []


def test_across_publishers_item_codes_are_not_compared() -> None:
    old, new = pack("default"), pack("amazon-fmsf")
    assert not same_publisher(old, new)
    # Item by item every default threshold is "removed"; by domain only what is real.
    assert len(diff_policies(old, new).loosenings) > len(all_loosenings(old, new))
    assert all(c.section in ("settings", "domains") for c in all_loosenings(old, new))


def test_an_empty_requires_counts_as_gating_not_as_freedom() -> None:
    old = pack("amazon-fmsf")
    new = copy.deepcopy(old)
    new["key"] = "amazon-edited"
    for threshold in new["thresholds"]:
        threshold["requires"]["scaling"] = []
    # Nothing loosened: with no standard defined the gate cannot let scaling past at all.
    assert diff_frameworks(old, validate_pack(new, "x")).loosenings == []
    assert diff_frameworks(old, new).domains[0].new.undefined_scaling == ["CBRN-CCT"]  # type: ignore[union-attr]


def test_dropping_a_halt_or_a_domain_is_flagged() -> None:
    # Meta v2 develops with mitigations at Critical; give the old side v1's halts.
    old = copy.deepcopy(pack("meta-scaling-v2"))
    for threshold in old["thresholds"]:
        threshold["halt"] = threshold["code"].endswith("-CRITICAL")
    old = validate_pack(old, "x")
    new = copy.deepcopy(old)
    new["key"] = "meta-edited"
    for threshold in new["thresholds"]:
        threshold["halt"] = False
    new["thresholds"] = [t for t in new["thresholds"] if t["domain"] != "LOSS-OF-CONTROL"]
    new["metrics"] = [m for m in new["metrics"] if m["domain"] != "LOSS-OF-CONTROL"]
    new["domains"] = [d for d in new["domains"] if d["code"] != "LOSS-OF-CONTROL"]
    found = keys(diff_frameworks(old, validate_pack(new, "x")).loosenings)
    assert found == {
        ("domains", "cbrn", "halts"),
        ("domains", "cyber", "halts"),
        ("domains", "misalignment", None),
    }


def test_a_domain_without_category_is_matched_by_its_code() -> None:
    old = copy.deepcopy(pack("default"))
    for domain in old["domains"]:
        domain["category"] = None
    new = copy.deepcopy(old)
    new["key"] = "renamed"
    assert diff_frameworks(old, new).changes == []
    assert {row.category for row in diff_frameworks(old, new).domains} == {
        "domain:AIRD",
        "domain:AUTONOMY",
        "domain:CBRN",
        "domain:CYBER",
    }


# --------------------------------------------------------------------- database, commands


pytestdb = pytest.mark.django_db


@pytestdb
@pytest.mark.parametrize("name", FRAMEWORK_PACKS)
def test_load_policy_loads_and_activates_each_framework_pack(name: str) -> None:
    out = io.StringIO()
    call_command("load_policy", name, "--activate", stdout=out)
    text = out.getvalue()
    assert "Loaded policy version" in text and "Activated policy version" in text
    active = services.active_policy()
    assert active is not None and active.key == name
    assert services.to_pack(active) == pack(name)
    # Export, then load the export: the same version, not a new one.
    exported = io.StringIO()
    call_command("export_policy", stdout=exported)
    again = io.StringIO()
    call_command("load_policy", name, stdout=again)
    assert "no new version created" in again.getvalue()
    assert PolicyVersion.objects.count() == 1


@pytestdb
def test_load_policy_shows_the_loosenings_of_switching_framework() -> None:
    call_command("load_policy", "default", "--activate", stdout=io.StringIO())
    out = io.StringIO()
    call_command("load_policy", "meta-frontier-ai-v1", stdout=out)
    text = out.getvalue()
    assert "switches framework from Anthropic Responsible Scaling Policy 2.2 to Meta" in text
    assert "LOOSENING domains/ai_rd: risk domain no longer covered" in text
    assert "LOOSENING settings/signoff_titles" in text
    # Loading makes a draft; the default stays active until leadership activates.
    assert services.active_policy().key == "default"  # type: ignore[union-attr]


@pytestdb
def test_the_activation_page_lists_cross_framework_loosenings(rso: Any) -> None:
    services.load_pack(pack("default"), activate=True)
    draft = services.load_pack(pack("amazon-fmsf"))
    response = client_for(rso).get(f"/policy/versions/{draft.pk}/activate/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "switches frameworks" in body
    assert "risk domain no longer covered" in body
    assert "fewer red lines (2 → 1)" in body
    assert "CBRN weapons" in body  # the by-domain table


@pytestdb
def test_the_diff_page_and_api_compare_across_frameworks(auditor: Any) -> None:
    old = services.load_pack(pack("default"), activate=True)
    new = services.load_pack(pack("microsoft-fgf"))
    client = client_for(auditor)
    page = client.get(f"/policy/diff/?from={old.pk}&to={new.pk}")
    assert page.status_code == 200
    assert "Across frameworks" in page.content.decode()
    api = client.get(f"/api/v1/policy/diff/?from={old.pk}&to={new.pk}")
    assert api.status_code == 200
    framework = api.json()["framework"]
    assert framework["new_framework"] == "Microsoft Frontier Governance Framework 1"
    assert {row["category"] for row in framework["domains"]} >= {"cbrn", "cyber", "general"}
    assert framework["summary"]["loosenings"] == len(EXPECTED_LOOSENINGS["microsoft-fgf"])
    same = client.get(f"/api/v1/policy/diff/?from={old.pk}&to={old.pk}")
    assert same.json()["framework"] is None


# ------------------------------------------------------------ activation follows sign-off


@pytestdb
def test_switching_framework_needs_the_sign_off_titles_in_force(rso: Any, ceo: Any) -> None:
    current = services.load_pack(pack("default"), activate=True)
    draft = services.load_pack(pack("amazon-fmsf"))
    # Amazon's own rule (SENIOR-LEADERSHIP) does not apply: the policy in force decides.
    senior = create_user("senior", "leadership", titles=["SENIOR-LEADERSHIP"])
    with pytest.raises(services.ActivationError, match="titles still needed: RSO, CEO"):
        activation.approve_activation(draft, senior)
    assert activation.approve_activation(draft, rso).is_draft
    status = activation.activation_status(draft)
    assert status["rule_version"] == current.pk
    assert [a["title"] for a in status["approvals"]] == ["RSO"]
    assert status["pending_titles"] == ["CEO"]
    activated = activation.approve_activation(draft, ceo)
    assert activated.status == PolicyVersion.Status.ACTIVE
    current.refresh_from_db()
    assert current.status == PolicyVersion.Status.SUPERSEDED


@pytestdb
def test_with_no_policy_in_force_one_leadership_user_activates(rso: Any) -> None:
    draft = services.load_pack(pack("meta-frontier-ai-v1"))
    assert activation.approve_activation(draft, rso).status == PolicyVersion.Status.ACTIVE


@pytestdb
def test_the_activation_page_records_one_approval_at_a_time(rso: Any, ceo: Any) -> None:
    services.load_pack(pack("default"), activate=True)
    draft = services.load_pack(pack("gdm-fsf-v3-1"))
    client = client_for(rso)
    response = client.post(f"/policy/versions/{draft.pk}/activate/", follow=True)
    body = response.content.decode()
    assert "activation still needs: CEO" in body
    assert "RSO: approved by rso" in body and "CEO: pending" in body
    draft.refresh_from_db()
    assert draft.is_draft
    client_for(ceo).post(f"/policy/versions/{draft.pk}/activate/")
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE


# --------------------------------------------------------------------- comparison page


@pytestdb
def test_the_comparison_page_sets_the_active_policy_beside_another_pack(
    auditor: Any, django_assert_max_num_queries: Any
) -> None:
    services.load_pack(pack("default"), activate=True)
    client = client_for(auditor)
    response = client.get("/policy/compare/?pack=meta-scaling-v2")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Meta Advanced AI Scaling Framework 2" in body
    assert "SENIOR-DECISION-MAKER" in body  # sign-off side by side
    assert "Misalignment and loss of control" in body  # a domain only Meta covers
    assert "risk domain no longer covered" in body
    # Expect at most 12: session, user, roles, header titles, the active version and its
    # seven prefetched children.
    with django_assert_max_num_queries(12):
        client.get("/policy/compare/?pack=meta-scaling-v2")


@pytestdb
def test_the_comparison_downloads_as_csv(auditor: Any) -> None:
    services.load_pack(pack("default"), activate=True)
    response = client_for(auditor).get("/policy/compare/?pack=amazon-fmsf&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "policy-comparison-default-vs-amazon-fmsf.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["section", "risk domain", "policy", "item"]
    amazon = "Amazon Frontier Model Safety Framework 1"
    (signoff,) = [r for r in rows if r[2] == amazon and r[3] == "signoff_titles"]
    assert signoff[0] == "settings" and signoff[8] == "SENIOR-LEADERSHIP"
    cbrn = [r for r in rows if r[1] == "CBRN weapons" and r[2] == amazon]
    assert [r[3].split()[0] for r in cbrn] == ["CBRN-CCT"]
    assert cbrn[0][6] == "CCT-S" and "cbrn.uplift_vs_search" in cbrn[0][8]


@pytestdb
def test_the_comparison_refuses_an_unknown_pack_and_needs_an_active_policy(
    auditor: Any,
) -> None:
    client = client_for(auditor)
    assert client.get("/policy/compare/?pack=amazon-fmsf").status_code == 400
    services.load_pack(pack("default"), activate=True)
    response = client.get("/policy/compare/?pack=nope")
    assert response.status_code == 400
    assert "Unknown pack" in response.content.decode()


@pytestdb
def test_the_comparison_page_redirects_anonymous_to_login() -> None:
    response = Client().get("/policy/compare/")
    assert response.status_code == 302 and "login" in response["Location"]


# --------------------------------------------------------------- METR self-assessment


def test_self_assessment_is_computed_where_the_data_tells() -> None:
    default = computed(pack("default"))
    assert default["capability_thresholds"] == (
        "met",
        "tracked domains with a red line from the text: all 2",
        "RSP v2.2 §2",
    )
    # Obs 5: AI R&D-4 and -5 require an affirmative case to deploy: deployment safeguards.
    assert default["deployment_mitigations"][0] == "met"
    assert default["halt_development"][0] == "met"
    assert default["evaluation_timing"] == (
        "met",
        "every 4.0x effective compute or 6 months",
        "RSP v2.2 §3.1",
    )
    # RSP v3.0 as modelled: no red line stops scaling beyond the baseline.
    assert computed(pack("anthropic-rsp-v3-0"))["halt_development"][0] == "not"
    # Obs 5: a cadence the text does not give never earns a "met".
    assert computed(pack("anthropic-rsp-v3-0"))["evaluation_timing"][0] == "partly"
    # FSF v3.1 folds misalignment into ML R&D: every tracked domain has a red line.
    assert computed(pack("gdm-fsf-v3-1"))["capability_thresholds"][0] == "met"
    people = {e.code for e in ELEMENTS if not e.computable}
    assert people == {"elicitation", "accountability", "policy_updates"}
    assert all(default[code] is None for code in people)


def test_self_assessment_never_marks_from_pack_choices() -> None:
    unsourced = copy.deepcopy(pack("default"))
    for section in ("domains", "thresholds"):
        for item in unsourced[section]:
            item["source"] = "pack choice"
    unsourced["settings"]["sources"] = dict.fromkeys(
        unsourced["settings"]["sources"], "pack choice"
    )
    assert all(mark is None for mark in computed(unsourced).values())


@pytestdb
def test_leadership_records_an_element_with_evidence(rso: Any, auditor: Any, safety: Any) -> None:
    services.load_pack(pack("default"), activate=True)
    page = client_for(auditor).get("/policy/self-assessment/")
    assert page.status_code == 200
    assert "Full capability elicitation" in page.content.decode()
    assert "Record</button>" not in page.content.decode()  # auditors read only
    assert client_for(safety).post("/policy/self-assessment/", {}).status_code == 403
    client = client_for(rso)
    missing = client.post("/policy/self-assessment/", {"element": "elicitation", "status": "met"})
    assert missing.status_code == 400
    assert "needs evidence" in missing.content.decode()
    done = client.post(
        "/policy/self-assessment/",
        {
            "element": "elicitation",
            "status": "partly",
            "evidence_url": "https://evidence.example/elicitation",
            "note": "Fine-tuning not yet in the suite.",
        },
        follow=True,
    )
    body = done.content.decode()
    assert "https://evidence.example/elicitation" in body and "by rso" in body
    assert AuditEntry.objects.filter(action="policy.self_assessment", actor="rso").exists()
