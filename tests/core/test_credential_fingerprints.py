"""Credentials in the trail: a keyed fingerprint of every password change (issue 22).

The password column is the one authority-bearing value the table owner could still replace
unseen: a hash of a password they know, written over a title holder's, let them sign in as the
holder. Every password the application writes is now fingerprinted in the trail (a keyed hash
of the stored hash, never the hash itself); signing refuses an account whose column does not
match its last fingerprint, and verification names it (the drill, tests/audit/
test_authority_drill.py, shows it on PostgreSQL as the table owner).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection
from django.test import Client

from audit.models import AuditEntry
from audit.tasks import verify_quick
from audit.verification import run_verification
from core import authority, credentials, services
from core.models import Role, User
from tests.audit_support import audit_keys  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys", "verified_trail")]


def _entries(user: User, action: str) -> list[dict[str, Any]]:
    rows = AuditEntry.objects.filter(object_type="core.user", object_id=str(user.pk))
    return [e.parsed for e in rows.filter(action=action).order_by("seq")]


def test_creation_records_a_keyed_fingerprint_not_the_hash(rso: User, settings: Any):
    [created] = _entries(rso, "user.create")
    recorded = created["data"]["credential"]
    column = User.objects.get(pk=rso.pk).password
    assert recorded == credentials.fingerprint(column)
    assert column not in recorded and column.split("$")[-1] not in recorded
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40  # keyed: another key, another value
    assert credentials.fingerprint(column) != recorded


def test_every_password_the_application_writes_is_fingerprinted(rso: User):
    user = User.objects.get(pk=rso.pk)
    user.set_password("a-new-password-456")
    user.save()
    [changed] = _entries(rso, "user.password")
    assert changed["data"]["credential"] == credentials.fingerprint(user.password)
    user.save(update_fields=["last_login"])  # nothing else records a credential
    assert len(_entries(rso, "user.password")) == 1
    assert verify_quick() is True
    assert authority.signing_title(User.objects.get(pk=rso.pk), ["RSO"]) == "RSO"


def test_a_rehash_on_sign_in_is_recorded_and_verifies(rso: User, settings: Any):
    # A Django upgrade (or a new preferred hasher) rehashes the password at the next sign-in.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    before = User.objects.get(pk=rso.pk).password
    assert Client().login(username=rso.username, password=f"{rso.username}-password-123")
    after = User.objects.get(pk=rso.pk).password
    assert after != before and after.startswith("scrypt$")
    assert _entries(rso, "user.password")[-1]["data"]["credential"] == (
        credentials.fingerprint(after)
    )
    assert verify_quick() is True


def test_a_hash_replaced_in_sql_refuses_signing_with_a_reason(rso: User):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_user SET password = %s WHERE id = %s",
            [make_password("owner-knows-this-1"), rso.pk],
        )
    user = User.objects.get(pk=rso.pk)
    assert authority.signing_title(user, ["RSO"]) is None
    reason = authority.refusal(user)
    assert reason is not None and "does not match the audit trail" in reason


def test_a_token_signer_is_checked_against_the_column_too(rso: User, safety: User):
    from tests.conftest import bearer
    from tests.core.test_authority import _decision

    decision = _decision(safety)
    client = bearer(rso, ["governance:write", "gate:read"])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_user SET password = %s WHERE id = %s",
            [make_password("owner-knows-this-1"), rso.pk],
        )
    response = client.post(
        f"/api/v1/decisions/{decision.pk}/approve/",
        {"dossier_sha256": decision.dossier_sha256},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "does not match the audit trail" in response.json()["detail"]
    outcome, _ = run_verification("test", quick=True)
    assert not outcome.ok
    assert f"({rso.username}) credential differs from the trail" in outcome.message


def test_a_title_holder_without_a_recorded_credential_fails_verification():
    # An account created before credentials were recorded (its user.create carries none) and
    # made a holder: verification names it and says how to record the credential.
    from django.db import transaction

    from core import events

    user = User.objects.create_user("legacy", password="legacy-password-123")
    User.objects.filter(pk=user.pk).update(role=Role.LEADERSHIP)
    with transaction.atomic():
        events.record(
            "user.create",
            user,
            {"username": "legacy", "role": Role.LEADERSHIP, "titles": [], "staff": False},
        )
    services.grant_title(user, "CFO", actor=None)
    outcome, _ = run_verification("test", quick=True)
    assert not outcome.ok
    assert "(legacy) has no credential fingerprint in the trail" in outcome.message
    assert "account record-credential legacy" in outcome.message

    call_command("account", "record-credential", "legacy", stdout=io.StringIO())  # the fix
    assert _entries(user, "user.password")[-1]["actor"] == {
        "system": "manage.py account record-credential"
    }
    outcome, _ = run_verification("test", quick=True)
    assert outcome.ok, outcome.message


# --- The e-mail address: where reset links go ----------------------------------------------


def test_the_address_is_fingerprinted_at_creation_and_on_every_change(rso: User):
    [created] = _entries(rso, "user.create")
    assert created["data"]["address"] == credentials.fingerprint(
        User.objects.get(pk=rso.pk).email, salt=credentials.ADDRESS
    )
    user = User.objects.get(pk=rso.pk)
    user.email = "rso@lab.example"
    user.save()
    [changed] = _entries(rso, "user.email")
    assert changed["data"]["address"] == credentials.fingerprint(
        "rso@lab.example", salt=credentials.ADDRESS
    )
    assert "rso@lab.example" not in str(changed)  # the trail never carries the address
    user.save(update_fields=["last_login"])  # nothing else records an address
    user.save()  # nor a save that leaves it as it is
    assert len(_entries(rso, "user.email")) == 1
    assert verify_quick() is True
    assert authority.signing_title(User.objects.get(pk=rso.pk), ["RSO"]) == "RSO"


def test_an_address_replaced_in_sql_gets_no_reset_link_no_signature_and_fails_verification(
    rso: User, admin_user: User, rf: Any, mailoutbox: list[Any]
):
    from django.db import transaction

    from core import password_reset

    with connection.cursor() as cursor:  # the table owner redirects the RSO's mail
        cursor.execute(
            "UPDATE core_user SET email = %s WHERE id = %s", ["owner@example.org", rso.pk]
        )
    user = User.objects.get(pk=rso.pk)
    with (
        pytest.raises(password_reset.ResetError, match="does not match the audit trail"),
        transaction.atomic(),
    ):
        password_reset.send_link(user, rf.get("/"), actor=admin_user)
    assert mailoutbox == []
    assert not AuditEntry.objects.filter(action="user.password_reset_sent").exists()
    assert authority.signing_title(user, ["RSO"]) is None
    reason = authority.refusal(user)
    assert reason is not None and "e-mail address as stored does not match" in reason
    outcome, _ = run_verification("test", quick=True)
    assert not outcome.ok
    assert f"({rso.username}) e-mail address differs from the trail" in outcome.message

    # The operator checks the address with its holder and records it (audited).
    call_command("account", "record-credential", rso.username, stdout=io.StringIO())
    assert _entries(rso, "user.email")[-1]["actor"] == {
        "system": "manage.py account record-credential"
    }
    outcome, _ = run_verification("test", quick=True)
    assert outcome.ok, outcome.message
