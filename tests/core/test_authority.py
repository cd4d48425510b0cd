"""Authority as audited facts (issue 22, observations 2, 5, 6 and the title parts of 9).

Roles, titles and token scopes confer authority only as the signed trail records them:
signing reads the trail, verification reconciles every authority row with it. Roles are fixed
codes, not editable group names. Administrators never act as signers: no password of a title
holder is set in the admin, and any credential change of a title holder suspends their signing
for a cooling-off period, announced to the other title holders. A title needs two holders.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from audit.verification import verify_log
from core import authority, services
from core.models import ApiToken, Role, SignoffTitle, TitleGrant, User
from governance import services as governance
from governance.models import Notification
from rsp_portal.authz import can
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.conftest import bearer, client_for, set_email
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys", "verified_trail")]


def _decision(safety: User) -> Any:
    from tests.audit_support import verify_trail

    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    verify_trail()  # a decision is requested only over a verified trail
    return governance.request_decision(model, 2e24, "below every line", safety)


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def _last(action: str) -> dict[str, Any]:
    entry = AuditEntry.objects.filter(action=action).order_by("-seq").first()
    assert entry is not None, f"no {action} entry"
    return entry.parsed


# --- Observation 2: a forged row confers nothing, and verification names it ---------------


def test_a_title_row_without_its_entry_cannot_sign_and_fails_verification(safety, rso):
    leader = services.create_user("leader", Role.LEADERSHIP)
    decision = _decision(safety)
    with connection.cursor() as cursor:  # the table owner, past the services
        cursor.execute(
            "INSERT INTO core_signofftitle (user_id, title, granted_at) VALUES (%s, 'CEO', %s)",
            [leader.pk, timezone.now()],
        )
    assert _fresh(leader).titles == {"CEO"}  # the row says so...
    assert decision.can_be_signed_by(_fresh(leader)) is None  # ...the trail does not
    with pytest.raises(PermissionDenied, match="audit trail"):
        governance.sign_decision(decision.pk, _fresh(leader), "approve", decision.dossier_sha256)
    outcome = verify_log()
    assert not outcome.ok
    assert "core.signofftitle" in outcome.message
    assert "no audit entry granting it" in outcome.message


def test_a_role_changed_in_sql_fails_verification(pipeline):
    assert verify_log().ok
    User.objects.filter(pk=pipeline.pk).update(role=Role.LEADERSHIP)
    outcome = verify_log()
    assert not outcome.ok
    assert "role is 'leadership' in the database but 'pipeline' in the trail" in outcome.message


def test_staff_flags_and_reactivation_in_sql_fail_verification(safety):
    User.objects.filter(pk=safety.pk).update(is_staff=True)
    assert "staff in the database" in verify_log().message
    User.objects.filter(pk=safety.pk).update(is_staff=False)
    services.set_active(safety, False, actor="test")
    User.objects.filter(pk=safety.pk).update(is_active=True)
    assert "active in the database but not in the trail" in verify_log().message


def test_a_token_scope_added_in_sql_is_refused_and_fails_verification(safety, rso, ceo):
    decision = _decision(safety)
    token, text = ApiToken.issue(rso, "read-only", ["read"])
    ApiToken.objects.filter(pk=token.pk).update(scopes=["governance:write", "read"])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {text}").post(
        f"/api/v1/decisions/{decision.pk}/approve/",
        {"dossier_sha256": decision.dossier_sha256},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert decision.approvals.count() == 0
    outcome = verify_log()
    assert not outcome.ok
    assert "core.apitoken" in outcome.message
    assert "scopes" in outcome.message


def test_a_signature_by_someone_the_trail_never_made_a_holder_fails_verification(safety, rso):
    """Should a forged approval ever be recorded, the trail itself convicts it."""
    import audit

    leader = services.create_user("leader", Role.LEADERSHIP)
    decision = _decision(safety)
    with transaction.atomic():
        audit.record("decision.approve", decision, {"title": "CEO"}, actor=leader)
    outcome = verify_log()
    assert not outcome.ok
    assert "does not hold CEO in the trail" in outcome.message


def test_the_real_signers_verify_and_sign(safety, rso, ceo):
    decision = _decision(safety)
    governance.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256)
    governance.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256)
    decision.refresh_from_db()
    assert decision.status == "approved"
    assert verify_log().ok, verify_log().message


# --- Observation 5: roles are fixed codes, and groups are not editable -----------------------


def test_the_admin_cannot_edit_groups(admin_user):
    client = client_for(admin_user)
    assert client.get("/admin/auth/group/").status_code == 404
    assert client.get("/admin/auth/group/add/").status_code == 404


def test_renaming_groups_makes_nobody_a_leader(admin_user, rso):
    Group.objects.get_or_create(name=Role.ADMIN)
    Group.objects.get_or_create(name=Role.LEADERSHIP)
    Group.objects.filter(name=Role.LEADERSHIP).update(name="spare")
    Group.objects.filter(name=Role.ADMIN).update(name=Role.LEADERSHIP)
    admin_user, rso = _fresh(admin_user), _fresh(rso)
    assert admin_user.roles == {Role.ADMIN}
    assert not can(admin_user, "decision.sign")
    assert can(rso, "decision.sign")
    assert client_for(rso).get("/decisions/").status_code == 200


def test_a_role_outside_the_fixed_codes_is_refused_by_the_database(safety):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=safety.pk).update(role="superleader")


# --- Observation 6: administrators never act as signers --------------------------------------


def _set_password(client: Client, user: User) -> Any:
    return client.post(
        f"/admin/core/user/{user.pk}/password/",
        {"password1": "a-new-password-9876", "password2": "a-new-password-9876"},
    )


def test_an_admin_cannot_set_a_title_holders_password(admin_user, rso):
    before = _fresh(rso).password
    response = _set_password(client_for(admin_user), rso)
    assert response.status_code == 302
    assert _fresh(rso).password == before
    assert not AuditEntry.objects.filter(action="user.password_set").exists()


def test_an_admin_still_sets_other_passwords_audited(admin_user, safety):
    before = _fresh(safety).password
    _set_password(client_for(admin_user), safety)
    assert _fresh(safety).password != before
    assert _last("user.password_set")["actor"]["username"] == "admin_user"


def test_a_reset_link_goes_to_the_holder_and_using_it_starts_the_cooling_off(
    admin_user, safety, rso, ceo, settings, django_capture_on_commit_callbacks
):
    set_email(rso, "rso@example.org")
    set_email(ceo, "ceo@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(
            "/admin/core/user/", {"action": "send_password_reset", "_selected_action": [rso.pk]}
        )
    assert [m.to for m in mail.outbox] == [["rso@example.org"]]
    assert _last("user.password_reset_sent")["actor"]["username"] == "admin_user"
    link = re.search(r"http://testserver(/reset/\S+)", mail.outbox[0].body)
    assert link is not None
    holder = Client()
    form_page = holder.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    response = holder.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "holders-own-pass-4321", "new_password2": "holders-own-pass-4321"},
    )
    assert response.status_code == 302
    assert _fresh(rso).check_password("holders-own-pass-4321")
    body = _last("user.credential")
    assert body["data"]["kind"] == "password"
    assert body["data"]["cooling_off_hours"] == 72
    told = Notification.objects.get(event="signer.credential_changed")
    assert "ceo@example.org" in told.recipients

    decision = _decision(safety)
    assert decision.can_be_signed_by(_fresh(rso)) is None
    with pytest.raises(PermissionDenied, match="cooling-off"):
        governance.sign_decision(decision.pk, _fresh(rso), "approve", decision.dossier_sha256)
    settings.SIGNOFF_COOLING_OFF_HOURS = 0
    assert decision.can_be_signed_by(_fresh(rso)) == "RSO"


@pytest.mark.parametrize("change", ["email", "reactivation", "token"])
def test_every_credential_change_of_a_holder_suspends_signing(change, admin_user, safety, rso):
    if change == "email":
        client_for(admin_user).post(
            f"/admin/core/user/{rso.pk}/change/",
            {
                "first_name": "",
                "last_name": "",
                "email": "attacker@example.org",
                "role": Role.LEADERSHIP,
                "signoff_titles-TOTAL_FORMS": "0",
                "signoff_titles-INITIAL_FORMS": "0",
                "signoff_titles-MIN_NUM_FORMS": "0",
                "signoff_titles-MAX_NUM_FORMS": "1000",
            },
        )
        assert _fresh(rso).email == "attacker@example.org"
    elif change == "reactivation":
        services.set_active(rso, False, actor=admin_user)
        services.set_active(rso, True, actor=admin_user)
    else:
        services.issue_token(rso, "from-the-admin", ["governance:write"], actor=admin_user)
    assert _last("user.credential")["data"]["kind"] == change
    assert authority.refusal(_fresh(rso)) is not None
    decision = _decision(safety)
    assert decision.can_be_signed_by(_fresh(rso)) is None


def test_a_holders_own_token_is_no_credential_change(safety, rso):
    services.issue_token(rso, "laptop", ["governance:write"], actor=rso)
    bearer(rso)
    assert not AuditEntry.objects.filter(action="user.credential").exists()
    assert _decision(safety).can_be_signed_by(_fresh(rso)) == "RSO"


def test_credential_changes_of_other_accounts_record_nothing(admin_user, safety):
    services.set_active(safety, False, actor=admin_user)
    services.set_active(safety, True, actor=admin_user)
    assert not AuditEntry.objects.filter(action="user.credential").exists()


def test_a_signature_during_the_cooling_off_fails_verification(safety, rso):
    """Even if a signature slipped past the check, the trail convicts it."""
    import audit

    services.credential_changed(rso, "password", actor="test")
    decision = _decision(safety)
    with transaction.atomic():
        audit.record("decision.approve", decision, {"title": "RSO"}, actor=rso)
    outcome = verify_log()
    assert not outcome.ok
    assert "cooling-off" in outcome.message


# --- Observation 9: two holders grant a title; one title per person -------------------------


def test_a_title_needs_a_second_holder_of_another_title(rso, ceo):
    newcomer = services.create_user("cfo", Role.LEADERSHIP)
    services.grant_title(newcomer, "CFO", actor=rso)
    with pytest.raises(services.AccountError, match="a holder of another title must approve"):
        services.grant_title(newcomer, "CFO", actor=rso)
    with pytest.raises(services.AccountError, match="themselves"):
        services.grant_title(newcomer, "CFO", actor=newcomer)
    assert _fresh(newcomer).titles == frozenset()
    services.grant_title(newcomer, "CFO", actor=ceo)
    assert _fresh(newcomer).titles == {"CFO"}
    assert authority.of_user(newcomer.pk).titles == {"CFO"}
    assert verify_log().ok


def test_a_grant_can_be_refused(rso, ceo, admin_user):
    newcomer = services.create_user("cfo", Role.LEADERSHIP)
    grant = services.grant_title(newcomer, "CFO", actor=rso)
    services.refuse_title_grant(grant, actor=ceo)
    assert TitleGrant.objects.get(pk=grant.pk).status == "refused"
    assert _last("title.grant.refuse")["actor"]["username"] == "ceo"
    # A new proposal starts over.
    assert services.grant_title(newcomer, "CFO", actor=rso).status == "pending"


def test_a_pending_grant_forged_in_sql_is_not_approved(rso, ceo):
    newcomer = services.create_user("cfo", Role.LEADERSHIP)
    TitleGrant.objects.create(user=newcomer, title="CFO", proposed_by=rso)
    with pytest.raises(services.AccountError, match="no proposal in the audit trail"):
        services.grant_title(newcomer, "CFO", actor=ceo)
    assert _fresh(newcomer).titles == frozenset()


def test_the_console_grants_at_once(rso):
    newcomer = services.create_user("cfo", Role.LEADERSHIP)
    grant = services.grant_title(newcomer, "CFO", actor="manage.py account grant-title")
    assert grant.status == "granted"
    assert _fresh(newcomer).titles == {"CFO"}


def test_one_person_never_holds_two_titles(rso):
    with pytest.raises(services.AccountError, match="one sign-off title"):
        services.create_user("both", Role.LEADERSHIP, titles=["RSO", "CEO"])
    with pytest.raises(services.AccountError, match="already holds RSO"):
        services.grant_title(rso, "CEO", actor="console")
    with pytest.raises(IntegrityError), transaction.atomic():
        SignoffTitle.objects.create(user=rso, title="CEO")


def test_the_titles_page_proposes_and_a_second_holder_approves(rso, ceo, admin_user):
    newcomer = services.create_user("cfo", Role.LEADERSHIP)
    assert client_for(admin_user).get("/account/titles/").status_code == 403
    page = client_for(rso).get("/account/titles/")
    assert page.status_code == 200
    assert b"cfo" in page.content
    client_for(rso).post("/account/titles/", {"username": "cfo", "title": "cfo"})
    grant = TitleGrant.objects.get(user=newcomer, status="pending")
    assert grant.title == "CFO"
    client_for(rso).post(f"/account/titles/{grant.pk}/approve/")  # refused: the proposer
    assert _fresh(newcomer).titles == frozenset()
    client_for(ceo).post(f"/account/titles/{grant.pk}/approve/")
    assert _fresh(newcomer).titles == {"CFO"}
    assert b"CFO" in client_for(ceo).get("/account/titles/").content
