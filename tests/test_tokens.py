"""API tokens: shown once, stored hashed, scoped, revocable, with last-used time."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from core.models import ApiToken, TokenScope
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_and_records_last_use(pipeline):
    token, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {text}").get("/api/v1/me/")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_token_is_not_stored_in_plain_text(pipeline):
    token, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    secret = text.rsplit("_", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_apitoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    assert not any(secret in str(value) for value in row)
    assert not any(text in str(value) for value in row)


def test_a_revoked_token_stops_working(pipeline):
    token, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    assert client.get("/api/v1/me/").status_code == 200
    token.revoke()
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_wrong_secret_is_refused(pipeline):
    _, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {text[:-2]}xx").get("/api/v1/me/")
    assert response.status_code == 401


def test_a_token_without_the_needed_scope_is_refused(pipeline):
    _, text = ApiToken.issue(pipeline, "ci", [TokenScope.GATE])
    # /api/v1/me/ answers any valid token (a gate-only token may check itself); models do not.
    response = Client(HTTP_AUTHORIZATION=f"Bearer {text}").get("/api/v1/models/")
    assert response.status_code == 403
    assert "'read' scope" in response.json()["detail"]


def test_a_token_of_a_deactivated_user_is_refused(pipeline):
    _, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    pipeline.is_active = False
    pipeline.save()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {text}").get("/api/v1/me/").status_code == 401


def test_issue_token_prints_the_token_alone_on_its_last_line(pipeline):
    out = io.StringIO()
    call_command(
        "issue_token",
        "pipeline",
        "--name",
        "cluster-a",
        "--scope",
        "read",
        stdout=out,
        stderr=io.StringIO(),
    )
    text = out.getvalue().strip().splitlines()[-1]
    assert text.startswith("rsp_")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {text}").get("/api/v1/me/").status_code == 200


def test_issue_token_refuses_scopes_the_role_cannot_use(auditor):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot use scope"):
        call_command(
            "issue_token",
            "auditor",
            "--scope",
            "evidence:write",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_create_user_command_gives_role_and_title(db):
    out = io.StringIO()
    call_command("create_user", "alice", "--role", "leadership", "--title", "rso", stdout=out)
    from core.models import User

    alice = User.objects.get(username="alice")
    assert alice.roles == {"leadership"}
    assert alice.titles == {"RSO"}
    assert not alice.has_usable_password()


def test_the_tokens_page_shows_a_new_token_once_and_revokes(safety):
    client = client_for(safety)
    response = client.post("/account/tokens/", {"name": "laptop", "scopes": ["read"]})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=safety, name="laptop")
    assert f"rsp_{token.key_id}_" in response.content.decode()
    again = client.get("/account/tokens/").content.decode()
    assert f"rsp_{token.key_id}_…" in again  # only the key id is shown afterwards
    client.post(f"/account/tokens/{token.key_id}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
