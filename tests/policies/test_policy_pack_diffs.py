"""Diffs between policy packs: which changes loosen a policy, including the newer fields.

No database.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.diff import diff_policies
from policies.packs import (
    load_pack_file,
    validate_pack,
)
from tests.pack_fixtures import indicator_of, standard_of, threshold_of


@pytest.fixture
def default_pack() -> dict[str, Any]:
    return load_pack_file("default")


def test_diff_of_a_pack_with_itself_is_empty(default_pack: dict[str, Any]) -> None:
    diff = diff_policies(default_pack, copy.deepcopy(default_pack))
    assert diff.changes == []
    assert not diff
    assert diff.to_dict() == {
        "changes": [],
        "summary": {"added": 0, "removed": 0, "changed": 0, "loosenings": 0},
    }


def test_diff_flags_six_weakenings_and_nothing_else(default_pack: dict[str, Any]) -> None:
    # The shipped default only notifies on warnings; start from a stricter variant so the
    # sixth weakening (require_safeguards -> notify) exists.
    old = copy.deepcopy(default_pack)
    old["settings"]["warning_behaviour"] = "require_safeguards"
    new = copy.deepcopy(old)
    indicator_of(new, "CBRN-3", "cbrn.vct_accuracy")["critical"] = 0.6
    asl3s = standard_of(new, "ASL-3-S")
    asl3s["requirements"] = [
        r for r in asl3s["requirements"] if r["code"] != "ASL3S.insider_controls"
    ]
    new["settings"]["effective_compute_multiple"] = 6.0
    new["settings"]["signoff_titles"] = ["CEO"]
    new["settings"]["warning_behaviour"] = "notify"
    new["thresholds"] = [t for t in new["thresholds"] if t["code"] != "AIRD-5"]
    new = validate_pack(new, "weakened.yaml")  # the weakened copy is still a valid pack

    diff = diff_policies(old, new)

    flagged = {(c.section, c.key, c.field, c.kind) for c in diff.loosenings}
    assert flagged == {
        ("indicators", "CBRN-3/cbrn.vct_accuracy", "critical", "changed"),
        ("requirements", "ASL3S.insider_controls", None, "removed"),
        ("settings", "effective_compute_multiple", None, "changed"),
        ("settings", "signoff_titles", None, "changed"),
        ("settings", "warning_behaviour", None, "changed"),
        ("thresholds", "AIRD-5", None, "removed"),
    }
    assert len(diff.changes) == 6  # nothing else changed at all
    critical = next(c for c in diff.changes if c.section == "indicators")
    assert (critical.old, critical.new) == (0.5, 0.6)
    assert "triggers later" in critical.why
    assert diff.to_dict()["summary"] == {
        "added": 0,
        "removed": 2,
        "changed": 4,
        "loosenings": 6,
    }


def test_diff_does_not_flag_tightenings(default_pack: dict[str, Any]) -> None:
    new = copy.deepcopy(default_pack)
    indicator_of(new, "CBRN-3", "cbrn.vct_accuracy")["critical"] = 0.45
    indicator_of(new, "CBRN-3", "cbrn.protocol_error_rate")["critical"] = 0.3  # lower-is-more
    standard_of(new, "ASL-3-S")["requirements"].append(
        {"code": "ASL3S.honeypots", "title": "Honeypots", "evidence": ""}
    )
    threshold_of(new, "AUTONOMY-CHECKPOINT")["requires"]["deployment"] = ["ASL-3-S"]
    new["settings"]["effective_compute_multiple"] = 3.0
    new["settings"]["months_between_assessments"] = 3
    new["settings"]["signoff_titles"] = ["RSO", "CEO", "BOARD"]
    new["settings"]["warning_behaviour"] = "require_safeguards"
    new = validate_pack(new, "tightened.yaml")

    diff = diff_policies(default_pack, new)

    assert len(diff.changes) == 8
    assert diff.loosenings == []


def test_indicator_loosening_is_direction_aware(default_pack: dict[str, Any]) -> None:
    new = copy.deepcopy(default_pack)
    # Lower-is-more-capable: lowering the red line means it triggers later.
    indicator_of(new, "CBRN-3", "cbrn.protocol_error_rate")["critical"] = 0.1
    indicator_of(new, "CBRN-3", "cbrn.protocol_error_rate")["warning"] = None
    [critical, warning] = diff_policies(default_pack, new).changes
    assert (critical.field, critical.loosening) == ("critical", True)
    assert (warning.field, warning.loosening, warning.why) == (
        "warning",
        True,
        "warning line removed",
    )


def test_diff_flags_structural_loosenings(default_pack: dict[str, Any]) -> None:
    new = copy.deepcopy(default_pack)
    new["standards"] = [s for s in new["standards"] if s["code"] != "ASL-4-D"]
    threshold_of(new, "CBRN-4")["requires"]["deployment"] = ["ASL-4-S"]
    standard_of(new, "ASL-3-D")["includes"] = []
    new["settings"]["baseline_standards"] = ["ASL-2-S"]
    new["settings"]["months_between_assessments"] = 12
    new["settings"]["safeguard_reapproval_months"] = 24
    cbrn3 = threshold_of(new, "CBRN-3")
    cbrn3["indicators"] = [i for i in cbrn3["indicators"] if i["metric"] != "cbrn.uplift_ratio"]
    metric = next(m for m in new["metrics"] if m["key"] == "cyber.ctf_solve_rate")
    metric["higher_is_more_capable"] = False

    diff = diff_policies(default_pack, new)

    assert {(c.section, c.key, c.field) for c in diff.loosenings} == {
        ("standards", "ASL-4-D", None),
        ("thresholds", "CBRN-4", "requires.deployment"),
        ("standards", "ASL-3-D", "includes"),
        ("settings", "baseline_standards", None),
        ("settings", "months_between_assessments", None),
        ("settings", "safeguard_reapproval_months", None),
        ("indicators", "CBRN-3/cbrn.uplift_ratio", None),
        ("metrics", "cyber.ctf_solve_rate", "higher_is_more_capable"),
    }
    assert len(diff.changes) == len(diff.loosenings)  # requirements fold into the standard


def test_whole_entities_added_or_removed_say_so_and_only_some_removals_loosen(
    default_pack: dict[str, Any],
) -> None:
    new = copy.deepcopy(default_pack)
    gone = {"levels": "ASL-4", "domains": "CYBER", "metrics": "cyber.ctf_solve_rate"}
    for section, code in gone.items():
        ident = "key" if section == "metrics" else "code"
        new[section] = [e for e in new[section] if e[ident] != code]
    new["thresholds"] = [t for t in new["thresholds"] if t["code"] != "CBRN-4"]
    new["standards"] = [s for s in new["standards"] if s["code"] != "ASL-4-D"]
    new["levels"].append({"code": "ASL-9", "rank": 9, "name": "Nine", "description": ""})

    whys = {
        (c.kind, c.section, c.key): (c.why, c.loosening)
        for c in diff_policies(default_pack, new).changes
    }

    assert whys[("removed", "levels", "ASL-4")] == ("level removed", False)
    assert whys[("removed", "domains", "CYBER")] == ("domain removed", False)
    assert whys[("removed", "metrics", "cyber.ctf_solve_rate")] == ("metric removed", False)
    assert whys[("added", "levels", "ASL-9")] == ("level added", False)
    requirements = len(standard_of(default_pack, "ASL-4-D")["requirements"])
    assert whys[("removed", "standards", "ASL-4-D")] == (
        f"standard removed with its {requirements} requirement{'' if requirements == 1 else 's'}",
        True,
    )
    indicators = len(threshold_of(default_pack, "CBRN-4")["indicators"])
    assert whys[("removed", "thresholds", "CBRN-4")] == (
        f"threshold removed with its {indicators} indicator{'' if indicators == 1 else 's'}",
        True,
    )


def test_moving_a_requirement_down_the_includes_chain_is_not_a_loosening(
    default_pack: dict[str, Any],
) -> None:
    new = copy.deepcopy(default_pack)
    asl3s, asl2s = standard_of(new, "ASL-3-S"), standard_of(new, "ASL-2-S")
    moved = next(r for r in asl3s["requirements"] if r["code"] == "ASL3S.insider_controls")
    asl3s["requirements"].remove(moved)
    asl2s["requirements"].append(moved)  # ASL-3-S includes ASL-2-S: still required

    [change] = diff_policies(default_pack, new).changes
    assert (change.section, change.field, change.loosening) == ("requirements", "standard", False)

    [back] = diff_policies(new, default_pack).changes  # and up the chain is a loosening
    assert back.loosening is True


# ---------------------------------------------------------------- diffs of the new fields


def _flagged(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(c.section, c.key, c.field) for c in diff_policies(old, new).loosenings}


def test_diff_flags_a_lowered_uncertainty_z_and_not_a_raised_one(
    default_pack: dict[str, Any],
) -> None:
    lower = copy.deepcopy(default_pack)
    lower["settings"]["uncertainty_z"] = 1.0
    [change] = diff_policies(default_pack, lower).changes
    assert (change.section, change.key, change.loosening) == ("settings", "uncertainty_z", True)
    assert (change.old, change.new) == (1.645, 1.0)
    assert "crossed later" in change.why
    higher = copy.deepcopy(default_pack)
    higher["settings"]["uncertainty_z"] = 2.0
    [change] = diff_policies(default_pack, higher).changes
    assert change.loosening is False


@pytest.mark.parametrize(
    ("old", "new", "loosening"),
    [(20, 10, True), (20, None, True), (20, 30, False), (None, 5, False)],
)
def test_diff_flags_fewer_min_samples(
    default_pack: dict[str, Any], old: int | None, new: int | None, loosening: bool
) -> None:
    before, after = copy.deepcopy(default_pack), copy.deepcopy(default_pack)
    next(m for m in before["metrics"] if m["key"] == "cbrn.uplift_ratio")["min_samples"] = old
    next(m for m in after["metrics"] if m["key"] == "cbrn.uplift_ratio")["min_samples"] = new
    [change] = diff_policies(before, after).changes
    assert (change.section, change.key, change.field) == (
        "metrics",
        "cbrn.uplift_ratio",
        "min_samples",
    )
    assert change.loosening is loosening


def test_diff_flags_a_red_line_demoted_to_an_early_warning(default_pack: dict[str, Any]) -> None:
    new = copy.deepcopy(default_pack)
    threshold_of(new, "CBRN-3")["tier"] = "early_warning"
    [change] = diff_policies(default_pack, new).changes
    assert (change.key, change.field, change.old, change.new) == (
        "CBRN-3",
        "tier",
        "red_line",
        "early_warning",
    )
    assert change.loosening is True
    assert "no longer pauses" in change.why
    # Promoting the autonomy checkpoint to a red line is a tightening.
    promoted = copy.deepcopy(default_pack)
    threshold_of(promoted, "AUTONOMY-CHECKPOINT")["tier"] = "red_line"
    assert [c.loosening for c in diff_policies(default_pack, promoted).changes] == [False]


def test_diff_flags_a_halt_removed_and_not_a_halt_added() -> None:
    openai = load_pack_file("openai-preparedness-v2")
    new = copy.deepcopy(openai)
    threshold_of(new, "BIO-CRITICAL")["halt"] = False
    [change] = diff_policies(openai, new).changes
    assert (change.key, change.field, change.loosening) == ("BIO-CRITICAL", "halt", True)
    assert "halt removed" in change.why
    [back] = diff_policies(new, openai).changes
    assert back.loosening is False


def test_diff_flags_a_sign_off_moved_to_an_advisory_role(default_pack: dict[str, Any]) -> None:
    new = copy.deepcopy(default_pack)
    new["settings"]["signoff_titles"] = ["CEO"]
    new["settings"]["advisory_titles"] = ["RSO"]
    new = validate_pack(new, "demoted.yaml")
    changes = {c.key: c for c in diff_policies(default_pack, new).changes}
    assert set(changes) == {"signoff_titles", "advisory_titles"}
    assert changes["signoff_titles"].loosening is True
    assert "RSO now only advises" in changes["signoff_titles"].why
    assert changes["advisory_titles"].loosening is False  # an adviser added is not weaker


def test_diff_flags_an_adviser_dropped_but_not_one_promoted_to_sign_off() -> None:
    openai = load_pack_file("openai-preparedness-v2")
    dropped = copy.deepcopy(openai)
    dropped["settings"]["advisory_titles"] = []
    assert _flagged(openai, dropped) == {("settings", "advisory_titles", None)}
    promoted = copy.deepcopy(openai)
    promoted["settings"]["signoff_titles"] = ["CEO", "SAG"]
    promoted["settings"]["advisory_titles"] = ["BOARD-SSC"]
    promoted = validate_pack(promoted, "promoted.yaml")
    diff = diff_policies(openai, promoted)
    assert len(diff.changes) == 2 and diff.loosenings == []
    advisory = next(c for c in diff.changes if c.key == "advisory_titles")
    assert "SAG now signs off" in advisory.why


def test_diff_flags_every_new_kind_of_loosening_at_once() -> None:
    old = load_pack_file("openai-preparedness-v2")
    new = copy.deepcopy(old)
    new["settings"]["uncertainty_z"] = 0.0
    new["settings"]["advisory_titles"] = []
    next(m for m in new["metrics"] if m["key"] == "cyber.range_end_to_end")["min_samples"] = None
    next(m for m in new["metrics"] if m["key"] == "bio.novel_design_expert_rating")[
        "min_samples"
    ] = 3
    threshold_of(new, "CYBER-CRITICAL")["halt"] = False
    threshold_of(new, "SELF-HIGH")["tier"] = "early_warning"
    new = validate_pack(new, "loosened.yaml")
    assert _flagged(old, new) == {
        ("settings", "uncertainty_z", None),
        ("settings", "advisory_titles", None),
        ("metrics", "cyber.range_end_to_end", "min_samples"),
        ("metrics", "bio.novel_design_expert_rating", "min_samples"),
        ("thresholds", "CYBER-CRITICAL", "halt"),
        ("thresholds", "SELF-HIGH", "tier"),
    }
    assert len(diff_policies(old, new).changes) == 6
    # And the way back is all tightening.
    assert diff_policies(new, old).loosenings == []
