"""Parameters that are empty or repeated, and unknown fields, are refused naming them
(issue 23, observation 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from governance.models import SafeguardRecord
from tests.conftest import bearer, client_for
from tests.governance_fixtures import activate_default_policy, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db: None) -> Any:
    activate_default_policy()
    return make_model()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("scope=", "scope"),
        ("compute=", "compute"),
        ("scope=scaling&scope=deployment", "scope"),
        ("compute=1e24&compute=1e30", "compute"),
        ("scope=deployment&scope=deployment", "scope"),
    ],
)
def test_an_empty_or_repeated_gate_parameter_is_a_400_naming_it(model, pipeline, query, field):
    response = bearer(pipeline).get(f"/api/v1/models/atlas/gate/?{query}")

    assert response.status_code == 400, response.content
    assert field in json.dumps(response.json())


def test_a_single_scope_still_answers(model, pipeline) -> None:
    response = bearer(pipeline).get("/api/v1/models/atlas/gate/?scope=deployment")

    assert response.status_code == 200
    assert response.json()["scope"] == "deployment"


def test_unknown_safeguard_fields_are_refused_naming_them(model, safety) -> None:
    response = client_for(safety).post(
        "/api/v1/models/atlas/safeguards/ASL2S.supply_chain/",
        json.dumps(
            {
                "status": "verified",
                "evidence_url": "https://example.org/a",
                "expires": "2099-01-01",
                "verified_by": "someone",
            }
        ),
        content_type="application/json",
    )

    assert response.status_code == 400, response.content
    body = json.dumps(response.json())
    assert "expires" in body and "verified_by" in body
    assert not SafeguardRecord.objects.exists()
