"""Evidence and judgements belong to safety and leadership (issue 23, observation 3).

An administrator cannot correct results nor record safeguards; a correction that would lower
a determination (crossed → below, or a crossing result's metric or mitigation changed) takes
effect only once a second person confirms it, and both show in the decision dossier.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from evaluations import corrections
from evaluations import services as evidence
from evaluations.models import EvalResult, PendingCorrection
from governance import services
from tests.conftest import bearer, client_for
from tests.governance_fixtures import (
    activate_default_policy,
    add_result,
    evaluate_all_below,
    make_model,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]
VCT = "cbrn.vct_accuracy"
JSON = "application/json"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type=JSON)


def _status(model: Any, threshold: str = "CBRN-3") -> str:
    gate = services.gate_for(model)
    return {d["threshold"]: d["status"] for d in gate["determinations"]}[threshold]


@pytest.fixture
def crossing(safety: Any) -> EvalResult:
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    wrong = add_result(model, VCT, 0.8)
    assert _status(model) == "crossed"
    return wrong


# --- Administrators -----------------------------------------------------------------------


def test_an_administrator_cannot_correct_a_result(crossing, admin_user) -> None:
    url = f"/api/v1/results/{crossing.pk}/correct/"
    response = post(client_for(admin_user), url, {"value": 0.1, "correction_reason": "x"})

    assert response.status_code == 403
    assert client_for(admin_user).get(f"/results/{crossing.pk}/correct/").status_code == 403
    assert EvalResult.objects.filter(supersedes=crossing).count() == 0


def test_an_administrator_cannot_record_safeguards(crossing, admin_user) -> None:
    code = "asl3.security.access_control"
    response = post(
        client_for(admin_user),
        f"/api/v1/models/atlas/safeguards/{code}/",
        {"status": "verified", "evidence_url": "https://example.org/audit"},
    )
    page = client_for(admin_user).post(
        "/models/atlas/safeguards/",
        {"requirement_code": code, "status": "verified", "evidence_url": "https://e.org/a"},
    )

    assert response.status_code == 403
    assert page.status_code == 403


def test_no_judgement_on_evidence_is_an_administrators(crossing, admin_user) -> None:
    from rsp_portal.authz import NOT_FOR_ADMINS, can

    for action in (
        "evidence.correct",
        "evidence.confirm_correction",
        "lineage.confirm",
        "safeguard.update",
    ):
        assert action in NOT_FOR_ADMINS
        assert not can(admin_user, action), action


# --- A lowering correction needs a second person -------------------------------------------


def test_a_single_safety_user_cannot_uncross_a_threshold(crossing, safety) -> None:
    url = f"/api/v1/results/{crossing.pk}/correct/"
    response = post(client_for(safety), url, {"value": 0.08, "correction_reason": "wrong key"})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["result"] == crossing.pk
    assert "CBRN-3" in " ".join(body["changes"])
    assert _status(crossing.model) == "crossed"  # the old result stands
    assert EvalResult.objects.filter(supersedes=crossing).count() == 0
    assert AuditEntry.objects.filter(action="result.correction_request").count() == 1


@pytest.mark.parametrize(
    "values",
    [
        {"mitigation": "post"},
        {"metric": "autonomy.swe_task_success"},
        {"value": 0.08},
    ],
)
def test_relabelling_a_crossing_result_waits_for_a_second_person(crossing, safety, values):
    outcome = corrections.propose(crossing, values, "relabel", safety)

    assert isinstance(outcome, PendingCorrection)
    assert _status(crossing.model) == "crossed"


def test_the_service_itself_refuses_a_lowering_correction_without_confirmation(
    crossing, safety
) -> None:
    with pytest.raises(evidence.EvidenceError) as info:
        evidence.correct_result(crossing, {"value": 0.08}, "wrong key", safety)

    assert info.value.status_code == 409
    assert _status(crossing.model) == "crossed"


def test_a_raising_correction_takes_effect_at_once(crossing, safety) -> None:
    outcome = corrections.propose(crossing, {"value": 0.9}, "re-scored higher", safety)

    assert isinstance(outcome, EvalResult) and outcome.supersedes_id == crossing.pk


def test_the_author_cannot_confirm_their_own_correction(crossing, safety) -> None:
    pending = corrections.propose(crossing, {"value": 0.08}, "wrong key", safety)
    response = post(client_for(safety), f"/api/v1/corrections/{pending.pk}/confirm/", {})

    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_second_person_confirms_and_the_dossier_shows_both(crossing, safety, rso) -> None:
    pending = corrections.propose(crossing, {"value": 0.08}, "wrong key", safety)
    response = post(client_for(rso), f"/api/v1/corrections/{pending.pk}/confirm/", {})

    assert response.status_code == 201, response.content
    assert response.json()["supersedes"] == crossing.pk
    assert _status(crossing.model) == "below"
    pending.refresh_from_db()
    assert (pending.status, pending.decided_by, pending.requested_by) == ("confirmed", rso, safety)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"result.correction_request", "result.correction_confirm", "result.correct"} <= actions
    dossier, _ = services.build_dossier(crossing.model, 2e24, pending.decided_at)
    [entry] = dossier["corrections"]
    assert (entry["requested_by"], entry["confirmed_by"], entry["status"]) == (
        "safety",
        "rso",
        "confirmed",
    )


def test_a_pending_correction_can_be_rejected_and_changes_nothing(crossing, safety, rso) -> None:
    pending = corrections.propose(crossing, {"value": 0.08}, "wrong key", safety)
    response = post(
        client_for(rso), f"/api/v1/corrections/{pending.pk}/reject/", {"note": "key was right"}
    )

    assert response.status_code == 200, response.content
    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert _status(crossing.model) == "crossed"


def test_the_corrections_page_lists_and_confirms(crossing, safety, rso, pipeline) -> None:
    pending = corrections.propose(crossing, {"value": 0.08}, "wrong key", safety)
    page = client_for(rso).get("/corrections/")
    assert page.status_code == 200
    assert "wrong key" in page.content.decode()
    assert client_for(pipeline).get("/corrections/").status_code == 403

    done = client_for(rso).post(f"/corrections/{pending.pk}/", {"verdict": "confirm"})
    assert done.status_code == 302
    assert _status(crossing.model) == "below"


def test_a_token_lists_pending_corrections(crossing, safety, rso) -> None:
    corrections.propose(crossing, {"value": 0.08}, "wrong key", safety)
    response = bearer(rso).get("/api/v1/corrections/?status=pending")

    assert response.status_code == 200
    assert [c["result"] for c in response.json()["results"]] == [crossing.pk]
