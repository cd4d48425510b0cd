"""The pack names who receives noncompliance reports (``noncompliance_recipients``): validated,
stored, exported round-trip equal, diffed (a recipient removed is a loosening), cited in every
shipped pack, and the one source of who sees reports and their reporters."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from django.core.cache import cache
from django.test import Client

from policies import services
from policies.diff import diff_policies
from policies.packs import PACKS_DIR, SHIPPED_PACKS, PackError, load_pack_file, validate_pack
from tests.conftest import bearer
from transparency.services import recipient_titles

RSP_V2 = ["default", "anthropic-rsp-v2-0", "anthropic-rsp-v2-1"]
RSP_V3 = [f"anthropic-rsp-v3-{minor}" for minor in range(5)]


def _pack(recipients: Any) -> dict[str, Any]:
    pack = copy.deepcopy(dict(load_pack_file("default")))
    pack["noncompliance_recipients"] = recipients
    return pack


def test_recipients_validate_sorted_with_their_sources() -> None:
    pack = validate_pack(
        _pack([{"title": "RSO", "source": "RSP v2.2 §7.1.5"}, {"title": "CEO"}]), "x.yaml"
    )
    assert pack["noncompliance_recipients"] == [
        {"title": "CEO", "source": "pack choice"},
        {"title": "RSO", "source": "RSP v2.2 §7.1.5"},
    ]


@pytest.mark.parametrize(
    ("recipients", "where"),
    [
        ("RSO", "noncompliance_recipients"),
        ([{"title": ""}], "noncompliance_recipients[0].title"),
        ([{"source": "x"}], "noncompliance_recipients[0]"),
        ([{"title": "RSO", "chain": "x"}], "noncompliance_recipients[0]"),
        ([{"title": "RSO"}, {"title": "RSO"}], "noncompliance_recipients[1].title"),
    ],
)
def test_bad_recipients_are_refused_naming_the_place(recipients: Any, where: str) -> None:
    with pytest.raises(PackError) as refused:
        validate_pack(_pack(recipients), "x.yaml")
    assert any(location.startswith(f"x.yaml: {where}") for location in refused.value.locations)


@pytest.mark.parametrize("name", SHIPPED_PACKS)
def test_every_shipped_pack_names_its_recipients_and_cites_them(name: str) -> None:
    raw = yaml.safe_load((PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    recipients = raw.get("noncompliance_recipients") or []
    assert recipients, f"{name}: no noncompliance_recipients"
    assert all(r.get("source") for r in recipients), f"{name}: a recipient without source"


@pytest.mark.parametrize("name", RSP_V2 + RSP_V3)
def test_rsp_packs_name_the_rso_and_an_executive_outside_its_chain(name: str) -> None:
    recipients = {r["title"]: r["source"] for r in load_pack_file(name)["noncompliance_recipients"]}
    assert set(recipients) == {"RSO", "CEO"}
    sections = ("§7.1.5",) if name in RSP_V2 else ("§4", "§4.4")  # v3.2 numbers §4's parts
    assert recipients["RSO"].rsplit(" ", 1)[1] in sections, recipients


@pytest.mark.django_db
def test_recipients_are_stored_exported_round_trip_and_in_the_policy_api(rso: Any) -> None:
    version = services.load_pack(load_pack_file("default"), activate=True)
    assert services.to_pack(version) == load_pack_file("default")
    listed = bearer(rso).get("/api/v1/policy/").json()["noncompliance_recipients"]
    assert [r["title"] for r in listed] == ["CEO", "RSO"]


def test_removing_a_recipient_is_a_loosening() -> None:
    before = load_pack_file("default")
    after = copy.deepcopy(dict(before))
    after["noncompliance_recipients"] = [
        r for r in after["noncompliance_recipients"] if r["title"] == "RSO"
    ]
    (change,) = diff_policies(before, validate_pack(after, "x.yaml")).changes
    assert change.key == "noncompliance_recipients" and change.loosening
    assert "CEO" in change.why
    (back,) = diff_policies(validate_pack(after, "x.yaml"), before).changes
    assert not back.loosening


@pytest.mark.django_db
def test_the_active_policy_decides_who_sees_reports(rso: Any, ceo: Any) -> None:
    cache.clear()  # the filing below counts against this address's rate
    assert recipient_titles() == frozenset()  # no policy in force: nobody
    filed = Client().post(
        "/api/v1/noncompliance/",
        json.dumps({"summary": "s", "details": "d"}),
        content_type="application/json",
    )
    assert filed.status_code == 201  # a report is still received, never lost
    assert bearer(rso).get("/api/v1/noncompliance/").status_code == 403
    assert "none yet" in Client().get("/transparency/report/").content.decode()

    only_rso = _pack([{"title": "RSO", "source": "RSP v2.2 §7.1.5"}])
    only_rso["version"] = "2.2-portal.rso-only"
    services.load_pack(only_rso, activate=True)
    assert recipient_titles() == frozenset({"RSO"})
    assert bearer(ceo).get("/api/v1/noncompliance/").status_code == 403
    assert bearer(rso).get("/api/v1/noncompliance/").status_code == 200
    page = Client().get("/transparency/report/").content.decode()
    assert "(RSO)" in page and "CEO" not in page

    # Adding a recipient tightens the policy: activated without a further sign-off.
    services.activate(services.load_pack(load_pack_file("default")), rso)
    assert recipient_titles() == frozenset({"RSO", "CEO"})
    assert bearer(ceo).get("/api/v1/noncompliance/").status_code == 200


@pytest.mark.django_db
def test_a_pack_naming_no_recipients_sends_reports_to_its_signoff_titles() -> None:
    pack = copy.deepcopy(dict(load_pack_file("default")))
    del pack["noncompliance_recipients"]
    services.load_pack(pack, activate=True)
    assert recipient_titles() == frozenset({"RSO", "CEO"})
