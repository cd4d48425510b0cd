"""Issue 24: every element of a shipped pack cites its source; the format's new fields
(``family``, ``settings.sources``, ``report_kinds``, ``commitments``, the
``internal_deployment`` scope) validate, store and export round-trip equal."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from policies import services
from policies.pack_format import PACK_CHOICE, SETTINGS_KEYS
from policies.packs import (
    PACKS_DIR,
    SHIPPED_PACKS,
    PackError,
    dump_pack,
    load_pack_file,
    parse_pack,
    validate_pack,
)


def _elements(raw: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every element that must carry ``source``, with its location."""
    for section in ("levels", "standards", "domains", "metrics", "thresholds"):
        for index, item in enumerate(raw.get(section) or []):
            yield f"{section}[{index}]", item
            children = "requirements" if section == "standards" else "indicators"
            for sub, child in enumerate(
                item.get(children) or []
                if section
                in (
                    "standards",
                    "thresholds",
                )
                else []
            ):
                yield f"{section}[{index}].{children}[{sub}]", child
    for section in ("report_kinds", "commitments"):
        for index, item in enumerate(raw.get(section) or []):
            yield f"{section}[{index}]", item


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_every_element_of_a_shipped_pack_cites_its_source(name: str) -> None:
    raw = yaml.safe_load((PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    missing = [where for where, item in _elements(raw) if not item.get("source")]
    assert missing == [], f"{name}: elements without source: {missing}"
    sources = (raw["settings"] or {}).get("sources") or {}
    assert set(sources) == set(SETTINGS_KEYS), f"{name}: settings.sources incomplete"
    assert raw.get("family"), f"{name}: no family"
    assert raw["source"].get("document"), f"{name}: no source.document"


def test_the_source_test_fails_on_a_pack_missing_one() -> None:
    raw = yaml.safe_load((PACKS_DIR / "default.yaml").read_text(encoding="utf-8"))
    del raw["thresholds"][0]["indicators"][0]["source"]
    assert [where for where, item in _elements(raw) if not item.get("source")] == [
        "thresholds[0].indicators[0]"
    ]


def _with_new_fields() -> dict[str, Any]:
    pack = copy.deepcopy(dict(load_pack_file("default")))
    pack["family"] = "anthropic-rsp"
    pack["thresholds"][0]["requires"]["internal_deployment"] = ["ASL-3-S"]
    pack["report_kinds"] = [
        {
            "code": "risk_report",
            "name": "Risk Report",
            "signoff_titles": ["CEO", "RSO"],
            "required_for": [],
            "source": "RSP v3.0 §3.1",
        }
    ]
    pack["commitments"] = [
        {
            "code": "risk_report_cadence",
            "text": "Publish a Risk Report at least every six months.",
            "trigger": "periodic",
            "deadline_days": 182,
            "gating": True,
            "source": "RSP v3.0 §3.1",
        },
        {
            "code": "external_review_access",
            "text": "External reviewers get access within a week.",
            "trigger": "report_signed",
            "report_kind": "risk_report",
            "deadline_days": 7,
            "source": "RSP v3.0 §3.6",
        },
    ]
    return pack


def test_new_fields_validate_and_dump_round_trip() -> None:
    pack = validate_pack(_with_new_fields(), "x.yaml")
    assert pack["family"] == "anthropic-rsp"
    assert pack["commitments"][0]["code"] == "external_review_access"
    assert pack["commitments"][0]["gating"] is False
    assert pack["commitments"][1]["report_kind"] is None
    assert parse_pack(dump_pack(pack), "x.yaml") == pack


def test_missing_sources_are_pack_choices() -> None:
    raw = yaml.safe_load((PACKS_DIR / "default.yaml").read_text(encoding="utf-8"))
    del raw["settings"]["sources"]
    del raw["levels"][0]["source"]
    pack = validate_pack(raw, "x.yaml")
    assert pack["settings"]["sources"] == dict.fromkeys(SETTINGS_KEYS, PACK_CHOICE)
    assert pack["levels"][0]["source"] == PACK_CHOICE


@pytest.mark.parametrize(
    ("mutate", "location"),
    [
        (lambda p: p.update(family="acme"), "family"),
        (lambda p: p["settings"]["sources"].pop("uncertainty_z"), "settings.sources.uncertainty_z"),
        (lambda p: p["commitments"][0].pop("deadline_days"), "commitments[0].deadline_days"),
        (lambda p: p["commitments"][1].pop("report_kind"), "commitments[1].report_kind"),
        (lambda p: p["commitments"][0].update(trigger="someday"), "commitments[0].trigger"),
        (
            lambda p: p["report_kinds"][0].update(required_for=["x"]),
            "report_kinds[0].required_for[0]",
        ),
        (lambda p: p["levels"][0].update(source=""), "levels[0].source"),
        (
            lambda p: p["thresholds"][0]["requires"].update(internal=["ASL-3-S"]),
            "thresholds[0].requires.internal",
        ),
    ],
)
def test_bad_new_fields_are_named(mutate: Any, location: str) -> None:
    pack = _with_new_fields()
    pack["settings"]["sources"] = dict.fromkeys(SETTINGS_KEYS, PACK_CHOICE)
    mutate(pack)
    with pytest.raises(PackError) as exc:
        validate_pack(pack, "x.yaml")
    assert any(loc.startswith(f"x.yaml: {location}") for loc in exc.value.locations), (
        exc.value.locations
    )


@pytest.mark.django_db
def test_new_fields_are_stored_and_exported_round_trip_equal() -> None:
    pack = validate_pack(_with_new_fields(), "x.yaml")
    version = services.load_pack(pack)
    fresh = services.version_with_children(version.pk)
    assert fresh is not None
    assert services.to_pack(fresh) == pack
    assert parse_pack(services.export(fresh), "x.yaml") == pack


@pytest.mark.django_db
def test_internal_deployment_standards_are_required_to_deploy_by_the_gate() -> None:
    from governance.adapter import snapshot as policy_snapshot

    pack = _with_new_fields()
    threshold = pack["thresholds"][0]
    threshold["requires"]["deployment"] = []
    version = services.load_pack(validate_pack(pack, "x.yaml"), activate=True)
    fresh = services.version_with_children(version.pk)
    assert fresh is not None
    snapshot = policy_snapshot(fresh)
    spec = next(t for t in snapshot.thresholds if t.code == threshold["code"])
    assert "ASL-3-S" in spec.requires("deployment")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"change": "x", "direction": "tightening", "source": PACK_CHOICE}, "must cite"),
        ({"change": "x", "direction": "stricter", "source": "§1"}, "must be one of"),
        ({"change": "x", "source": "§1"}, "is required"),
    ],
)
def test_a_change_read_from_the_text_cites_its_section_and_a_direction(
    change: dict[str, str], message: str
) -> None:
    raw = yaml.safe_load((PACKS_DIR / "anthropic-rsp-v3-2.yaml").read_text(encoding="utf-8"))
    raw["source"]["changes"] = [change]
    with pytest.raises(PackError) as exc:
        validate_pack(raw, "x.yaml")
    assert any(
        loc.startswith("x.yaml: source.changes[0]") and message in text
        for loc, text in exc.value.errors
    ), exc.value.errors


@pytest.mark.django_db
def test_text_changes_are_stored_and_exported_round_trip_equal() -> None:
    pack = load_pack_file("anthropic-rsp-v3-3")
    assert pack["source"].get("changes")
    version = services.load_pack(pack)
    fresh = services.version_with_children(version.pk)
    assert fresh is not None
    assert services.to_pack(fresh) == pack
    assert parse_pack(services.export(fresh), "x.yaml") == pack
    # Packs without any keep their shape (and their content hash).
    assert "changes" not in load_pack_file("gdm-fsf-v3")["source"]
