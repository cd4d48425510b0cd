"""Policy packs: the shipped packs, validation errors, dump round-trip, hashing and the
newer fields. Diffs between packs are in ``tests/policies/test_policy_pack_diffs.py``. No database.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.packs import (
    PACKS_DIR,
    SHIPPED_PACKS,
    PackError,
    content_sha256,
    dump_pack,
    load_pack_file,
    parse_pack,
    validate_pack,
)
from tests.pack_fixtures import threshold_of

DEFAULT_FILE = PACKS_DIR / "default.yaml"


def raw_default() -> dict[str, Any]:
    """The default pack as written (author order), for mutating into broken packs."""
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def errors_of(data: object, filename: str = "default.yaml") -> list[tuple[str, str]]:
    with pytest.raises(PackError) as info:
        validate_pack(data, filename)
    return info.value.errors


def message_at(errors: list[tuple[str, str]], location: str) -> str:
    matches = [message for loc, message in errors if loc == location]
    assert matches, f"no error at {location!r}; got {errors!r}"
    return matches[0]


# ------------------------------------------------------------------------ shipped packs


def test_shipped_packs_list_matches_the_files() -> None:
    assert sorted(path.stem for path in PACKS_DIR.glob("*.yaml")) == sorted(SHIPPED_PACKS)


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_each_shipped_pack_validates_and_round_trips(name: str) -> None:
    pack = load_pack_file(name)

    text = dump_pack(pack)
    again = parse_pack(text, f"{name}.yaml")

    assert again == pack
    assert validate_pack(yaml.safe_load(text), "x.yaml") == pack
    assert dump_pack(again) == text
    assert content_sha256(again) == content_sha256(pack)
    assert len(content_sha256(pack)) == 64


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_each_shipped_pack_names_its_source_and_says_numbers_are_illustrative(
    name: str,
) -> None:
    pack = load_pack_file(name)
    assert pack["source"]["url"].startswith("https://")
    assert pack["source"]["date"][:2] == "20"
    assert "illustrative" in pack["disclaimer"].lower()
    assert "not any lab's real values" in " ".join(pack["disclaimer"].lower().split())
    # The raw file says it too, before any data.
    head = (PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8")[:800]
    assert "ILLUSTRATIVE" in head


def test_default_pack_contents() -> None:
    pack = load_pack_file("default")
    assert [level["code"] for level in pack["levels"]] == [
        "ASL-1",
        "ASL-2",
        "ASL-3",
        "ASL-4",
    ]
    assert [s["code"] for s in pack["standards"]] == [
        "ASL-2-D",
        "ASL-2-S",
        "ASL-3-A",
        "ASL-3-D",
        "ASL-3-S",
        "ASL-4-A",
        "ASL-4-D",
        "ASL-4-S",
    ]
    assert {t["code"] for t in pack["thresholds"]} == {
        "AIRD-4",
        "AIRD-5",
        "AUTONOMY-CHECKPOINT",
        "CBRN-3",
        "CBRN-4",
    }
    assert {d["code"]: d["tier"] for d in pack["domains"]} == {
        "AIRD": "tracked",
        "AUTONOMY": "early_warning",
        "CBRN": "tracked",
        "CYBER": "ongoing_assessment",
    }
    assert {k: v for k, v in pack["settings"].items() if k != "sources"} == {
        "baseline_level": "ASL-2",
        "baseline_standards": ["ASL-2-D", "ASL-2-S"],
        "effective_compute_multiple": 4.0,
        "months_between_assessments": 6,
        "safeguard_reapproval_months": 12,
        "warning_behaviour": "notify",
        "uncertainty_z": 1.645,
        "signoff_titles": ["RSO", "CEO"],
        "advisory_titles": [],
    }
    asl3s = next(s for s in pack["standards"] if s["code"] == "ASL-3-S")
    assert asl3s["includes"] == ["ASL-2-S"]
    assert "ASL3S.insider_controls" in {r["code"] for r in asl3s["requirements"]}
    cbrn3 = next(t for t in pack["thresholds"] if t["code"] == "CBRN-3")
    assert cbrn3["requires"] == {
        "scaling": ["ASL-3-S"],
        "deployment": ["ASL-3-D", "ASL-3-S"],
        "internal_deployment": [],
    }


def test_normalisation_fills_defaults_sorts_and_uses_floats() -> None:
    pack = load_pack_file("default")
    metric = next(m for m in pack["metrics"] if m["key"] == "cbrn.vct_accuracy")
    assert metric["min"] == 0.0 and isinstance(metric["min"], float)
    assert isinstance(pack["settings"]["effective_compute_multiple"], float)
    assert pack["source"]["document"] == "ANT-RSP-v2-2"
    assert [m["key"] for m in pack["metrics"]] == sorted(m["key"] for m in pack["metrics"])
    autonomy = next(t for t in pack["thresholds"] if t["code"] == "AUTONOMY-CHECKPOINT")
    assert autonomy["requires"]["deployment"] == []


def test_hash_ignores_order_and_formatting_of_the_yaml() -> None:
    raw = raw_default()
    shuffled = copy.deepcopy(raw)
    for section in ("levels", "standards", "domains", "metrics", "thresholds"):
        shuffled[section].reverse()
    shuffled["thresholds"][0]["indicators"].reverse()

    assert content_sha256(validate_pack(shuffled, "a.yaml")) == content_sha256(
        validate_pack(raw, "b.yaml")
    )


def test_hash_changes_with_any_content() -> None:
    pack = load_pack_file("default")
    changed = copy.deepcopy(pack)
    changed["disclaimer"] += "."
    assert content_sha256(changed) != content_sha256(pack)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    critical=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    unit=st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
    ).filter(lambda s: s.strip() == s and s.strip()),
)
def test_dump_round_trips_arbitrary_values(critical: float, unit: str) -> None:
    raw = raw_default()
    raw["metrics"][0]["unit"] = unit
    raw["thresholds"][0]["indicators"][0] = {"metric": "cbrn.vct_accuracy", "critical": critical}
    pack = validate_pack(raw, "default.yaml")
    assert parse_pack(dump_pack(pack), "default.yaml") == pack


@pytest.mark.parametrize("char", ["\x85", "\x00", "\u2028", "\x1b"])
def test_control_characters_in_text_are_refused(char: str) -> None:
    raw = raw_default()
    raw["metrics"][0]["unit"] = f"0{char}0"
    with pytest.raises(PackError) as caught:
        validate_pack(raw, "default.yaml")
    assert any("control character" in message for _, message in caught.value.errors)


def test_load_pack_file_accepts_a_path(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text(DEFAULT_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_pack_file(target) == load_pack_file("default")
    assert load_pack_file(str(target)) == load_pack_file("default")


def test_load_pack_file_rejects_an_unknown_shipped_name() -> None:
    with pytest.raises(PackError) as info:
        load_pack_file("no-such-pack")
    assert info.value.errors[0][0] == "no-such-pack"
    assert "default" in info.value.errors[0][1]


# ---------------------------------------------------------------------- error reporting


def test_it_reports_an_unknown_metric_in_an_indicator() -> None:
    raw = raw_default()
    raw["thresholds"][2]["indicators"][0]["metric"] = "aird.no_such_metric"
    message = message_at(errors_of(raw), "default.yaml: thresholds[2].indicators[0].metric")
    assert "unknown metric 'aird.no_such_metric'" in message


def test_it_reports_a_warning_past_critical() -> None:
    raw = raw_default()
    raw["thresholds"][0]["indicators"][0].update(warning=0.6, critical=0.5)
    message = message_at(errors_of(raw), "default.yaml: thresholds[0].indicators[0].warning")
    assert "must be below critical" in message


def test_warning_past_critical_is_direction_aware() -> None:
    raw = raw_default()
    # cbrn.protocol_error_rate is lower-is-more-capable: warning must sit above critical.
    indicator = raw["thresholds"][0]["indicators"][2]
    assert indicator["metric"] == "cbrn.protocol_error_rate"
    indicator.update(warning=0.2, critical=0.25)
    errors = errors_of(raw)
    assert errors == [
        (
            "default.yaml: thresholds[0].indicators[2].warning",
            "must be above critical (0.25): metric 'cbrn.protocol_error_rate' "
            "is lower-is-more-capable",
        )
    ]


def test_it_reports_an_unknown_level() -> None:
    raw = raw_default()
    raw["standards"][4]["level"] = "ASL-9"
    assert errors_of(raw) == [("default.yaml: standards[4].level", "unknown level 'ASL-9'")]


def test_it_reports_a_duplicate_code() -> None:
    raw = raw_default()
    raw["thresholds"][1]["code"] = "CBRN-3"
    message = message_at(errors_of(raw), "default.yaml: thresholds[1].code")
    assert message == "duplicate threshold code 'CBRN-3' (first at thresholds[0].code)"


def test_requirement_codes_are_unique_across_standards() -> None:
    raw = raw_default()
    raw["standards"][3]["requirements"][0]["code"] = "ASL2D.model_card_usage_policy"
    message = message_at(errors_of(raw), "default.yaml: standards[3].requirements[0].code")
    assert message.startswith("duplicate requirement code 'ASL2D.model_card_usage_policy'")


def test_it_reports_bad_yaml_with_line_and_column() -> None:
    text = "key: default\nname: x\n  version: '1'\n"
    with pytest.raises(PackError) as info:
        parse_pack(text, "broken.yaml")
    [(location, message)] = info.value.errors
    assert location == "broken.yaml: line 3, column 10"
    assert message.startswith("YAML syntax error: mapping values are not allowed here")


def test_it_reports_duplicate_yaml_keys_instead_of_keeping_the_last() -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8").replace(
        "  baseline_level: ASL-2\n", "  baseline_level: ASL-2\n  baseline_level: ASL-1\n"
    )
    line = text.splitlines().index("  baseline_level: ASL-1") + 1
    with pytest.raises(PackError) as info:
        parse_pack(text, "default.yaml")
    assert info.value.errors == [
        (f"default.yaml: line {line}, column 3", "duplicate key 'baseline_level'")
    ]


def test_it_reports_an_unknown_standard_in_requires() -> None:
    raw = raw_default()
    raw["thresholds"][0]["requires"]["scaling"] = ["ASL-3-S", "ASL-9-S"]
    assert errors_of(raw) == [
        ("default.yaml: thresholds[0].requires.scaling[1]", "unknown standard 'ASL-9-S'")
    ]


def test_it_reports_an_include_cycle() -> None:
    raw = raw_default()
    raw["standards"][1]["includes"] = ["ASL-3-S"]  # ASL-2-S -> ASL-3-S -> ASL-2-S
    assert errors_of(raw) == [
        ("default.yaml: standards[3].includes[0]", "include cycle: ASL-2-S -> ASL-3-S -> ASL-2-S")
    ]


def test_it_reports_a_standard_including_itself() -> None:
    raw = raw_default()
    raw["standards"][0]["includes"] = ["ASL-2-D"]
    assert errors_of(raw) == [
        ("default.yaml: standards[0].includes[0]", "include cycle: ASL-2-D -> ASL-2-D")
    ]


def _set(path: str, value: object) -> Any:
    """Mutation setting ``a.b[0].c`` in the raw default pack."""

    def mutate(raw: dict[str, Any]) -> None:
        parts = path.replace("]", "").replace("[", ".").split(".")
        target: Any = raw
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        parent, _, last = path.rpartition(".")
        target: Any = raw
        for part in parent.split(".") if parent else []:
            target = target[part]
        del target[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "location", "fragment"),
    [
        (_set("version", 2.2), "version", "must be a string, got a number (quote it"),
        (_delete("settings.signoff_titles"), "settings.signoff_titles", "is required"),
        (_set("settings.colour", "red"), "settings.colour", "unknown key"),
        (_set("levels[1].rank", 1), "levels[1].rank", "duplicate level rank '1'"),
        (_set("levels[0].rank", True), "levels[0].rank", "must be a whole number"),
        (_set("standards[0].kind", "legal"), "standards[0].kind", "must be one of"),
        (_set("standards[2].includes", ["ASL-7-D"]), "standards[2].includes[0]", "unknown"),
        (_set("standards[1].code", "ASL 2 S"), "standards[1].code", "does not match"),
        (_set("domains[0].tier", "watch"), "domains[0].tier", "must be one of"),
        (_set("domains[1].code", "CBRN"), "domains[1].code", "duplicate domain code"),
        (_set("metrics[1].key", "cbrn.vct_accuracy"), "metrics[1].key", "duplicate metric"),
        (_set("metrics[0].domain", "BIO"), "metrics[0].domain", "unknown domain 'BIO'"),
        (_set("metrics[0].min", 1), "metrics[0].max", "must be greater than min"),
        (_set("metrics[0].max", math.inf), "metrics[0].max", "must be a finite number"),
        (_set("metrics[0].higher_is_more_capable", "yes"), "metrics[0].higher_is_more_capable", ""),
        (_set("thresholds[0].domain", "BIO"), "thresholds[0].domain", "unknown domain"),
        (
            _set("thresholds[0].indicators[0].critical", 1.5),
            "thresholds[0].indicators[0].critical",
            "outside the range of metric 'cbrn.vct_accuracy' [0, 1]",
        ),
        (
            _set("thresholds[0].indicators[0].warning", math.nan),
            "thresholds[0].indicators[0].warning",
            "must be a finite number",
        ),
        (
            _set("thresholds[0].indicators[1].metric", "cbrn.vct_accuracy"),
            "thresholds[0].indicators[1].metric",
            "duplicate indicator for metric",
        ),
        (_set("thresholds[0].requires.review", []), "thresholds[0].requires.review", "unknown"),
        (_set("settings.warning_behaviour", "pause"), "settings.warning_behaviour", "one of"),
        (_set("settings.signoff_titles", []), "settings.signoff_titles", "at least one title"),
        (_set("settings.signoff_titles", ["RSO", "RSO"]), "settings.signoff_titles[1]", "dupl"),
        (
            _set("settings.effective_compute_multiple", 1),
            "settings.effective_compute_multiple",
            ">",
        ),
        (_set("settings.months_between_assessments", 0), "settings.months_between_assessments", ""),
        (
            _set("settings.safeguard_reapproval_months", -12),
            "settings.safeguard_reapproval_months",
            "",
        ),
        (_set("settings.baseline_level", "ASL-0"), "settings.baseline_level", "unknown level"),
        (_set("settings.baseline_standards", ["X"]), "settings.baseline_standards[0]", "unknown"),
        (_set("source.date", "14 May 2025"), "source.date", "YYYY-MM-DD"),
        (_set("source.url", "anthropic.com"), "source.url", "does not match"),
        (_set("disclaimer", ""), "disclaimer", "must not be empty"),
    ],
)
def test_it_reports_each_kind_of_problem_at_its_location(
    mutate: Any, location: str, fragment: str
) -> None:
    raw = raw_default()
    mutate(raw)
    message = message_at(errors_of(raw), f"default.yaml: {location}")
    if fragment == ">":
        assert "must be greater than 1" in message
    else:
        assert fragment in message


def test_it_reports_all_problems_at_once() -> None:
    raw = raw_default()
    raw["standards"][4]["level"] = "ASL-9"
    raw["thresholds"][1]["code"] = "CBRN-3"
    raw["thresholds"][2]["indicators"][0]["metric"] = "nope"
    raw["settings"]["warning_behaviour"] = "shrug"
    locations = [location for location, _ in errors_of(raw)]
    assert locations == [
        "default.yaml: standards[4].level",
        "default.yaml: thresholds[1].code",
        "default.yaml: thresholds[2].indicators[0].metric",
        "default.yaml: settings.warning_behaviour",
    ]


def test_a_broken_section_does_not_cascade_into_unknown_references() -> None:
    raw = raw_default()
    raw["metrics"] = "none"
    assert errors_of(raw) == [("default.yaml: metrics", "must be a list, got a string")]


def test_validation_is_idempotent_and_does_not_mutate_its_input() -> None:
    raw = raw_default()
    before = copy.deepcopy(raw)
    pack = validate_pack(raw, "default.yaml")
    assert raw == before
    assert validate_pack(pack, "default.yaml") == pack


# ------------------------------------------- uncertainty, advisers, weak evidence, tiers


def _threshold_index(raw: dict[str, Any], code: str) -> int:
    return next(i for i, t in enumerate(raw["thresholds"]) if t["code"] == code)


def test_new_fields_default_when_a_pack_leaves_them_out() -> None:
    raw = raw_default()
    del raw["settings"]["uncertainty_z"]
    del raw["settings"]["advisory_titles"]
    for metric in raw["metrics"]:
        metric.pop("min_samples", None)
    for threshold in raw["thresholds"]:
        threshold.pop("tier", None)
        threshold.pop("halt", None)
    pack = validate_pack(raw, "default.yaml")
    assert pack["settings"]["uncertainty_z"] == 0.0
    assert isinstance(pack["settings"]["uncertainty_z"], float)
    assert pack["settings"]["advisory_titles"] == []
    assert {m["min_samples"] for m in pack["metrics"]} == {None}
    assert {(t["tier"], t["halt"]) for t in pack["thresholds"]} == {("red_line", False)}


def test_new_fields_are_normalised() -> None:
    raw = raw_default()
    raw["settings"]["uncertainty_z"] = 2  # an integer becomes a float
    raw["settings"]["advisory_titles"] = ["LTBT", "BOARD"]  # author order is kept
    raw["metrics"][0]["min_samples"] = 50.0  # a whole float becomes an int
    raw["thresholds"][0]["halt"] = True
    pack = validate_pack(raw, "default.yaml")
    assert pack["settings"]["uncertainty_z"] == 2.0
    assert isinstance(pack["settings"]["uncertainty_z"], float)
    assert pack["settings"]["advisory_titles"] == ["LTBT", "BOARD"]
    metric = next(m for m in pack["metrics"] if m["key"] == raw["metrics"][0]["key"])
    assert metric["min_samples"] == 50 and isinstance(metric["min_samples"], int)
    assert threshold_of(pack, "CBRN-3")["halt"] is True
    assert list(pack["settings"]) == [
        "baseline_level",
        "baseline_standards",
        "effective_compute_multiple",
        "months_between_assessments",
        "safeguard_reapproval_months",
        "warning_behaviour",
        "uncertainty_z",
        "signoff_titles",
        "advisory_titles",
        "sources",
    ]
    assert list(metric)[-3:] == ["domain", "min_samples", "source"]
    assert list(threshold_of(pack, "CBRN-3"))[4:6] == ["tier", "halt"]
    assert parse_pack(dump_pack(pack), "default.yaml") == pack


@pytest.mark.parametrize("z", [0, 0.0, 1.645, 5, 5.0])
def test_uncertainty_z_accepts_the_closed_range_zero_to_five(z: float) -> None:
    raw = raw_default()
    raw["settings"]["uncertainty_z"] = z
    assert validate_pack(raw, "default.yaml")["settings"]["uncertainty_z"] == float(z)


AUTONOMY = 4  # index of AUTONOMY-CHECKPOINT in default.yaml as written


@pytest.mark.parametrize(
    ("mutate", "location", "fragment"),
    [
        (_set("settings.uncertainty_z", -0.5), "settings.uncertainty_z", "between 0 and 5"),
        (_set("settings.uncertainty_z", 5.01), "settings.uncertainty_z", "between 0 and 5"),
        (_set("settings.uncertainty_z", math.inf), "settings.uncertainty_z", "finite"),
        (_set("settings.uncertainty_z", math.nan), "settings.uncertainty_z", "finite"),
        (_set("settings.uncertainty_z", "1.645"), "settings.uncertainty_z", "must be a number"),
        (_set("settings.uncertainty_z", True), "settings.uncertainty_z", "must be a number"),
        (_set("settings.uncertainty_z", None), "settings.uncertainty_z", "must be a number"),
        (
            _set("settings.advisory_titles", ["SAG", "CEO"]),
            "settings.advisory_titles[1]",
            "'CEO' is also a sign-off title",
        ),
        (_set("settings.advisory_titles", ["SAG", "SAG"]), "settings.advisory_titles[1]", "dupl"),
        (_set("settings.advisory_titles", "SAG"), "settings.advisory_titles", "must be a list"),
        (_set("settings.advisory_titles", [" SAG"]), "settings.advisory_titles[0]", "whitespace"),
        (_set("settings.advisory_titles", [""]), "settings.advisory_titles[0]", "empty"),
        (_set("settings.advisory_titles", [3]), "settings.advisory_titles[0]", "a string"),
        (_set("metrics[0].min_samples", 0), "metrics[0].min_samples", "positive"),
        (_set("metrics[0].min_samples", -10), "metrics[0].min_samples", "positive"),
        (_set("metrics[0].min_samples", 2.5), "metrics[0].min_samples", "whole number"),
        (_set("metrics[0].min_samples", "100"), "metrics[0].min_samples", "whole number"),
        (_set("metrics[0].min_samples", True), "metrics[0].min_samples", "whole number"),
        (_set("metrics[0].min_sample", 10), "metrics[0].min_sample", "unknown key"),
        (_set("thresholds[0].tier", "amber"), "thresholds[0].tier", "must be one of"),
        (_set("thresholds[0].tier", None), "thresholds[0].tier", "must be a string"),
        (_set("thresholds[0].halt", "yes"), "thresholds[0].halt", "true or false"),
        (_set("thresholds[0].halt", 1), "thresholds[0].halt", "true or false"),
        (
            _set(f"thresholds[{AUTONOMY}].halt", True),
            f"thresholds[{AUTONOMY}].halt",
            "an early_warning threshold cannot halt",
        ),
        (_set("standards[0].kind", "governance"), "standards[0].kind", "must be one of"),
    ],
)
def test_it_refuses_each_bad_new_field_at_its_location(
    mutate: Any, location: str, fragment: str
) -> None:
    raw = raw_default()
    assert raw["thresholds"][AUTONOMY]["code"] == "AUTONOMY-CHECKPOINT"
    mutate(raw)
    assert fragment in message_at(errors_of(raw), f"default.yaml: {location}")


def test_an_overlapping_title_is_refused_also_in_yaml_text() -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8").replace(
        "  advisory_titles: []\n", "  advisory_titles: [RSO]\n"
    )
    with pytest.raises(PackError) as info:
        parse_pack(text, "default.yaml")
    assert info.value.errors == [
        (
            "default.yaml: settings.advisory_titles[0]",
            "'RSO' is also a sign-off title; a title signs or advises",
        )
    ]


# ----------------------------------------------------- shipped packs follow the frameworks


def _closure(pack: dict[str, Any], codes: list[str]) -> set[str]:
    standards = {s["code"]: s for s in pack["standards"]}
    seen: set[str] = set()
    todo = list(codes)
    while todo:
        code = todo.pop()
        if code not in seen:
            seen.add(code)
            todo.extend(standards[code]["includes"])
    return seen


def _requirements(pack: dict[str, Any], codes: list[str]) -> set[str]:
    closure = _closure(pack, codes)
    return {r["code"] for s in pack["standards"] if s["code"] in closure for r in s["requirements"]}


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_each_shipped_pack_sets_uncertainty_and_advisers_explicitly(name: str) -> None:
    raw = yaml.safe_load((PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    assert "uncertainty_z" in raw["settings"]
    assert "advisory_titles" in raw["settings"]
    text = (PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("uncertainty_z:"))
    assert lines[at - 1].strip().startswith("#"), "say why next to the value"
    assert "choice" in " ".join(lines[at - 4 : at]), "say it is the pack's choice"
    pack = load_pack_file(name)
    assert 0 < pack["settings"]["uncertainty_z"] <= 5


def test_default_pack_treats_the_autonomy_checkpoint_as_an_early_warning() -> None:
    pack = load_pack_file("default")
    tiers = {t["code"]: t["tier"] for t in pack["thresholds"]}
    assert tiers == {
        "AIRD-4": "red_line",
        "AIRD-5": "red_line",
        "AUTONOMY-CHECKPOINT": "early_warning",
        "CBRN-3": "red_line",
        "CBRN-4": "red_line",
    }
    assert not any(t["halt"] for t in pack["thresholds"])


def test_default_pack_gates_ai_rd_on_an_affirmative_case_and_cbrn_does_not() -> None:
    pack = load_pack_file("default")
    for code, case in (("AIRD-4", "ASL3A.affirmative_case"), ("AIRD-5", "ASL4A.affirmative_case")):
        threshold = threshold_of(pack, code)
        for scope in ("scaling", "deployment"):
            required = _requirements(pack, threshold["requires"][scope])
            assert case in required, (code, scope)
            assert "ASL3S.insider_controls" in required  # and ASL-3 Security (or more)
    assert "ASL3A.affirmative_case" in _requirements(
        pack, threshold_of(pack, "AIRD-5")["requires"]["scaling"]
    )
    kinds = {s["code"]: s["kind"] for s in pack["standards"]}
    assert kinds["ASL-3-A"] == kinds["ASL-4-A"] == "alignment"
    # CBRN-3: "ASL-3 Security alone suffices to continue training" (RSP v2.2 §6.2).
    cbrn3 = threshold_of(pack, "CBRN-3")
    assert not any(
        code.endswith("affirmative_case")
        for scope in ("scaling", "deployment")
        for code in _requirements(pack, cbrn3["requires"][scope])
    )
    assert cbrn3["requires"]["scaling"] == ["ASL-3-S"]


def test_openai_pack_requires_high_security_to_scale_and_halts_at_critical() -> None:
    pack = load_pack_file("openai-preparedness-v2")
    assert pack["settings"]["signoff_titles"] == ["CEO"]
    assert pack["settings"]["advisory_titles"] == ["SAG", "BOARD-SSC"]
    high = [t for t in pack["thresholds"] if t["code"].endswith("-HIGH")]
    critical = [t for t in pack["thresholds"] if t["code"].endswith("-CRITICAL")]
    assert len(high) == len(critical) == 3
    for threshold in high:
        # PF v2 Table 1: security controls for every High; misuse safeguards to deploy
        # except for AI Self-improvement, whose High asks only security controls.
        assert threshold["requires"]["scaling"] == ["HIGH-S"]
        expected = ["HIGH-S"] if threshold["code"] == "SELF-HIGH" else ["HIGH-D", "HIGH-S"]
        assert threshold["requires"]["deployment"] == expected
        assert (threshold["tier"], threshold["halt"]) == ("red_line", False)
    for threshold in critical:
        assert (threshold["tier"], threshold["halt"]) == ("red_line", True)
        assert "halt further development" in threshold["description"].lower()


def test_gdm_pack_does_not_use_the_v1_cadence() -> None:
    pack = load_pack_file("gdm-fsf-v3")
    settings = pack["settings"]
    assert (settings["effective_compute_multiple"], settings["months_between_assessments"]) != (
        6.0,
        3,
    )
    assert settings["effective_compute_multiple"] != 6.0
    assert settings["months_between_assessments"] != 3
    text = (PACKS_DIR / "gdm-fsf-v3.yaml").read_text(encoding="utf-8")
    assert "not in v3" in text  # the pack says why it does not use v1's numbers


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_each_shipped_pack_calls_its_min_samples_illustrative(name: str) -> None:
    text = (PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if "min_samples:" in line]
    assert hits, "each shipped pack shows the field"
    for i in hits:
        assert "ILLUSTRATIVE" in " ".join(lines[max(0, i - 3) : i + 1]), lines[i]
