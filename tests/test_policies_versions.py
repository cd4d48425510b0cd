"""Policy versions: loading packs, activation, immutability (ORM and database), export."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from policies import services
from policies.models import (
    PolicyVersion,
)
from policies.packs import SHIPPED_PACKS, content_sha256, load_pack_file, parse_pack, validate_pack

pytestmark = pytest.mark.django_db


def default_pack() -> dict[str, Any]:
    return load_pack_file("default")


def entry_data(entry: AuditEntry) -> dict[str, Any]:
    import json

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
