"""API tokens: shown once, stored hashed, scoped, revocable, with last-used time."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from core.models import ApiToken, TokenScope, split_token
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
    key_id, secret = split_token(text)  # the secret may contain "_" itself
    assert key_id == token.key_id and len(secret) >= 43  # 32 random bytes, URL-safe base64
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
    wrong = text[:-1] + ("A" if text[-1] != "A" else "B")  # always differs from the secret
    response = Client(HTTP_AUTHORIZATION=f"Bearer {wrong}").get("/api/v1/me/")
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rsp_0a1b_se_cr_et", ("0a1b", "se_cr_et")),
        ("rsp_0a1b__secret", ("0a1b", "_secret")),
        ("rsp_0a1b_", None),
        ("rsp__secret", None),
        ("xyz_0a1b_secret", None),
        ("rsp0a1bsecret", None),
    ],
)
def test_a_token_splits_at_its_first_two_underscores_only(text, expected):
    assert split_token(text) == expected


def test_a_secret_with_underscores_authenticates(pipeline, monkeypatch):
    monkeypatch.setattr("core.models.secrets.token_urlsafe", lambda n: "_a_b_" + "c" * 40)
    token, text = ApiToken.issue(pipeline, "ci", [TokenScope.READ])
    assert text == f"rsp_{token.key_id}__a_b_{'c' * 40}"
    assert ApiToken.authenticate(text) == token


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
