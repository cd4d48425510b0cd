"""Separation of duties no insider can bypass (issue 12, observations 1 and 7).

An administrator alone cannot fill a two-person rule: account changes go through one audited
service that records the acting user, sign-off titles come only from another title holder,
and an account holding ``admin`` cannot sign.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from core import services
from core.models import ApiToken, Role, SignoffTitle, User
from governance import services as governance
from governance.models import Notification
from tests.conftest import client_for
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _last(action: str) -> dict[str, Any]:
    entry = AuditEntry.objects.filter(action=action).order_by("-seq").first()
    assert entry is not None, f"no {action} entry"
    return entry.parsed


def _admin_change(client: Any, user: User, role: str) -> Any:
    return client.post(
        f"/admin/core/user/{user.pk}/change/",
        {
            "first_name": "",
            "last_name": "",
            "email": "",
            "role": role,
            "signoff_titles-TOTAL_FORMS": "0",
            "signoff_titles-INITIAL_FORMS": "0",
            "signoff_titles-MIN_NUM_FORMS": "0",
            "signoff_titles-MAX_NUM_FORMS": "1000",
        },
    )


# --- Observation 1: the admin who made themselves RSO and a CEO account -------------------


def test_an_admin_cannot_put_themselves_into_leadership_through_the_admin(admin_user):
    client = client_for(admin_user)
    _admin_change(client, admin_user, Role.LEADERSHIP)
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN
    assert not AuditEntry.objects.filter(action="user.role").exists()


def test_an_admin_cannot_grant_sign_off_titles(admin_user):
    accomplice = services.create_user("accomplice", Role.LEADERSHIP)
    with pytest.raises(services.AccountError, match="another sign-off title"):
        services.grant_title(accomplice, "CEO", actor=admin_user)
    with pytest.raises(services.AccountError):
        services.create_user("ceo2", Role.LEADERSHIP, titles=["CEO"], actor=admin_user)
    assert not SignoffTitle.objects.filter(user=accomplice).exists()


def test_an_account_holding_admin_cannot_sign_even_with_a_title(admin_user, safety, ceo):
    """The state the insider reached by hand: admin, holding RSO."""
    SignoffTitle.objects.create(user=admin_user, title="RSO")
    admin_user = User.objects.get(pk=admin_user.pk)
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = governance.request_decision(model, 2e24, "below every line", safety)
    governance.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        governance.sign_decision(decision.pk, admin_user, "approve", decision.dossier_sha256)
    decision.refresh_from_db()
    assert decision.status == "pending"


def test_two_title_holders_grant_another_title_audited_and_announced(rso, ceo):
    newcomer = services.create_user("cfo", Role.LEADERSHIP, email="cfo@example.org")
    grant = services.grant_title(newcomer, "CFO", actor=rso)
    assert grant.status == "pending"
    assert User.objects.get(pk=newcomer.pk).titles == frozenset()
    assert _last("title.grant.propose")["actor"]["username"] == "rso"
    assert Notification.objects.filter(event="title.proposed").exists()
    grant = services.grant_title(newcomer, "CFO", actor=ceo)
    assert grant.status == "granted"
    assert User.objects.get(pk=newcomer.pk).titles == {"CFO"}
    body = _last("title.grant")
    assert body["actor"]["username"] == "ceo"
    assert body["data"] == {"username": "cfo", "title": "CFO", "approved_by": ["rso", "ceo"]}
    assert Notification.objects.filter(event="title.granted").exists()


def test_nobody_grants_themselves_a_title_or_the_only_title_they_hold(rso, ceo):
    with pytest.raises(services.AccountError, match="themselves"):
        services.grant_title(rso, "CEO", actor=rso)
    other = services.create_user("other", Role.LEADERSHIP)
    with pytest.raises(services.AccountError, match="another sign-off title"):
        services.grant_title(other, "RSO", actor=rso)  # rso holds no *other* title


def test_a_title_holder_cannot_become_admin(admin_user, rso):
    with pytest.raises(services.AccountError, match="revoke them"):
        services.set_role(rso, Role.ADMIN, actor=admin_user)
    with pytest.raises(services.AccountError, match="not leadership"):
        services.grant_title(admin_user, "CEO", actor=rso)


def test_role_changes_through_the_admin_are_audited_as_the_admin(admin_user, safety):
    client = client_for(admin_user)
    _admin_change(client, safety, Role.AUDITOR)
    safety.refresh_from_db()
    assert safety.role == Role.AUDITOR
    body = _last("user.role")
    assert body["actor"]["username"] == "admin_user"
    assert body["data"] == {"username": "safety", "from": "safety", "to": "auditor"}


def test_deactivation_through_the_admin_is_audited_as_the_admin(admin_user, safety):
    client = client_for(admin_user)
    client.post(
        "/admin/core/user/",
        {"action": "deactivate", "_selected_action": [safety.pk]},
    )
    safety.refresh_from_db()
    assert not safety.is_active
    assert _last("user.deactivate")["actor"]["username"] == "admin_user"


def test_user_creation_is_audited_with_the_actor(admin_user):
    services.create_user("newbie", Role.SAFETY, actor=admin_user)
    assert _last("user.create")["actor"]["username"] == "admin_user"
    with pytest.raises(PermissionDenied):
        services.create_user("sneaky", Role.SAFETY, actor=services.create_user("s2", "safety"))


# --- Observation 7: token revocation by an admin is audited as the admin -------------------


def test_an_admins_token_revocation_is_audited_as_the_admin(admin_user, pipeline):
    token, _ = ApiToken.issue(pipeline, "ci", ["gate:read"])
    client = client_for(admin_user)
    client.post(
        "/admin/core/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    body = _last("token.revoke")
    assert body["actor"]["username"] == "admin_user"
    assert body["data"]["user"] == "pipeline"


def test_the_tokens_page_issues_and_revokes_as_the_owner(safety):
    client = client_for(safety)
    client.post("/account/tokens/", {"name": "laptop", "scopes": ["read"]})
    token = ApiToken.objects.get(user=safety, name="laptop")
    assert _last("token.issue")["actor"]["username"] == "safety"
    client.post(f"/account/tokens/{token.key_id}/revoke/")
    assert _last("token.revoke")["actor"]["username"] == "safety"


def test_the_account_command_uses_the_audited_services(rso, ceo, safety):
    leader = services.create_user("leader", Role.LEADERSHIP)
    call_command("account", "grant-title", "leader", "CFO")
    assert User.objects.get(pk=leader.pk).titles == {"CFO"}
    assert _last("title.grant")["actor"] == {"system": "manage.py account grant-title"}
    call_command("account", "deactivate", "safety")
    assert not User.objects.get(pk=safety.pk).is_active
    with pytest.raises(CommandError, match="revoke them"):
        call_command("account", "set-role", "rso", "admin")


def test_authorisation_failures_are_logged_with_the_user(safety, caplog):
    with caplog.at_level(logging.WARNING, logger="rsp_portal.authz"):
        response = client_for(safety).get("/api/v1/audit/")
    assert response.status_code == 403
    assert "user=safety" in caplog.text
    assert "action=audit.view" in caplog.text
