"""The full journey of a model through the gate, over the REST API and the services."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from governance import services
from governance.models import Approval, GateTransition, ScalingDecision
from tests.conftest import bearer, client_for
from tests.governance_fixtures import (
    BELOW,
    activate_default_policy,
    add_checkpoint,
    add_result,
    baseline,
    codes,
    evaluate_all_below,
    make_model,
    sign_required_reports,
    verify_standards,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _gate(client, slug="atlas", **params):
    response = client.get(f"/api/v1/models/{slug}/gate/", params)
    assert response.status_code == 200, response.content
    return response.json()


def _request(client, limit=2e24, **extra):
    body = {"model": "atlas", "rationale": "Evaluations below every line.", **extra}
    if limit is not None:
        body["compute_limit"] = limit
    response = client.post("/api/v1/decisions/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def _sign(client, decision, verdict="approve"):
    return client.post(
        f"/api/v1/decisions/{decision['id']}/{verdict}/",
        {"dossier_sha256": decision["dossier_sha256"], "comment": "ok"},
        content_type="application/json",
    )


def test_the_full_journey(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = make_model()
    gate_client = bearer(pipeline)

    # No evidence: paused, presumed crossed, nothing verified, nothing approved.
    gate = _gate(gate_client)
    assert gate["state"] == "paused"
    assert {"missing_evidence", "safeguard_missing", "no_approval"} <= codes(gate)

    # Evidence below every line and the baseline safeguards verified: only sign-off is missing.
    evaluate_all_below(model)
    baseline(model, safety)
    gate = _gate(gate_client)
    assert codes(gate) == {"no_approval"}, gate["reasons"]
    assert gate["required_standards"] == ["ASL-2-D", "ASL-2-S"]

    # Two titled approvals: approved up to the limit, paused above it.
    decision = _request(client_for(safety), limit=2e24)
    assert decision["required_titles"] == ["RSO", "CEO"]
    assert _sign(client_for(rso), decision).json()["status"] == "pending"
    assert _sign(client_for(ceo), decision).json()["status"] == "approved"
    gate = _gate(gate_client)
    assert gate["state"] == "approved", gate["reasons"]
    assert gate["approved_compute_limit"] == 2e24
    above = _gate(gate_client, compute="3e24")
    assert above["state"] == "paused"
    assert codes(above) == {"exceeds_approved_compute"}

    # A new checkpoint past the trigger multiple (4x): paused until it is evaluated.
    add_checkpoint(model, "ckpt-2", 4e24)
    gate = _gate(gate_client)
    assert gate["state"] == "paused"
    assert "evaluation_due_compute" in codes(gate)

    # A critical result on the latest checkpoint: ASL-3 Security becomes required, and the
    # decision signed before the crossing no longer counts.
    evaluate_all_below(model)
    add_result(model, "cbrn.vct_accuracy", 0.55)
    gate = _gate(gate_client)
    assert gate["state"] == "paused"
    assert {"safeguard_missing", "decision_outdated"} <= codes(gate)
    assert "ASL-3-S" in gate["required_standards"]
    assert gate["crossed_thresholds"] == ["CBRN-3"]
    assert GateTransition.objects.filter(model=model).count() >= 4


def test_a_pause_takes_effect_at_once_and_only_a_new_decision_resumes(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = _request(client_for(safety))
    _sign(client_for(rso), decision)
    _sign(client_for(ceo), decision)
    assert services.gate_for(model)["state"] == "approved"

    response = client_for(safety).post(
        "/api/v1/models/atlas/pause/",
        {"reason": "odd eval transcript"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["gate"]["state"] == "paused"
    assert "manual_pause" in codes(response.json()["gate"])

    second = _request(client_for(safety))
    _sign(client_for(rso), second)
    _sign(client_for(ceo), second)
    assert services.gate_for(model)["state"] == "approved"


def test_self_approval_is_refused_by_the_api_and_the_database(safety, rso, ceo):
    activate_default_policy()
    make_model()
    decision = _request(client_for(rso))  # leadership may request too
    response = _sign(client_for(rso), decision)
    assert response.status_code == 403
    assert "requested this decision" in response.json()["detail"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            decision_id=decision["id"],
            approver=rso,
            requester=rso,
            title="RSO",
            verdict="approve",
            dossier_sha256=decision["dossier_sha256"],
        )


def test_one_person_cannot_fill_two_titles(safety, rso):
    from django.db import IntegrityError, transaction

    from core.models import SignoffTitle

    # The database refuses a second title outright (one person, one title)...
    with pytest.raises(IntegrityError), transaction.atomic():
        SignoffTitle.objects.create(user=rso, title="CEO")
    # ...and one person signs a decision once.
    activate_default_policy()
    make_model()
    decision = _request(client_for(safety))
    assert _sign(client_for(rso), decision).status_code == 200
    again = _sign(client_for(rso), decision)
    assert again.status_code == 409
    assert ScalingDecision.objects.get(pk=decision["id"]).status == "pending"


def test_a_signature_over_another_dossier_is_refused(safety, rso):
    activate_default_policy()
    make_model()
    decision = _request(client_for(safety))
    decision["dossier_sha256"] = "0" * 64
    response = _sign(client_for(rso), decision)
    assert response.status_code == 409
    assert "dossier_sha256" in response.json()["errors"]


def test_a_decision_turns_stale_when_a_result_lands_mid_approval(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = _request(client_for(safety))
    assert _sign(client_for(rso), decision).status_code == 200
    add_result(model, "cbrn.vct_accuracy", BELOW["cbrn.vct_accuracy"] + 0.01)
    assert ScalingDecision.objects.get(pk=decision["id"]).status == "stale"
    response = _sign(client_for(ceo), decision)
    assert response.status_code == 409
    assert services.gate_for(model)["state"] == "paused"


def test_an_approval_never_overrides_a_failing_check(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)  # safeguards not verified
    decision = _request(client_for(safety))
    _sign(client_for(rso), decision)
    assert _sign(client_for(ceo), decision).json()["status"] == "approved"
    gate = services.gate_for(model)
    assert gate["state"] == "paused"
    assert "safeguard_missing" in codes(gate)
    assert "no_approval" not in codes(gate)


def test_roles_are_enforced_on_governance_endpoints(safety, rso, auditor, pipeline):
    activate_default_policy()
    make_model()
    body = {"model": "atlas", "compute_limit": 1e24, "rationale": "x"}
    assert (
        client_for(auditor)
        .post("/api/v1/decisions/", body, content_type="application/json")
        .status_code
        == 403
    )
    assert (
        bearer(pipeline)
        .post("/api/v1/decisions/", body, content_type="application/json")
        .status_code
        == 403
    )
    decision = _request(client_for(safety))
    assert _sign(client_for(safety), decision).status_code == 403
    assert _sign(client_for(auditor), decision).status_code == 403
    assert (
        client_for(auditor)
        .post("/api/v1/models/atlas/pause/", {"reason": "x"}, content_type="application/json")
        .status_code
        == 403
    )
    assert bearer(pipeline).get("/api/v1/models/atlas/gate/").status_code == 200
    assert client_for(auditor).get("/api/v1/decisions/").status_code == 200


def test_bad_gate_queries_get_a_clear_400(pipeline):
    activate_default_policy()
    make_model()
    client = bearer(pipeline)
    for params, field in [
        ({"compute": "lots"}, "compute"),
        ({"compute": "nan"}, "compute"),
        ({"scope": "x"}, "scope"),
    ]:
        response = client.get("/api/v1/models/atlas/gate/", params)
        assert response.status_code == 400, params
        assert field in response.json()["errors"]
    assert client.get("/api/v1/models/nope/gate/").status_code == 404


def test_reading_the_gate_costs_the_same_whatever_the_evidence(
    pipeline, django_assert_max_num_queries
):
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline, name="a")
    _gate(client)  # the token's last-used stamp is written once
    # Expect: token lookup, user roles, the model, the stored gate row.
    with django_assert_max_num_queries(4):
        _gate(client)
    for i in range(30):
        add_result(model, "cbrn.vct_accuracy", 0.01 * (i % 10))
    with django_assert_max_num_queries(4):
        _gate(client)


def test_a_crossing_is_a_path_scaling_then_deployment(safety, rso, ceo, pipeline):
    """Cross CBRN-3, verify ASL-3-S, sign a new decision: scaling continues to its new limit;
    deployment stays paused until ASL-3-D is verified and a deployment decision is signed."""
    activate_default_policy()
    model = make_model()
    gate_client = bearer(pipeline)
    evaluate_all_below(model)
    baseline(model, safety)
    first = _request(client_for(safety), limit=2e24)
    _sign(client_for(rso), first)
    _sign(client_for(ceo), first)
    assert _gate(gate_client)["state"] == "approved"

    # Cross CBRN-3: paused with exactly the ASL-3-S requirements missing, decision outdated.
    add_result(model, "cbrn.vct_accuracy", 0.52)
    gate = _gate(gate_client)
    assert gate["state"] == "paused"
    assert codes(gate) == {"safeguard_missing", "decision_outdated"}
    missing = {r["requirement"] for r in gate["reasons"] if r["code"] == "safeguard_missing"}
    assert missing and all(code.startswith("ASL3S.") for code in missing)
    assert gate["required_level"] == "ASL-3"

    # Verify ASL-3-S: only the sign-off is missing now.
    verify_standards(model, {"ASL-3-S"}, safety)
    assert codes(_gate(gate_client)) == {"decision_outdated"}

    # The Capability and Safeguards Reports of the crossing, signed by RSO and CEO, then a new
    # decision by RSO and CEO, to a new limit: approved up to it, not above.
    sign_required_reports(model, safety, rso, ceo)
    second = _request(client_for(safety), limit=3e24)
    assert second["dossier"]["crossed_thresholds"] == ["CBRN-3"]
    _sign(client_for(rso), second)
    assert _sign(client_for(ceo), second).json()["status"] == "approved"
    gate = _gate(gate_client)
    assert gate["state"] == "approved", gate["reasons"]
    assert gate["approved_compute_limit"] == 3e24
    assert _gate(gate_client, compute="2.9e24")["state"] == "approved"
    assert codes(_gate(gate_client, compute="3.1e24")) == {"exceeds_approved_compute"}

    # Deployment: a scaling decision never approves it; ASL-3-D must be verified.
    deploy = _gate(gate_client, scope="deployment")
    assert deploy["state"] == "paused"
    assert {"safeguard_missing", "no_approval"} <= codes(deploy)
    verify_standards(model, {"ASL-3-D"}, safety)
    assert codes(_gate(gate_client, scope="deployment")) == {"no_approval"}
    sign_required_reports(model, safety, rso, ceo, scope="deployment")
    decision = _request(client_for(safety), limit=None, scope="deployment", checkpoints=["ckpt-1"])
    assert decision["scope"] == "deployment"
    assert decision["compute_limit"] is None  # a deployment decision names its checkpoints
    _sign(client_for(rso), decision)
    assert _sign(client_for(ceo), decision).json()["status"] == "approved"
    assert _gate(gate_client, scope="deployment")["state"] == "approved"
    assert _gate(gate_client)["state"] == "approved"  # and scaling is unchanged


def test_a_scaling_decision_needs_a_compute_limit(safety):
    activate_default_policy()
    make_model()
    response = client_for(safety).post(
        "/api/v1/decisions/",
        {"model": "atlas", "rationale": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "compute_limit" in response.json()["errors"]
