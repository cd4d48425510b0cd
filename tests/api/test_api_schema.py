"""The OpenAPI schema generates without warnings and documents every v1 route."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import client_for


def test_the_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn: drf-spectacular's warnings (unresolved views, enum clashes) are errors.
    call_command("spectacular", "--file", str(out), "--fail-on-warn", "--validate")
    text = out.read_text()
    for route in (
        "/api/v1/policy/",
        "/api/v1/models/",
        "/api/v1/models/{slug}/checkpoints/",
        "/api/v1/results/",
        "/api/v1/results/bulk/",
        "/api/v1/results/import/",
        "/api/v1/mappings/",
        "/api/v1/models/{slug}/gate/",
        "/api/v1/models/{slug}/safeguards/",
        "/api/v1/decisions/",
        "/api/v1/decisions/{id}/approve/",
        "/api/v1/models/{slug}/pause/",
        "/api/v1/models/{slug}/history/",
        "/api/v1/audit/",
        "/api/v1/audit/export/",
        "/api/v1/audit/verify/",
    ):
        assert f"{route}:" in text, route


@pytest.mark.django_db
def test_the_docs_page_is_served_offline(safety):
    response = client_for(safety).get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"cdn" not in response.content.lower()


def _without_integer_bounds(node: Any) -> Any:
    """The schema minus the bounds of model integer fields, which Django takes from the
    database backend (2^63-1 on SQLite, 2^31-1 on PostgreSQL)."""
    if isinstance(node, dict):
        skip = {"maximum", "minimum", "format"} if node.get("type") == "integer" else set()
        return {k: _without_integer_bounds(v) for k, v in node.items() if k not in skip}
    if isinstance(node, list):
        return [_without_integer_bounds(item) for item in node]
    return node


def test_the_checked_in_schema_is_current(tmp_path):
    """docs/openapi.yaml is what the code generates; after an API change run `make schema`."""
    from pathlib import Path

    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    checked_in = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    generated = _without_integer_bounds(yaml.safe_load(out.read_text()))
    stored = _without_integer_bounds(yaml.safe_load(checked_in.read_text()))
    assert generated == stored, "docs/openapi.yaml is stale: run make schema"


def test_every_operation_documents_the_error_shape(tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "404", "503"} <= codes, (method, path)
            if method == "post":
                assert {"400", "409", "413", "415"} <= codes, (method, path)


def test_the_result_input_schema_is_built_from_the_fields_the_services_accept():
    """One description of a result's input: the services' ``RESULT_FIELDS`` (what they
    validate) is the source of the schema's input serializers."""
    from django.core.exceptions import ImproperlyConfigured

    from evaluations.api.serializers import (
        CorrectionInputSerializer,
        EvalResultInputSerializer,
        input_serializer,
    )
    from evaluations.services import CORRECTION_FIELDS, RESULT_FIELDS

    assert set(EvalResultInputSerializer().fields) == RESULT_FIELDS
    assert set(CorrectionInputSerializer().fields) == CORRECTION_FIELDS | {"correction_reason"}
    with pytest.raises(ImproperlyConfigured, match="novel"):
        input_serializer("Novel", RESULT_FIELDS | {"novel"}, frozenset())


SCHEMA_FILE = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.mark.parametrize(
    "component, field",
    [
        ("AIModel", "parent"),
        ("AIModel", "created_by"),
        ("AIModel", "lineage"),
        ("AIModel", "lineage_confirmed_at"),
        ("AIModel", "lineage_confirmed_by"),
        ("AIModelDetail", "parent"),
        ("AIModelDetail", "created_by"),
        ("Checkpoint", "reported_by"),
        ("EvalResult", "submitted_by"),
        ("VersionSummary", "created_by"),
        ("VersionSummary", "activated_by"),
    ],
)
def test_a_field_the_api_can_answer_null_is_nullable_in_the_schema(component, field):
    # A nullable foreign key (no parent, a system-made row) is answered as null.
    import yaml

    schemas = yaml.safe_load(SCHEMA_FILE.read_text())["components"]["schemas"]
    assert schemas[component]["properties"][field].get("nullable") is True, (component, field)
