"""Schemathesis against the checked-in schema (docs/openapi.yaml), as each role, every check on.

Bounded (two examples per operation and generation mode, derandomised by the ``ci`` Hypothesis
profile) so it runs in CI on every change, in a few minutes. Every check Schemathesis registers
runs (``--checks all``): no server error, status codes, content types and headers documented,
responses matching their schemas, schema-violating requests refused, schema-valid requests
accepted, missing required headers and unsupported methods refused, authentication not ignored.
(The stateful checks, ``use_after_free`` and ``ensure_resource_availability``, look at request
sequences; single calls give them nothing to compare, so they pass trivially here.)

Two narrowings, for stated reasons. ``negative_data_rejection`` also counts a documented 413
(a body over a size limit) as a refusal. ``positive_data_acceptance``: a request the
schema allows may still be refused with a 400 naming the field when the rule is one OpenAPI
3.0 cannot state (a reference to an object that must exist, a file whose contents must parse,
one of two fields, two parameters that exclude each other). :data:`RULES_BEYOND_THE_SCHEMA`
lists each such (operation, field); any other refusal of schema-valid data still fails. See
docs/adr/0033-credential-fingerprints-signer-service-full-schema-checks.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from core.models import ApiToken
from rsp_portal.authz import allowed_scopes
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.governance_fixtures import activate_default_policy, make_model

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
schema = schemathesis.openapi.from_path(SCHEMA_FILE)
schema.app = WSGIHandler()
ROLES = ["pipeline", "safety", "rso", "auditor", "admin_user"]

#: (operation, field) refused with a 400 for a rule the schema cannot state; why, per entry.
RULES_BEYOND_THE_SCHEMA = {
    # References by slug, name or id to objects that must exist.
    ("POST /api/v1/results/", "model"): "the model must exist",
    ("POST /api/v1/results/", "checkpoint"): "the checkpoint must exist for the model",
    ("POST /api/v1/results/", "metric"): "the metric must be one the policy knows",
    ("POST /api/v1/results/bulk/", "results"): "each result's model, checkpoint, metric exist",
    ("POST /api/v1/models/", "parent"): "the parent model must exist",
    ("POST /api/v1/models/{slug}/checkpoints/", "name"): "a checkpoint name is used once",
    ("POST /api/v1/policy-activations/", "version"): "the policy version must exist",
    ("POST /api/v1/decisions/", "model"): "the model must exist",
    ("POST /api/v1/decisions/", "compute_limit"): "required when the scope is scaling",
    ("POST /api/v1/reports/", "model"): "the model must exist",
    ("POST /api/v1/reports/", "kind"): "the report kind must be one the policy defines",
    ("POST /api/v1/reviewer-grants/", "reviewer"): "an active account in the reviewer role",
    ("POST /api/v1/reviewer-grants/", "report"): "one report or one model, and it must exist",
    ("POST /api/v1/reviewer-grants/", "model"): "the model must exist",
    ("POST /api/v1/reviewer-grants/", "organisation"): "not blank once stripped, no NUL",
    ("POST /api/v1/reports/{id}/reviews/", "body"): "not blank once stripped, no NUL",
    ("POST /api/v1/results/", "external_body"): "no NUL character",
    ("POST /api/v1/models/{slug}/safeguards/{requirement_code}/", "evidence_url"): (
        "a link Django's URL validator accepts (labels of at most 63 characters, a host name of "
        "at most 253), stricter than the URI grammar"
    ),
    # Contents checked after parsing.
    ("POST /api/v1/results/import/", "file"): "the file must parse as a known format",
    ("POST /api/v1/results/detect/", "file"): "the file must open as a known format",
    ("POST /api/v1/audit/witness/", "note"): "the note must verify under a configured key",
    # One of two fields; two parameters that exclude each other.
    ("POST /api/v1/commitments/{key}/fulfil/", "evidence_url"): "a link or notes, not none",
    ("GET /api/v1/models/{slug}/gate/", "as_of"): "as_of or compute, not both",
}


def positive_data_acceptance_beyond_the_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except a 400 naming only fields of
    :data:`RULES_BEYOND_THE_SCHEMA` for this operation."""
    if response.status_code == 400:
        try:
            fields = set(json.loads(response.content or b"{}").get("errors") or {})
        except (ValueError, AttributeError):
            fields = set()
        label = case.operation.label
        named = {field.split("[")[0].split(".")[0] for field in fields}  # results[0].model
        if named and all((label, field) in RULES_BEYOND_THE_SCHEMA for field in named):
            return None
    return positive_data_acceptance(ctx, response, case)


def negative_data_rejection_with_413(ctx: Any, response: Any, case: Any) -> bool | None:
    """``negative_data_rejection``, counting a 413 (too large) the operation documents as the
    refusal it is: Schemathesis's default list of refusing statuses leaves 413 out."""
    if response.status_code == 413 and "413" in case.operation.definition.raw["responses"]:
        return None
    return negative_data_rejection(ctx, response, case)


load_all_checks()
NARROWED = {
    positive_data_acceptance: positive_data_acceptance_beyond_the_schema,
    negative_data_rejection: negative_data_rejection_with_413,
}
CHECKS = [NARROWED.get(check, check) for check in REGISTERED_CHECKS.get_all()]


def test_every_registered_check_runs() -> None:
    names = {check.__name__ for check in CHECKS}
    assert len(CHECKS) == len(REGISTERED_CHECKS.get_all()) >= 14
    assert {"response_schema_conformance", "not_a_server_error", "ignored_auth"} <= names
    assert {
        "positive_data_acceptance_beyond_the_schema",
        "negative_data_rejection_with_413",
    } <= names


@pytest.fixture
def headers(transactional_db: None, request: Any) -> dict[str, dict[str, str]]:
    request.getfixturevalue("audit_keys")  # the export needs a signing key (else a config 500)
    activate_default_policy()
    make_model()
    found = {}
    for role in ROLES:
        user = request.getfixturevalue(role)
        _, text = ApiToken.issue(user, "schemathesis", allowed_scopes(user))
        found[role] = {"Authorization": f"Bearer {text}"}
    return found


@schema.parametrize()
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_published_contract(case: Any, headers: dict[str, Any]) -> None:
    for role_headers in headers.values():
        case.call_and_validate(headers=role_headers, checks=CHECKS)
