"""The API keeps its contract outside the happy path (issue 15, observation 3): JSON for every
``/api/`` answer (unknown paths, wrong methods, crashes), a 503 with ``Retry-After`` when the
database is unreachable, ``Cache-Control: no-store``, ``/api/v1/me/`` for any valid token, one
error shape for service refusals, and ``HEAD /healthz``."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from core.models import TokenScope
from evaluations import services as evidence
from governance import services as governance
from rsp_portal import errors
from tests.conftest import bearer, client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)

JSON = "application/json"


def is_json(response: Any) -> bool:
    return response["Content-Type"].startswith(JSON)


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/models/atlas/nothing/", "/api/v2/", "/api/"]
)
def test_unknown_api_paths_answer_json_404(pipeline, path):
    for client in (Client(), bearer(pipeline)):
        response = client.get(path)
        assert response.status_code == 404
        assert is_json(response), response.content[:100]
        assert response.json() == {"detail": "Not found."}


def test_unknown_pages_still_answer_html_404(safety):
    response = client_for(safety).get("/no-such-page/")
    assert response.status_code == 404
    assert not is_json(response)


def test_a_wrong_method_answers_json_405(ckpt, pipeline):
    response = bearer(pipeline).delete("/api/v1/models/atlas/gate/")
    assert response.status_code == 405
    assert is_json(response) and "detail" in response.json()


def test_a_crash_in_an_api_view_answers_json_500(ckpt, pipeline, caplog):
    client = bearer(pipeline)
    client.raise_request_exception = False
    with mock.patch("evaluations.api.views.ask", side_effect=RuntimeError("boom")):
        response = client.post(
            "/api/v1/models/atlas/checkpoints/",
            {"name": "c-crash", "effective_compute": 1e24},
            content_type=JSON,
        )
    assert response.status_code == 500
    assert is_json(response)
    assert response.json() == {"detail": "Internal server error."}
    assert "boom" in caplog.text  # logged for the operators, not shown to the client


def _database_down() -> Any:
    """Every query fails as when PostgreSQL is unreachable."""
    return mock.patch(
        "django.db.backends.utils.CursorWrapper._execute",
        side_effect=OperationalError("connection refused"),
    )


@pytest.mark.parametrize("auth", ["token", "session"])
def test_the_gate_answers_json_503_with_retry_after_when_the_database_is_down(ckpt, pipeline, auth):
    client = bearer(pipeline) if auth == "token" else client_for(pipeline)
    client.raise_request_exception = False
    with _database_down():
        response = client.get("/api/v1/models/atlas/gate/")
    assert response.status_code == 503
    assert is_json(response)
    assert "detail" in response.json()
    assert int(response["Retry-After"]) > 0


def test_a_write_answers_json_503_when_the_database_is_down(ckpt, pipeline):
    client = bearer(pipeline)
    client.raise_request_exception = False
    with _database_down():
        response = client.post("/api/v1/models/", {"slug": "nova"}, content_type=JSON)
    assert response.status_code == 503 and is_json(response)
    assert response.has_header("Retry-After")


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("pipeline", "/api/v1/models/atlas/gate/"),
        ("pipeline", "/api/v1/models/atlas/history/"),
        ("auditor", "/api/v1/audit/"),
        ("auditor", "/api/v1/audit/verify/"),
        ("pipeline", "/api/v1/nothing/"),
    ],
)
def test_gate_and_audit_answers_are_never_stored(ckpt, request, who, path):
    response = bearer(request.getfixturevalue(who)).get(path)
    assert "no-store" in response["Cache-Control"], (response.status_code, path)


def test_a_gate_only_token_can_check_itself(ckpt, pipeline):
    client = bearer(pipeline, scopes=[TokenScope.GATE])

    me = client.get("/api/v1/me/")
    models = client.get("/api/v1/models/")

    assert me.status_code == 200
    assert me.json()["token"]["scopes"] == [TokenScope.GATE]
    assert models.status_code == 403  # the token still reads nothing else


def test_me_still_refuses_anonymous():
    assert Client().get("/api/v1/me/").status_code in (401, 403)


def test_no_token_is_offered_a_scope_for_checking_itself(pipeline):
    from rsp_portal.authz import allowed_scopes

    assert "" not in allowed_scopes(pipeline)


def test_head_healthz_answers_without_a_body():
    response = Client().head("/healthz")
    assert response.status_code in (200, 503)
    assert response.content == b""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (evidence.EvidenceError({"value": ["Bad."]}), 400),
        (evidence.ConflictError({"slug": ["Taken."]}), 409),
        (evidence.TooLargeError({"results": ["Too many."]}), 413),
        (governance.GovernanceError({"rationale": ["Say why."]}), 400),
        (governance.ConflictError({"non_field_errors": ["Stale."]}), 409),
        (errors.ServiceError("Plain message."), 400),
    ],
)
def test_every_service_refusal_has_one_shape(error, status):
    from rsp_portal.api import exception_handler

    assert isinstance(error, errors.ServiceError)
    response = exception_handler(error, {})
    assert response is not None
    assert response.status_code == status
    [(field, messages)] = response.data["errors"].items()
    assert isinstance(field, str) and messages and all(isinstance(m, str) for m in messages)
