"""Weakening the rules needs the signatures scaling needs (issue 12, observation 3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from core import activation as signoff
from core.models import ActivationSignature, PolicyActivation, Role
from core.services import create_user
from policies import services as policy_services
from policies.models import PolicyVersion
from policies.packs import load_pack_file
from tests.governance_fixtures import activate_default_policy

pytestmark = pytest.mark.django_db


def _draft(change: Any, version: str = "2.2-portal.2") -> PolicyVersion:
    pack = copy.deepcopy(load_pack_file("default"))
    pack["version"] = version
    change(pack)
    return policy_services.load_pack(pack, actor=None)


def _loosen(pack: dict[str, Any]) -> None:
    """The insider's draft: CEO dropped from the sign-off rule, a critical line raised."""
    pack["settings"]["signoff_titles"] = ["RSO"]
    pack["thresholds"][0]["indicators"][0]["critical"] = 0.95


def _tighten(pack: dict[str, Any]) -> None:
    pack["thresholds"][0]["indicators"][0]["critical"] = 0.7


@pytest.fixture
def leader(db: None) -> Any:
    """A leader without any sign-off title."""
    return create_user("leader", Role.LEADERSHIP)


def test_one_untitled_leader_cannot_activate_a_loosening_policy(leader, rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    with pytest.raises(policy_services.ActivationError, match="loosens the policy in force"):
        policy_services.activate(draft, leader)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT


def test_the_console_cannot_activate_a_loosening_policy_either(rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    with pytest.raises(policy_services.ActivationError, match="sign-off by RSO, CEO"):
        policy_services.activate(draft, "manage.py load_policy")


def test_tightening_stays_a_single_leaders_act(leader):
    activate_default_policy()
    draft = _draft(_tighten)
    assert policy_services.activate(draft, leader).status == PolicyVersion.Status.ACTIVE


def test_a_loosening_is_activated_once_every_title_of_the_policy_in_force_signs(leader, rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    pending = signoff.request_activation(draft, leader)
    assert pending.required_titles == ["RSO", "CEO"]
    assert any("sign-off titles" in why for why in pending.dossier["loosenings"])
    assert AuditEntry.objects.filter(action="policy.activation.request").exists()

    signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT  # RSO alone is not enough
    with pytest.raises(signoff.ActivationSignoffError, match="already signed"):
        signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)

    signoff.sign_activation(pending.pk, ceo, "approve", pending.dossier_sha256)
    draft.refresh_from_db()
    pending.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE
    assert pending.status == PolicyActivation.Status.ACTIVATED


def test_the_requester_and_admins_cannot_sign(rso, ceo, admin_user):
    activate_default_policy()
    draft = _draft(_loosen)
    pending = signoff.request_activation(draft, rso)
    with pytest.raises(PermissionDenied):
        signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)
    with pytest.raises(PermissionDenied):
        signoff.sign_activation(pending.pk, admin_user, "approve", pending.dossier_sha256)
    # The database refuses self-approval too.
    with pytest.raises(IntegrityError), transaction.atomic():
        ActivationSignature.objects.create(
            activation=pending,
            signer=rso,
            requester=rso,
            title="RSO",
            verdict="approve",
            dossier_sha256=pending.dossier_sha256,
        )


def test_one_rejection_ends_the_request(leader, rso, ceo):
    activate_default_policy()
    pending = signoff.request_activation(_draft(_loosen), leader)
    signoff.sign_activation(pending.pk, ceo, "reject", pending.dossier_sha256)
    pending.refresh_from_db()
    assert pending.status == PolicyActivation.Status.REJECTED


def test_a_signature_must_name_the_dossier_shown(leader, rso, ceo):
    activate_default_policy()
    pending = signoff.request_activation(_draft(_loosen), leader)
    with pytest.raises(signoff.ActivationSignoffError, match="not the dossier"):
        signoff.sign_activation(pending.pk, rso, "approve", "0" * 64)


def test_the_api_requests_and_signs_an_activation(leader, rso, ceo, safety):
    from tests.conftest import bearer, client_for

    activate_default_policy()
    draft = _draft(_loosen)
    assert (
        client_for(safety)
        .post("/api/v1/policy-activations/", {"version": draft.pk}, content_type="application/json")
        .status_code
        == 403
    )
    response = client_for(leader).post(
        "/api/v1/policy-activations/", {"version": draft.pk}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["required_titles"] == ["RSO", "CEO"]
    url = f"/api/v1/policy-activations/{body['id']}/sign/"
    payload = {"verdict": "approve", "dossier_sha256": body["dossier_sha256"]}
    assert bearer(rso).post(url, payload, content_type="application/json").status_code == 200
    response = client_for(ceo).post(url, payload, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["status"] == "activated"
    assert client_for(safety).get("/api/v1/policy-activations/").status_code == 200
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE


def test_activation_signatures_are_reconciled_with_the_trail(leader, rso, ceo):
    from audit.verification import verify_quick

    activate_default_policy()
    pending = signoff.request_activation(_draft(_loosen), leader)
    signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)
    assert verify_quick().ok
    ActivationSignature.objects.create(
        activation=pending,
        signer=ceo,
        requester=leader,
        title="CEO",
        verdict="approve",
        dossier_sha256=pending.dossier_sha256,
    )
    outcome = verify_quick()
    assert not outcome.ok
    assert "core.activationsignature" in outcome.message
