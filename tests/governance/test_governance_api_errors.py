"""The governance API answers service refusals through the one exception handler."""

from __future__ import annotations

import inspect

import pytest

from governance import services
from governance.api import views
from tests.conftest import client_for
from tests.governance_fixtures import activate_default_policy, baseline, make_model

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def test_the_governance_api_has_no_error_wrapper_of_its_own():
    source = inspect.getsource(views)
    assert "APIException" not in source
    assert "_call(" not in source


def test_a_second_signature_by_the_same_person_is_a_409_with_the_errors_shape(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "below every line", safety)
    url = f"/api/v1/decisions/{decision.pk}/approve/"
    payload = {"dossier_sha256": decision.dossier_sha256, "comment": ""}
    client = client_for(rso)
    assert client.post(url, payload, content_type="application/json").status_code == 200
    again = client.post(url, payload, content_type="application/json")
    assert again.status_code == 409, again.content
    body = again.json()
    assert set(body) == {"errors", "code"} and body["code"] == "conflict"
    assert all(isinstance(m, str) for ms in body["errors"].values() for m in ms)


def test_a_refused_request_is_a_400_naming_the_field(safety):
    activate_default_policy()
    make_model()
    response = client_for(safety).post(
        "/api/v1/decisions/",
        {"model": "atlas", "compute_limit": 2e24, "rationale": "   "},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"errors", "code"}
