"""What Schemathesis with every check found (issue 22, observation 9), one case each.

Schema-violating requests are refused naming the parameter (DRF used to ignore them), objects
named in the path or a query that do not exist are a 404, and the API reads JSON only except
for the one file upload, as the schema says.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bearer, client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query",
    ["page_size=null", "page_size=0", "page_size=501", "page_size=5&page_size=6"],
)
def test_a_page_size_the_schema_refuses_is_a_400_naming_it(safety: Any, query: str):
    response = client_for(safety).get(f"/api/v1/results/?{query}")
    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_a_page_size_within_bounds_is_used(safety: Any, ai_model: Any):
    response = client_for(safety).get("/api/v1/models/?page_size=1")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_the_audit_log_refuses_a_bad_page_size_and_an_empty_time_bound(auditor: Any):
    client = client_for(auditor)
    assert client.get("/api/v1/audit/?page_size=abc").status_code == 400
    for name in ("since", "until"):
        response = client.get(f"/api/v1/audit/?{name}=")
        assert response.status_code == 400
        assert name in response.json()["errors"]
    assert client.get("/api/v1/audit/?page_size=5").status_code == 200


@pytest.mark.parametrize("value", ["null", "yes", "2"])
def test_a_boolean_filter_refuses_what_is_not_a_boolean(safety: Any, value: str):
    response = client_for(safety).get(f"/api/v1/results/?current={value}")
    assert response.status_code == 400
    assert "current" in response.json()["errors"]


def test_a_boolean_filter_still_filters(safety: Any):
    for value in ("true", "false", "1", "0"):
        assert client_for(safety).get(f"/api/v1/results/?current={value}").status_code == 200


def test_an_unknown_correction_in_the_path_is_a_404(safety: Any):
    response = client_for(safety).post("/api/v1/corrections/999999/confirm/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_unknown_policy_version_in_a_diff_is_a_404(safety: Any, policy: Any):
    response = client_for(safety).get(f"/api/v1/policy/diff/?from={policy.pk}&to=999999")
    assert response.status_code == 404
    assert "to" in response.json()["errors"]
    bad = client_for(safety).get(f"/api/v1/policy/diff/?from={policy.pk}&to=x")
    assert bad.status_code == 400  # not a version id at all


@pytest.mark.parametrize("parent", ["", None])
def test_an_empty_or_null_parent_slug_is_refused(pipeline: Any, policy: Any, parent: Any):
    response = bearer(pipeline).post(
        "/api/v1/models/",
        {"slug": "m-1", "name": "M", "parent": parent},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "parent" in response.json()["errors"]


def test_an_unknown_commitment_in_the_path_is_a_404(safety: Any, policy: Any):
    response = client_for(safety).post(
        "/api/v1/commitments/0/fulfil/",
        {"evidence_url": "https://example.org/x"},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_api_reads_json_only_except_the_file_upload(safety: Any, ai_model: Any):
    response = client_for(safety).post(  # multipart: form fields carry no JSON numbers
        "/api/v1/decisions/", {"model": ai_model.slug, "compute_limit": "3e25"}
    )
    assert response.status_code == 415


def test_an_empty_bulk_is_refused_as_the_schema_says(pipeline: Any, policy: Any):
    response = bearer(pipeline).post(
        "/api/v1/results/bulk/", {"results": []}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "results" in response.json()["errors"]
