"""Weakening the rules needs the signatures scaling needs (issue 12, observation 3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from core.models import Role
from core.services import create_user
from policies import activation as signoff
from policies import services as policy_services
from policies.models import ActivationSignature, PolicyActivation, PolicyVersion
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
    with pytest.raises(policy_services.ActivationError, match="already signed"):
        signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)

    signoff.sign_activation(pending.pk, ceo, "approve", pending.dossier_sha256)
    draft.refresh_from_db()
    pending.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE
    assert pending.status == PolicyActivation.Status.ACTIVATED


def test_the_requester_and_admins_cannot_sign(rso, ceo, admin_user):
    activate_default_policy()
    draft = _draft(_loosen)
    create_user("rso2", Role.LEADERSHIP, titles=["RSO"])  # so rso's request can complete
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
    with pytest.raises(policy_services.ActivationError, match="not the dossier"):
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
    assert "policies.activationsignature" in outcome.message


# ------------------------------------------------- one mechanism, two ways in (issue 13)


def test_a_title_approval_and_a_signature_complete_the_same_activation(rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    signoff.approve_activation(draft, rso)  # opens the activation as its first signature
    [pending] = PolicyActivation.objects.filter(version=draft)
    assert pending.origin == PolicyActivation.Origin.APPROVAL
    assert pending.open_titles() == ["CEO"]
    signoff.sign_activation(pending.pk, ceo, "approve", pending.dossier_sha256)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE


def test_the_requester_cannot_approve_on_the_version_page_either(rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    create_user("rso2", Role.LEADERSHIP, titles=["RSO"])  # so rso's request can complete
    signoff.request_activation(draft, rso)
    with pytest.raises(PermissionDenied):
        signoff.approve_activation(draft, rso)
    assert signoff.activation_status(draft)["pending_titles"] == ["RSO", "CEO"]


def test_an_approval_counts_only_for_the_content_it_was_given_for(rso, ceo):
    activate_default_policy()
    draft = _draft(_loosen)
    signoff.approve_activation(draft, rso)
    indicator = draft.indicators.order_by("pk").first()
    indicator.critical = 0.97
    indicator.save()
    policy_services.refresh_draft_hash(draft)
    assert signoff.activation_status(draft)["pending_titles"] == ["RSO", "CEO"]
    signoff.approve_activation(draft, ceo)  # the old activation turns stale, a new one opens
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT
    statuses = sorted(PolicyActivation.objects.filter(version=draft).values_list("status"))
    assert statuses == [("pending",), ("stale",)]


def test_a_signature_under_a_rule_no_longer_in_force_turns_the_activation_stale(leader, rso, ceo):
    activate_default_policy()
    pending = signoff.request_activation(_draft(_loosen), leader)
    policy_services.activate(_draft(_tighten, "2.2-portal.9"), leader)
    with pytest.raises(policy_services.ActivationError, match="stale"):
        signoff.sign_activation(pending.pk, rso, "approve", pending.dossier_sha256)
    pending.refresh_from_db()
    assert pending.status == PolicyActivation.Status.STALE


def test_the_activation_page_shows_the_dossier_and_signs_the_hash_shown(leader, rso, ceo, safety):
    from django.test import Client

    from tests.conftest import client_for

    activate_default_policy()
    draft = _draft(_loosen)
    pending = signoff.request_activation(draft, leader)
    url = f"/policy/activations/{pending.pk}/"
    assert Client().get(url).status_code == 302  # to the login page
    page = client_for(rso).get(url).content.decode()
    assert page.count('<li class="loosening">') == len(pending.loosenings) > 0
    assert pending.dossier_sha256 in page
    assert "Approve as RSO" in page
    assert "Approve as" not in client_for(leader).get(url).content.decode()  # the requester
    assert "Approve as" not in client_for(safety).get(url).content.decode()
    payload = {"approve": "1", "dossier_sha256": pending.dossier_sha256}
    assert client_for(safety).post(url, payload).status_code == 403
    client_for(rso).post(url, payload)
    page = client_for(ceo).get(url).content.decode()
    assert "RSO: approved by rso" in page and "CEO: pending" in page
    client_for(ceo).post(url, payload)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE
    assert "#" + str(pending.pk) in client_for(safety).get("/policy/activations/").content.decode()


def test_a_leader_requests_an_activation_from_the_activate_page(leader):
    from tests.conftest import client_for

    activate_default_policy()
    draft = _draft(_loosen)
    client = client_for(leader)
    assert (
        "Request activation"
        in client.get(f"/policy/versions/{draft.pk}/activate/").content.decode()
    )
    response = client.post(f"/policy/versions/{draft.pk}/request-activation/")
    pending = PolicyActivation.objects.get(version=draft)
    assert (
        response.status_code == 302 and response["Location"] == f"/policy/activations/{pending.pk}/"
    )
    assert pending.requested_by == leader and pending.origin == PolicyActivation.Origin.REQUEST


def test_the_api_names_a_missing_version_and_shows_one_activation(leader, rso, safety):
    from tests.conftest import client_for

    activate_default_policy()
    response = client_for(leader).post(
        "/api/v1/policy-activations/", {"version": 999999}, content_type="application/json"
    )
    assert response.status_code == 400 and "version" in response.json()["errors"]
    pending = signoff.request_activation(_draft(_loosen), leader)
    body = client_for(safety).get(f"/api/v1/policy-activations/{pending.pk}/").json()
    assert body["dossier_sha256"] == pending.dossier_sha256
    assert body["open_titles"] == ["RSO", "CEO"]
    assert client_for(safety).get("/api/v1/policy-activations/0/").status_code == 404


# --- Issue 23, observation 10: the only holder of the only title is told up front -----------


def _ceo_only(pack: dict[str, Any]) -> None:
    pack["settings"]["signoff_titles"] = ["CEO"]


def test_the_only_holder_of_the_only_title_is_told_who_must_request(rso, ceo):
    """OpenAI's pack names one title (CEO). Were the CEO to request, nobody could sign: the
    request is refused at once, naming who must request instead."""
    pack = copy.deepcopy(load_pack_file("default"))
    _ceo_only(pack)
    policy_services.load_pack(pack, actor=None, activate=True)
    draft = _draft(lambda p: (_ceo_only(p), _loosen_line(p)), version="2.2-portal.3")

    with pytest.raises(policy_services.ActivationError) as info:
        signoff.request_activation(draft, ceo)

    message = str(info.value)
    assert "only holder" in message and "CEO" in message and "rso" in message
    assert not PolicyActivation.objects.exists()
    # Another leader requests; the CEO signs and the activation completes.
    pending = signoff.request_activation(draft, rso)
    signoff.sign_activation(pending.pk, ceo, "approve", pending.dossier_sha256)
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE


def _loosen_line(pack: dict[str, Any]) -> None:
    pack["thresholds"][0]["indicators"][0]["critical"] = 0.95
