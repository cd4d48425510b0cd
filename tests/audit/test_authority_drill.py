"""The hostile-insider drill for authority (issue 22, observations 2, 5 and 6), on PostgreSQL.

The attacker owns the tables (or administers the portal). What confers authority is derived
from, or checked against, the signed trail, so each attempt is refused at once, and any
authority row the trail does not back is named by ``verify_audit`` and by the every-minute
quick verification, which pauses every gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client

import audit
from audit.checkpoints import make_checkpoint
from audit.tasks import verify_quick
from audit.verification import run_verification
from core import services as accounts
from core.models import ApiToken, Role, User
from governance import services
from governance.models import Notification, ScalingDecision
from tests.audit.test_insider_drill import _offline_verifier
from tests.audit_support import audit_keys, verify_trail  # noqa: F401  (fixture)
from tests.conftest import client_for, set_email
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)
from tests.services import requires_services

pytestmark = [pytest.mark.django_db, requires_services]


@pytest.fixture
def scene(audit_keys: Path, safety: Any, rso: Any, ceo: Any, pipeline: Any) -> dict[str, Any]:  # noqa: F811
    """An approved gate, a verified trail, and a second decision waiting for sign-off."""
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    verify_trail()  # a decision is requested only over a verified trail
    first = services.request_decision(model, 2e24, "below every line", safety)
    for signer in (rso, ceo):
        services.sign_decision(first.pk, signer, "approve", first.dossier_sha256)
    leader = accounts.create_user("leader", Role.LEADERSHIP, password="leader-password-123")
    _, pipeline_token = ApiToken.issue(pipeline, "ci", ["gate:read", "evidence:write"])
    verify_trail()
    pending = services.request_decision(model, 5e24, "the next step", safety)
    make_checkpoint()
    outcome, _ = run_verification("test")
    assert outcome.ok, outcome.message
    assert services.gate_for(model)["state"] == "approved"
    return {
        "model": model,
        "decision": pending,
        "leader": leader,
        "pipeline": pipeline,
        "pipeline_token": pipeline_token,
    }


def _approve(client: Client, decision: ScalingDecision) -> int:
    response = client.post(
        f"/api/v1/decisions/{decision.pk}/approve/",
        {"dossier_sha256": decision.dossier_sha256},
        content_type="application/json",
    )
    return response.status_code


def _detected(model: Any, what: str) -> None:
    """The quick verification fails naming ``what`` and every gate pauses; verify_audit FAILs."""
    assert verify_quick() is False
    outcome, _ = run_verification("test", quick=True)
    assert what in outcome.message, outcome.message
    gate = services.gate_for(model)
    assert gate["state"] == "paused"
    with pytest.raises(CommandError, match="FAIL"):
        call_command("verify_audit")


# --- Observation 2: the table owner alone cannot get a decision approved -------------------


def test_sql_made_signers_are_refused_and_detected_before_and_after_the_sql_is_removed(
    scene: dict[str, Any], tmp_path: Path
):
    pipeline, leader, decision = scene["pipeline"], scene["leader"], scene["decision"]
    with connection.cursor() as cursor:  # the table owner
        cursor.execute("UPDATE core_user SET role = 'leadership' WHERE id = %s", [pipeline.pk])
        cursor.execute(
            "INSERT INTO core_signofftitle (user_id, title, granted_at) VALUES (%s, 'RSO', now())",
            [pipeline.pk],
        )
        cursor.execute(
            'UPDATE core_apitoken SET scopes = \'["evidence:write", "gate:read", '
            '"governance:write"]\' WHERE user_id = %s',
            [pipeline.pk],
        )
        cursor.execute(
            "INSERT INTO core_signofftitle (user_id, title, granted_at) VALUES (%s, 'CEO', now())",
            [leader.pk],
        )

    # Both halves are refused: the trail never made them signers.
    as_pipeline = Client(HTTP_AUTHORIZATION=f"Bearer {scene['pipeline_token']}")
    assert _approve(as_pipeline, decision) == 403
    assert _approve(client_for(User.objects.get(pk=leader.pk)), decision) == 403
    decision.refresh_from_db()
    assert decision.status == "pending"
    assert not decision.approvals.exists()

    # Detected, and every gate paused.
    _detected(scene["model"], "core.")
    offline = _offline_verifier(tmp_path / "forged")
    assert offline.returncode == 0, offline.stdout  # nothing forged reached the trail

    # The owner removes the SQL: the trail is clean again, and nothing was approved.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM core_signofftitle WHERE user_id IN (%s, %s)",
            [
                pipeline.pk,
                leader.pk,
            ],
        )
        cursor.execute("UPDATE core_user SET role = 'pipeline' WHERE id = %s", [pipeline.pk])
        cursor.execute(
            'UPDATE core_apitoken SET scopes = \'["evidence:write", "gate:read"]\' '
            "WHERE user_id = %s",
            [pipeline.pk],
        )
    assert verify_quick() is True
    assert ScalingDecision.objects.get(pk=decision.pk).status == "pending"


def test_a_forged_signature_in_the_trail_fails_online_and_offline(
    scene: dict[str, Any], tmp_path: Path
):
    """Had anything been recorded, it would fail verification for good, SQL removed or not."""
    leader, decision = scene["leader"], scene["decision"]
    with transaction.atomic():
        audit.record("decision.approve", decision, {"title": "CEO"}, actor=leader)
    make_checkpoint()
    _detected(scene["model"], "does not hold CEO in the trail")
    offline = _offline_verifier(tmp_path / "after")
    assert offline.returncode == 1, offline.stdout
    assert "does not hold CEO in the trail" in offline.stdout


# --- Observation 5: renaming groups makes nobody a leader -----------------------------------


def test_renamed_groups_confer_nothing_and_an_sql_role_is_detected(
    scene: dict[str, Any], admin_user: Any, rso: Any
):
    decision = scene["decision"]
    with connection.cursor() as cursor:  # what the stock GroupAdmin used to allow, in SQL
        cursor.execute("UPDATE auth_group SET name = 'spare' WHERE name = 'leadership'")
        cursor.execute("UPDATE auth_group SET name = 'leadership' WHERE name = 'admin'")
    assert client_for(admin_user).get("/admin/auth/group/").status_code == 404
    assert _approve(client_for(User.objects.get(pk=admin_user.pk)), decision) == 403
    assert decision.can_be_signed_by(User.objects.get(pk=rso.pk)) == "RSO"  # the real RSO

    with connection.cursor() as cursor:  # the owner moves the admin into leadership instead
        cursor.execute("UPDATE core_user SET role = 'leadership' WHERE id = %s", [admin_user.pk])
    assert _approve(client_for(User.objects.get(pk=admin_user.pk)), decision) == 403
    _detected(scene["model"], "role is 'leadership' in the database but 'admin' in the trail")


# --- Observation 6: an administrator cannot sign as a title holder --------------------------


def test_an_admin_cannot_take_over_a_signer(
    scene: dict[str, Any], admin_user: Any, rso: Any, ceo: Any, settings: Any
):
    decision = scene["decision"]
    admin = client_for(admin_user)
    before = User.objects.get(pk=rso.pk).password
    admin.post(
        f"/admin/core/user/{rso.pk}/password/",
        {"password1": "taken-over-9876", "password2": "taken-over-9876"},
    )
    assert User.objects.get(pk=rso.pk).password == before  # refused

    # The admin redirects the RSO's e-mail to themselves and sends a reset link there: the
    # change is announced and the RSO's signing is suspended for the cooling-off period.
    set_email(ceo, "ceo@example.org")
    admin.post(
        f"/admin/core/user/{rso.pk}/change/",
        {
            "first_name": "",
            "last_name": "",
            "email": "admin-mailbox@example.org",
            "role": Role.LEADERSHIP,
            "signoff_titles-TOTAL_FORMS": "0",
            "signoff_titles-INITIAL_FORMS": "0",
            "signoff_titles-MIN_NUM_FORMS": "0",
            "signoff_titles-MAX_NUM_FORMS": "1000",
        },
    )
    told = Notification.objects.filter(event="signer.credential_changed").last()
    assert told is not None and "ceo@example.org" in told.recipients
    assert _approve(client_for(User.objects.get(pk=rso.pk)), decision) == 403
    assert not decision.approvals.exists()
    settings.SIGNOFF_COOLING_OFF_HOURS = 0  # once the cooling-off is over, the RSO signs again
    assert _approve(client_for(User.objects.get(pk=rso.pk)), decision) == 200


# --- A password hash replaced in SQL: the credential no longer matches the trail ------------


def test_a_signers_password_hash_replaced_in_sql_is_refused_and_detected(
    scene: dict[str, Any], rso: Any
):
    """The owner writes a hash of a password they know over the RSO's and signs in as the RSO:
    the trail holds a keyed fingerprint of every credential change, so signing is refused and
    verification names the account until the hash is put back."""
    decision = scene["decision"]
    before = User.objects.get(pk=rso.pk).password
    with connection.cursor() as cursor:  # the table owner
        cursor.execute(
            "UPDATE core_user SET password = %s WHERE id = %s",
            [make_password("owner-knows-this-1"), rso.pk],
        )
    as_rso = Client()
    assert as_rso.login(username=rso.username, password="owner-knows-this-1")  # the hash works
    assert _approve(as_rso, decision) == 403
    assert User.objects.get(pk=rso.pk).signoff_titles.exists()  # the row still says RSO
    assert decision.can_be_signed_by(User.objects.get(pk=rso.pk)) is None
    assert not ScalingDecision.objects.get(pk=decision.pk).approvals.exists()

    _detected(scene["model"], f"({rso.username}) credential differs from the trail")
    gate = services.gate_for(scene["model"])
    assert "audit_unverified" in {r["code"] for r in gate["reasons"]}

    with connection.cursor() as cursor:  # put back, it verifies again
        cursor.execute("UPDATE core_user SET password = %s WHERE id = %s", [before, rso.pk])
    assert verify_quick() is True
