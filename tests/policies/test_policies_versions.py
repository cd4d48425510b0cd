"""Policy versions: loading packs, activation, immutability (ORM and database), export."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.models import AuditEntry
from core import events
from policies import services
from policies.demo import seed_demo
from policies.models import (
    CapabilityThreshold,
    FrozenPolicyError,
    Indicator,
    Metric,
    PolicyVersion,
    SafeguardRequirement,
    SafetyLevel,
)
from policies.packs import (
    PACKS_DIR,
    SHIPPED_PACKS,
    PackError,
    content_sha256,
    load_pack_file,
    parse_pack,
    validate_pack,
)
from tests.conftest import guards_enforced

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def default_pack() -> dict[str, Any]:
    return load_pack_file("default")


def entry_data(entry: AuditEntry) -> dict[str, Any]:
    return json.loads(bytes(entry.body))["data"]


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_each_shipped_pack_loads_activates_exports_and_reloads_equal(name, rso):
    pack = load_pack_file(name)
    version = services.load_pack(pack, actor=None)
    assert version.status == PolicyVersion.Status.DRAFT
    assert version.content_sha256 == content_sha256(pack)
    services.activate(version, rso)
    version.refresh_from_db()
    assert version.status == PolicyVersion.Status.ACTIVE
    # The new fields live in their own columns, not only in the exported dict.
    assert version.uncertainty_z == pack["settings"]["uncertainty_z"]
    assert version.advisory_titles == pack["settings"]["advisory_titles"]
    assert dict(Metric.objects.filter(version=version).values_list("key", "min_samples")) == {
        m["key"]: m["min_samples"] for m in pack["metrics"]
    }
    assert {
        code: (tier, halt)
        for code, tier, halt in CapabilityThreshold.objects.filter(version=version).values_list(
            "code", "tier", "halt"
        )
    } == {t["code"]: (t["tier"], t["halt"]) for t in pack["thresholds"]}
    exported = services.to_pack(services.active_policy())
    assert exported == pack
    assert validate_pack(exported, "x") == pack
    assert content_sha256(exported) == version.content_sha256

    text = services.export(version)
    reparsed = parse_pack(text, f"{name}.yaml")
    assert reparsed == pack
    # Loading the export again finds the same version rather than duplicating it.
    again = services.load_pack(reparsed)
    assert again.pk == version.pk and again.newly_loaded is False
    assert PolicyVersion.objects.count() == 1


# ------------------------------------------------------------------- load_policy command


def counts() -> dict[str, int]:
    models = (PolicyVersion, SafetyLevel, Metric, CapabilityThreshold, Indicator)
    return {
        **{model.__name__: model.objects.count() for model in models},
        "audit": AuditEntry.objects.count(),
    }


def raw_default() -> dict[str, Any]:
    return yaml.safe_load((PACKS_DIR / "default.yaml").read_text(encoding="utf-8"))


def _unknown_metric(data: dict[str, Any]) -> None:
    data["thresholds"][0]["indicators"][0]["metric"] = "cbrn.no_such_metric"


def _warning_past_critical(data: dict[str, Any]) -> None:
    data["thresholds"][0]["indicators"][0]["warning"] = 0.9  # critical is 0.5, higher = worse


def _unknown_level(data: dict[str, Any]) -> None:
    data["standards"][0]["level"] = "ASL-9"


def _duplicate_code(data: dict[str, Any]) -> None:
    data["thresholds"][1]["code"] = data["thresholds"][0]["code"]


def _adviser_also_signs(data: dict[str, Any]) -> None:
    data["settings"]["advisory_titles"] = ["CEO"]


def _uncertainty_out_of_range(data: dict[str, Any]) -> None:
    data["settings"]["uncertainty_z"] = 7


def _uncertainty_not_finite(data: dict[str, Any]) -> None:
    data["settings"]["uncertainty_z"] = float("inf")


def _zero_min_samples(data: dict[str, Any]) -> None:
    data["metrics"][0]["min_samples"] = 0


def _fractional_min_samples(data: dict[str, Any]) -> None:
    data["metrics"][0]["min_samples"] = 12.5


def _unknown_tier(data: dict[str, Any]) -> None:
    data["thresholds"][0]["tier"] = "yellow"


def _halting_early_warning(data: dict[str, Any]) -> None:
    assert data["thresholds"][4]["tier"] == "early_warning"
    data["thresholds"][4]["halt"] = True


BROKEN = [
    (_unknown_metric, "thresholds[0].indicators[0].metric", "unknown metric"),
    (_warning_past_critical, "thresholds[0].indicators[0].warning", "must be below critical"),
    (_unknown_level, "standards[0].level", "unknown level"),
    (_duplicate_code, "thresholds[1].code", "duplicate threshold code"),
    (_adviser_also_signs, "settings.advisory_titles[0]", "also a sign-off title"),
    (_uncertainty_out_of_range, "settings.uncertainty_z", "between 0 and 5"),
    (_uncertainty_not_finite, "settings.uncertainty_z", "finite"),
    (_zero_min_samples, "metrics[0].min_samples", "positive number of samples"),
    (_fractional_min_samples, "metrics[0].min_samples", "whole number"),
    (_unknown_tier, "thresholds[0].tier", "must be one of red_line, early_warning"),
    (_halting_early_warning, "thresholds[4].halt", "cannot halt"),
]


@pytest.mark.parametrize(("breaks", "location", "problem"), BROKEN)
def test_load_policy_refuses_a_broken_pack_naming_the_location(tmp_path, breaks, location, problem):
    services.load_pack(default_pack(), activate=True)
    before = counts()
    data = raw_default()
    breaks(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was loaded"):
        call_command("load_policy", str(path), "--activate", stderr=err, stdout=io.StringIO())
    assert f"broken.yaml: {location}: " in err.getvalue()
    assert problem in err.getvalue()
    assert counts() == before


@pytest.mark.parametrize(("breaks", "location", "problem"), BROKEN)
def test_load_pack_refuses_a_broken_pack_before_touching_the_database(breaks, location, problem):
    services.load_pack(default_pack(), activate=True)
    before = counts()
    data = raw_default()
    breaks(data)
    with pytest.raises(PackError) as info:
        services.load_pack(data, activate=True)
    assert any(loc == f"<pack>: {location}" and problem in msg for loc, msg in info.value.errors)
    assert counts() == before
    assert PolicyVersion.objects.active().get().content_sha256 == content_sha256(default_pack())


def test_load_policy_refuses_bad_yaml_with_line_and_column(tmp_path):
    before = counts()
    path = tmp_path / "bad.yaml"
    path.write_text("key: default\nname: [unclosed\nversion: '1'\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stderr=err, stdout=io.StringIO())
    assert "bad.yaml: line " in err.getvalue()
    assert "YAML syntax error" in err.getvalue()
    assert counts() == before


def test_load_policy_refuses_an_unknown_shipped_name():
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", "no-such-pack", stderr=err, stdout=io.StringIO())
    assert "no-such-pack: no shipped pack of that name" in err.getvalue()
    assert PolicyVersion.objects.count() == 0


def test_load_policy_loads_activates_and_prints_version_and_hash():
    out = io.StringIO()
    call_command("load_policy", "default", "--activate", stdout=out)
    version = PolicyVersion.objects.get()
    assert version.status == PolicyVersion.Status.ACTIVE
    assert f"#{version.pk}" in out.getvalue()
    assert f"sha256={version.content_sha256}" in out.getvalue()
    assert version.content_sha256 == content_sha256(default_pack())


def test_loading_the_same_content_twice_reuses_the_version():
    call_command("load_policy", "default", stdout=io.StringIO())
    out = io.StringIO()
    call_command("load_policy", "default", stdout=out)
    assert "no new version created" in out.getvalue()
    assert PolicyVersion.objects.count() == 1
    assert AuditEntry.objects.filter(action="policy.load").count() == 1


def test_reloading_a_superseded_policy_creates_a_new_draft(rso):
    first = services.load_pack(default_pack(), activate=True)
    changed = default_pack()
    changed["version"] = "2.2-portal.next"
    services.activate(services.load_pack(changed), rso)
    rollback = services.load_pack(default_pack())
    assert rollback.pk != first.pk and rollback.newly_loaded is True
    assert rollback.status == PolicyVersion.Status.DRAFT
    assert rollback.content_sha256 == first.content_sha256


def test_load_policy_activate_with_a_non_leadership_actor_is_refused(safety):
    before = counts()
    with pytest.raises(CommandError, match="role does not allow"):
        call_command(
            "load_policy", "default", "--activate", "--actor", "safety", stdout=io.StringIO()
        )
    assert counts() == before  # the load rolled back with the refused activation


def test_export_policy_writes_the_active_version(tmp_path, rso):
    version = services.load_pack(default_pack(), activate=True)
    out = io.StringIO()
    call_command("export_policy", stdout=out)
    assert parse_pack(out.getvalue(), "export.yaml") == default_pack()
    target = tmp_path / "out.yaml"
    call_command(
        "export_policy", "--version", str(version.pk), "--output", str(target), stderr=io.StringIO()
    )
    assert parse_pack(target.read_text(encoding="utf-8"), "out.yaml") == default_pack()
    exports = AuditEntry.objects.filter(action="policy.export")
    assert exports.count() == 2
    assert entry_data(exports.first())["content_sha256"] == version.content_sha256


def test_export_policy_without_active_version_fails_cleanly():
    with pytest.raises(CommandError, match="no policy version is active"):
        call_command("export_policy", stdout=io.StringIO())


def test_seed_demo_activates_the_default_pack_once():
    seed_demo(io.StringIO())
    seed_demo(io.StringIO())
    version = PolicyVersion.objects.get()
    assert version.status == PolicyVersion.Status.ACTIVE
    assert version.key == "default"


# -------------------------------------------------------------------------- activation


def test_activation_supersedes_and_is_audited_with_the_hash(rso):
    first = services.load_pack(default_pack(), activate=True)
    changed = default_pack()
    changed["version"] = "2.2-portal.next"
    second = services.load_pack(changed, actor=None)
    services.activate(second, rso)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == PolicyVersion.Status.SUPERSEDED
    assert second.status == PolicyVersion.Status.ACTIVE
    assert second.activated_by == rso and second.activated_at is not None
    entry = AuditEntry.objects.filter(action="policy.activate").order_by("-seq").first()
    data = entry_data(entry)
    assert data["content_sha256"] == second.content_sha256 == content_sha256(changed)
    assert data["version"] == second.pk
    assert data["previous_version"] == first.pk
    assert entry.actor == "rso"
    load = AuditEntry.objects.filter(action="policy.load", object_id=str(second.pk)).get()
    assert entry_data(load)["content_sha256"] == second.content_sha256


def test_safety_cannot_activate_through_the_service(safety):
    draft = services.load_pack(default_pack())
    with pytest.raises(PermissionDenied):
        services.activate(draft, safety)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT


def test_activation_handlers_run_inside_the_transaction_with_the_actor(rso):
    seen: list[tuple[int, bool, object]] = []

    def hook(version: PolicyVersion, actor: object) -> None:
        seen.append((version.pk, connection.in_atomic_block, actor))

    draft = services.load_pack(default_pack())
    with events.replaced(services.POLICY_ACTIVATED, hook):
        services.activate(draft, rso)
    assert seen == [(draft.pk, True, rso)]


def test_a_failing_hook_rolls_the_activation_back(rso):
    def hook(version: PolicyVersion, actor: object) -> None:
        raise RuntimeError("recompute failed")

    first = services.load_pack(default_pack(), activate=True)
    changed = default_pack()
    changed["version"] = "2.2-portal.next"
    draft = services.load_pack(changed)
    audit_before = AuditEntry.objects.count()
    with events.replaced(services.POLICY_ACTIVATED, hook), pytest.raises(RuntimeError):
        services.activate(draft, rso)
    assert PolicyVersion.objects.get(pk=first.pk).status == PolicyVersion.Status.ACTIVE
    assert PolicyVersion.objects.get(pk=draft.pk).status == PolicyVersion.Status.DRAFT
    assert AuditEntry.objects.count() == audit_before


def test_only_a_draft_can_be_activated(rso):
    version = services.load_pack(default_pack(), activate=True)
    with pytest.raises(services.ActivationError, match="only a draft"):
        services.activate(version, rso)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda v: setattr(v, "advisory_titles", ["RSO"]), "also a sign-off title"),
        (lambda v: setattr(v, "uncertainty_z", 9.0), "between 0 and 5"),
    ],
)
def test_a_draft_edited_into_an_invalid_policy_is_not_activated(rso, edit, problem):
    draft = services.load_pack(default_pack())
    edit(draft)
    draft.save()
    with pytest.raises(services.ActivationError, match=problem):
        services.activate(draft, rso)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT


def test_an_early_warning_edited_to_halt_is_not_activated(rso):
    draft = services.load_pack(default_pack())
    CapabilityThreshold.objects.filter(version=draft, code="AUTONOMY-CHECKPOINT").update(halt=True)
    with pytest.raises(services.ActivationError, match="cannot halt"):
        services.activate(draft, rso)
    assert PolicyVersion.objects.active().count() == 0


# ---------------------------------------------------------------- one active, immutable


def test_a_second_active_version_is_impossible_in_the_database():
    first = services.load_pack(default_pack(), activate=True)
    changed = default_pack()
    changed["version"] = "other"
    draft = services.load_pack(changed)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyVersion.objects.filter(pk=draft.pk).update(status=PolicyVersion.Status.ACTIVE)
    assert PolicyVersion.objects.active().get().pk == first.pk


def test_the_model_refuses_to_edit_an_active_version():
    version = services.load_pack(default_pack(), activate=True)
    version.effective_compute_multiple = 10.0
    with pytest.raises(FrozenPolicyError, match="effective_compute_multiple"):
        version.save()
    fresh = PolicyVersion.objects.get(pk=version.pk)
    fresh.signoff_titles.remove("CEO")  # changed in place: still caught
    with pytest.raises(FrozenPolicyError, match="signoff_titles"):
        fresh.save()
    with pytest.raises(FrozenPolicyError):
        fresh.delete()


def test_the_model_refuses_to_edit_parts_of_an_active_version():
    version = services.load_pack(default_pack(), activate=True)
    indicator = Indicator.objects.filter(version=version).first()
    indicator.critical = 0.99
    with pytest.raises(FrozenPolicyError):
        indicator.save()
    with pytest.raises(FrozenPolicyError):
        SafeguardRequirement.objects.filter(version=version).delete()
    with pytest.raises(FrozenPolicyError):
        Metric.objects.filter(version=version).update(max=100)
    level = SafetyLevel.objects.filter(version=version).first()
    with pytest.raises(FrozenPolicyError):
        SafetyLevel(version=version, code="ASL-9", rank=9, name="new").save()
    with pytest.raises(FrozenPolicyError):
        level.delete()


def test_a_draft_stays_editable():
    draft = services.load_pack(default_pack())
    draft.name = "Renamed draft"
    draft.save()
    metric = Metric.objects.filter(version=draft).first()
    metric.name = "renamed"
    metric.save()
    services.refresh_draft_hash(draft)
    assert draft.content_sha256 != content_sha256(default_pack())


def _raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_database_refuses_to_edit_an_active_version():
    version = services.load_pack(default_pack(), activate=True)
    for sql in (
        "UPDATE policies_policyversion SET effective_compute_multiple = 100 WHERE id = %s",
        "UPDATE policies_policyversion SET signoff_titles = '[]' WHERE id = %s",
        "UPDATE policies_policyversion SET uncertainty_z = 0 WHERE id = %s",
        "UPDATE policies_policyversion SET advisory_titles = '[\"RSO\"]' WHERE id = %s",
        "UPDATE policies_metric SET min_samples = 1 WHERE version_id = %s",
        "UPDATE policies_capabilitythreshold SET tier = 'early_warning' WHERE version_id = %s",
        "UPDATE policies_capabilitythreshold SET halt = true WHERE version_id = %s",
        "UPDATE policies_policyversion SET status = 'draft' WHERE id = %s",
        "DELETE FROM policies_policyversion WHERE id = %s",
        "UPDATE policies_indicator SET critical = 0.99 WHERE version_id = %s",
        "DELETE FROM policies_safeguardrequirement WHERE version_id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match=r"immutable|cannot be deleted"),
            guards_enforced(),
            transaction.atomic(),
        ):
            _raw(sql, [version.pk])
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        _raw(
            "INSERT INTO policies_riskdomain (version_id, code, name, tier) "
            "VALUES (%s, 'NEW', 'new', 'tracked')",
            [version.pk],
        )
    stored = PolicyVersion.objects.get(pk=version.pk)
    assert stored.effective_compute_multiple == 4.0
    assert Indicator.objects.filter(version=version, critical=0.99).count() == 0


def test_the_database_allows_supersession_and_draft_edits():
    version = services.load_pack(default_pack(), activate=True)
    _raw("UPDATE policies_policyversion SET status = 'superseded' WHERE id = %s", [version.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        _raw("UPDATE policies_policyversion SET status = 'active' WHERE id = %s", [version.pk])
    draft = services.load_pack({**default_pack(), "version": "draft"})
    _raw("UPDATE policies_indicator SET critical = 0.99 WHERE version_id = %s", [draft.pk])
    _raw("DELETE FROM policies_indicator WHERE version_id = %s", [draft.pk])
    assert Indicator.objects.filter(version=draft).count() == 0
