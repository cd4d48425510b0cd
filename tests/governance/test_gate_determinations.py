"""Capability determinations as the frameworks make them, through the services and the API.

One test per observation of the determinations issue: crossings persist, weak or mitigated
evidence never clears a line, a crossing is a path, early warnings warn, new checkpoints do not
pause by themselves, decisions go out of date, evaluations are dated by when they ran.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from evaluations import corrections
from evaluations import services as evidence
from evaluations.models import EvalResult
from governance import adapter, services
from governance.models import GateTransition, ScalingDecision
from policies import services as policy_services
from policies.packs import load_pack_file
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
    settle_gates,
    sign_required_reports,
    verify_standards,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _approve(model: Any, safety: Any, rso: Any, ceo: Any, limit: float = 2e24, **kw: Any) -> Any:
    sign_required_reports(model, safety, rso, ceo, scope=kw.get("scope", "scaling"))
    decision = services.request_decision(model, limit, "Evidence reviewed.", safety, **kw)
    services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256)
    services.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256)
    decision.refresh_from_db()
    assert decision.status == "approved"
    return decision


def _post(client: Any, item: dict[str, Any]) -> Any:
    return client.post("/api/v1/results/", item, content_type="application/json")


def _status(gate: dict[str, Any], threshold: str) -> str:
    return {d["threshold"]: d["status"] for d in gate["determinations"]}[threshold]


def _indicator(gate: dict[str, Any], threshold: str, metric: str) -> dict[str, Any]:
    [row] = [
        i
        for d in gate["determinations"]
        if d["threshold"] == threshold
        for i in d["indicators"]
        if i["metric"] == metric
    ]
    return row


def _all_clear(model: Any, safety: Any, rso: Any, ceo: Any) -> None:
    evaluate_all_below(model)
    baseline(model, safety)
    _approve(model, safety, rso, ceo)
    assert services.gate_for(model)["state"] == "approved"


# --- 1. Crossings do not un-cross ---------------------------------------------------------------


def test_a_crossing_on_an_earlier_checkpoint_stays_crossed(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    c1 = model.checkpoints.get()
    add_result(model, "cbrn.vct_accuracy", 0.8, c1)  # crosses CBRN-3 and CBRN-4

    c2 = add_checkpoint(model, "ckpt-2", 1.2e24)
    evaluate_all_below(model, c2)
    gate = services.gate_for(model)
    assert gate["state"] == "paused"
    assert _status(gate, "CBRN-3") == _status(gate, "CBRN-4") == "crossed"
    assert "ASL-4-S" in gate["required_standards"]

    later = add_result(model, "cbrn.vct_accuracy", 0.9, c1)  # a later result on c1 counts too
    gate = services.gate_for(model)
    vct = _indicator(gate, "CBRN-4", "cbrn.vct_accuracy")
    assert (vct["value"], vct["result_id"], vct["checkpoint"]) == (0.9, later.pk, "ckpt-1")


def test_an_ancestors_crossing_carries_over_to_a_fine_tune(safety):
    activate_default_policy()
    parent = make_model("atlas")
    add_result(parent, "cbrn.vct_accuracy", 0.8)
    child = make_model("atlas-ft")
    child.parent = parent
    child.save()
    evaluate_all_below(child)
    with transaction.atomic():
        services.recompute(child, "test")
    assert _status(services.gate_for(child), "CBRN-3") == "crossed"


# --- 2. The latest result does not win ----------------------------------------------------------


def test_a_post_mitigation_result_never_clears_a_line(safety, pipeline):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    client = bearer(pipeline)
    base = {"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    assert _post(client, {**base, "value": 0.8}).status_code == 201
    assert _post(client, {**base, "value": 0.1, "mitigation": "post"}).status_code == 201
    gate = services.gate_for(model)
    assert _status(gate, "CBRN-3") == "crossed"
    assert _indicator(gate, "CBRN-3", "cbrn.vct_accuracy")["value"] == 0.8


def test_a_weaker_elicitation_posted_later_does_not_lower_the_determination(pipeline):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    client = bearer(pipeline)
    base = {"model": "atlas", "checkpoint": "ckpt-1", "metric": "autonomy.swe_task_success"}
    _post(client, {**base, "value": 0.6, "elicitation": {"pass_at_k": 10}})
    _post(client, {**base, "value": 0.1, "elicitation": {"pass_at_k": 1}})
    gate = services.gate_for(model)
    assert _status(gate, "AUTONOMY-CHECKPOINT") == "crossed"
    assert _indicator(gate, "AUTONOMY-CHECKPOINT", "autonomy.swe_task_success")["value"] == 0.6


def test_only_a_correction_lowers_a_determination(safety, rso):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    wrong = add_result(model, "cbrn.vct_accuracy", 0.8)
    assert _status(services.gate_for(model), "CBRN-3") == "crossed"
    pending = corrections.propose(
        wrong, {"value": 0.08}, "Scored against the wrong answer key.", safety
    )
    assert _status(services.gate_for(model), "CBRN-3") == "crossed"  # until a second person
    corrections.confirm(pending.pk, rso)
    assert _status(services.gate_for(model), "CBRN-3") == "below"


# --- 3 and 7 are the journeys in test_governance_journey.py; the path for OpenAI's High ---------


def test_openai_high_lets_scaling_continue_once_its_security_controls_are_verified(
    safety, ceo, pipeline
):
    """PF v2: a High capability continues with High security controls and the CEO's decision
    (the SAG only advises); a Critical one halts."""
    policy_services.load_pack(load_pack_file("openai-preparedness-v2"), actor=None, activate=True)
    model = make_model()
    version = adapter.active_version()
    metrics = {m.key: m for m in version.metrics.all()}
    indicators = [
        (i.threshold.code, i.metric.key, i.warning)
        for i in version.indicators.select_related("threshold", "metric")
    ]
    # Every indicator below its warning line, except BIO-HIGH's first, at its critical line.
    for _code, key, warning in indicators:
        metric = metrics[key]
        low = metric.min if metric.higher_is_more_capable else metric.max
        add_result(model, key, low if warning is None else (low + warning) / 4)
    high = version.thresholds.get(code="BIO-HIGH")
    first = high.indicators.select_related("metric").first()
    add_result(model, first.metric.key, first.critical)
    gate = services.gate_for(model)
    assert _status(gate, "BIO-HIGH") == "crossed"
    assert "threshold_crossed" not in codes(gate)  # High is a path, not a dead end
    assert {"safeguard_missing", "no_approval"} == codes(gate)

    verify_standards(model, {"HIGH-S"}, safety)
    assert codes(services.gate_for(model)) == {"no_approval"}
    decision = services.request_decision(model, 2e24, "High security controls verified.", safety)
    assert decision.required_titles == ["CEO"]
    services.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256)
    assert services.gate_for(model)["state"] == "approved"

    # A Critical capability halts further development, whatever is verified or signed.
    critical = version.thresholds.get(code="BIO-CRITICAL")
    top = critical.indicators.select_related("metric").first()
    add_result(model, top.metric.key, top.critical)
    gate = services.gate_for(model)
    assert gate["state"] == "paused"
    assert any(
        r["code"] == "threshold_crossed" and r["threshold"] == "BIO-CRITICAL"
        for r in gate["reasons"]
    )


# --- 4. The autonomy checkpoint is an early warning ----------------------------------------------


def test_the_autonomy_checkpoint_warns_and_notifies_but_does_not_pause(safety, rso, ceo):
    from governance.models import Notification, Subscription

    Subscription.objects.create(name="safety-channel", target="https://hooks.example/x", secret="s")
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    add_result(model, "autonomy.swe_task_success", 0.7)
    gate = services.gate_for(model)
    assert _status(gate, "AUTONOMY-CHECKPOINT") == "crossed"
    assert gate["warning"] is True
    assert gate["state"] == "approved", gate["reasons"]
    [sent] = Notification.objects.filter(event="warning.crossed")
    assert sent.payload["determinations"] == {"AUTONOMY-CHECKPOINT": "crossed"}


# --- 5. A new checkpoint does not pause scaling by itself ----------------------------------------


def test_a_new_checkpoint_below_the_trigger_keeps_the_gate_open(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    response = bearer(pipeline).post(
        "/api/v1/models/atlas/checkpoints/",
        {"name": "ckpt-2", "effective_compute": 1.5e24},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    gate = services.gate_for(model)
    assert gate["state"] == "approved", gate["reasons"]
    assert gate["latest_checkpoint"] == "ckpt-2"
    assert gate["evaluated_checkpoint"] == "ckpt-1"
    add_checkpoint(model, "ckpt-3", 4e24)  # 4x the last full evaluation: now it is due
    assert "evaluation_due_compute" in codes(services.gate_for(model))


# --- 6. An approved decision goes out of date ----------------------------------------------------


def test_a_decision_signed_before_a_crossing_stops_counting(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    verify_standards(model, {"ASL-3-S"}, safety)  # even with the new standard in place
    add_result(model, "cbrn.vct_accuracy", 0.52)
    gate = services.gate_for(model)
    assert codes(gate) == {"decision_outdated"}
    [reason] = gate["reasons"]
    assert "CBRN-3" in reason["message"]


# --- 8. stderr, sample counts and partial runs ---------------------------------------------------


def _strict_default_pack(z: float = 1.0, min_samples: int = 50) -> None:
    pack = copy.deepcopy(load_pack_file("default"))
    pack["version"] = f"{pack['version']}-strict"
    pack["settings"]["uncertainty_z"] = z
    for metric in pack["metrics"]:
        metric["min_samples"] = min_samples
    policy_services.load_pack(pack, actor=None, activate=True)


def _strong(value: float, **extra: Any) -> dict[str, Any]:
    return {"value": value, "n_samples": 200, **extra}


def test_a_result_within_its_uncertainty_of_the_line_counts_as_crossed(pipeline):
    _strict_default_pack(z=1.0)
    model = make_model()
    client = bearer(pipeline)
    for metric, value in BELOW.items():
        _post(
            client, {"model": "atlas", "checkpoint": "ckpt-1", "metric": metric, **_strong(value)}
        )
    item = {"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    assert _post(client, {**item, **_strong(0.45, stderr=0.1)}).status_code == 201
    gate = services.gate_for(model)
    vct = _indicator(gate, "CBRN-3", "cbrn.vct_accuracy")
    assert vct["bound"] == pytest.approx(0.55)
    assert _status(gate, "CBRN-3") == "crossed"


def test_weak_evidence_shows_danger_but_never_safety(pipeline):
    _strict_default_pack(min_samples=50)
    model = make_model()
    client = bearer(pipeline)
    item = {"model": "atlas", "checkpoint": "ckpt-1"}
    for metric, value in BELOW.items():
        _post(client, {**item, "metric": metric, "value": value, "n_samples": 4})
    gate = services.gate_for(model)
    assert "missing_evidence" in codes(gate)  # four samples cannot show anything is below
    assert _status(gate, "CBRN-3") == "presumed"

    _post(client, {**item, "metric": "cbrn.vct_accuracy", "value": 0.9, "partial": True})
    assert _status(services.gate_for(model), "CBRN-4") == "crossed"  # but they can show danger


def test_a_stderr_larger_than_the_metric_range_is_refused(pipeline):
    activate_default_policy()
    make_model()
    response = _post(
        bearer(pipeline),
        {
            "model": "atlas",
            "checkpoint": "ckpt-1",
            "metric": "cbrn.vct_accuracy",
            "value": 0.4,
            "stderr": 5.0,
        },
    )
    assert response.status_code == 400
    assert "stderr" in response.json()["errors"]
    assert EvalResult.objects.count() == 0


# --- 9. Freshness uses the evaluation's own date -------------------------------------------------


def test_an_old_evaluation_does_not_restart_the_clock(pipeline):
    activate_default_policy()
    model = make_model()
    ran = (timezone.now() - timedelta(days=215)).isoformat()
    client = bearer(pipeline)
    for metric, value in BELOW.items():
        response = _post(
            client,
            {
                "model": "atlas",
                "checkpoint": "ckpt-1",
                "metric": metric,
                "value": value,
                "n_samples": 100,
                "evaluated_at": ran,
            },
        )
        assert response.status_code == 201, response.content
    assert "evaluation_due_time" in codes(services.gate_for(model))


def test_evaluated_at_must_be_a_past_date_with_a_time_zone(pipeline):
    activate_default_policy()
    make_model()
    client = bearer(pipeline)
    base = {"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy", "value": 0.1}
    future = (timezone.now() + timedelta(days=2)).isoformat()
    for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", future, 12]:
        response = _post(client, {**base, "evaluated_at": bad})
        assert response.status_code == 400, bad
        assert "evaluated_at" in response.json()["errors"]


# --- 10. Planned compute below the latest checkpoint; no policy ----------------------------------


def test_a_planned_compute_below_the_latest_checkpoint_is_raised_to_it(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    add_checkpoint(model, "ckpt-2", 3e24)  # past the 2e24 approved
    gate = bearer(pipeline).get("/api/v1/models/atlas/gate/", {"compute": "0"}).json()
    assert gate["planned_compute"] == 3e24
    assert "exceeds_approved_compute" in codes(gate)


def test_without_an_active_policy_only_that_is_claimed(pipeline):
    model = make_model()
    gate = services.gate_for(model)
    assert codes(gate) == {"no_active_policy"}
    assert gate["latest_checkpoint"] == "ckpt-1"


# --- The actor behind a transition, precautions, "as of", query counts --------------------------


def test_a_transition_caused_by_results_follows_the_entries_that_name_each_writer(safety):
    """The worker recomputes for a burst of writes (ADR 0052): its transition says results
    caused it, and the trail's entries before it name each result and who wrote it."""
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    [created] = evidence.record_results(
        [{"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy", "value": 0.8}],
        safety,
        EvalResult.Source.BROWSER,
    )
    settle_gates()
    transition = GateTransition.objects.filter(model=model).order_by("-pk").first()
    assert transition.cause == "result.create"
    entry = AuditEntry.objects.filter(action="gate.transition").order_by("-seq").first()
    assert entry.actor == "system:worker"
    written = AuditEntry.objects.get(action="result.create", object_id=str(created.pk))
    assert written.seq < entry.seq
    assert written.actor == f"user:{safety.username}" or safety.username in written.actor


def test_a_precaution_treats_a_threshold_as_crossed_until_a_decision_lifts_it(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    _all_clear(model, safety, rso, ceo)
    response = client_for(rso).post(
        "/api/v1/models/atlas/precautions/",
        {"threshold": "CBRN-3", "reason": "Cannot rule out uplift from the new tool use."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    precaution = response.json()
    gate = services.gate_for(model)
    assert _status(gate, "CBRN-3") == "crossed"
    assert {"safeguard_missing", "decision_outdated"} <= codes(gate)

    # Safety cannot record one; an unknown threshold is refused.
    assert (
        client_for(safety)
        .post(
            "/api/v1/models/atlas/precautions/",
            {"threshold": "CBRN-3", "reason": "x"},
            content_type="application/json",
        )
        .status_code
        == 403
    )
    bad = client_for(rso).post(
        "/api/v1/models/atlas/precautions/",
        {"threshold": "NOPE", "reason": "x"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "threshold" in bad.json()["errors"]

    # A signed decision that lifts it: CBRN-3 is judged on evidence again.
    _approve(model, safety, rso, ceo, lifts_precautions=[precaution["id"]])
    gate = services.gate_for(model)
    assert _status(gate, "CBRN-3") == "below"
    assert gate["state"] == "approved", gate["reasons"]
    listed = client_for(rso).get("/api/v1/models/atlas/precautions/").json()
    assert [p["in_force"] for p in listed] == [False]


def test_the_gate_as_of_a_past_time(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = make_model()
    before = timezone.now()
    _all_clear(model, safety, rso, ceo)
    client = bearer(pipeline)
    then = client.get("/api/v1/models/atlas/gate/", {"as_of": before.isoformat()}).json()
    assert then["state"] == "paused" and then["as_of"]
    now = client.get("/api/v1/models/atlas/gate/", {"as_of": timezone.now().isoformat()})
    assert now.json()["state"] == "approved"
    early = client.get("/api/v1/models/atlas/gate/", {"as_of": "2001-01-01T00:00:00Z"})
    assert early.status_code == 404
    both = client.get("/api/v1/models/atlas/gate/", {"as_of": "2001-01-01T00:00:00Z", "compute": 1})
    assert both.status_code == 400


def test_live_gate_reads_cost_the_same_with_10_or_10000_results(
    pipeline, django_assert_num_queries
):
    activate_default_policy()
    model = make_model()
    checkpoint = model.checkpoints.get()
    client = bearer(pipeline, name="a")

    def rows(n: int) -> list[EvalResult]:
        return [
            EvalResult(
                model=model,
                checkpoint=checkpoint,
                metric_key=list(BELOW)[i % len(BELOW)],
                value=list(BELOW.values())[i % len(BELOW)],
                source="api",
            )
            for i in range(n)
        ]

    EvalResult.objects.bulk_create(rows(10))
    client.get("/api/v1/models/atlas/gate/", {"compute": "1e24"})  # warm the policy cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.adapter import forget_live_inputs

    # Both reads measured without the live inputs' cache (new rows move its stamp anyway).
    forget_live_inputs()
    with CaptureQueriesContext(connection) as small:
        assert client.get("/api/v1/models/atlas/gate/", {"compute": "1e24"}).status_code == 200
    EvalResult.objects.bulk_create(rows(9_990))
    forget_live_inputs()
    with CaptureQueriesContext(connection) as large:
        assert client.get("/api/v1/models/atlas/gate/", {"compute": "1e24"}).status_code == 200
    assert len(large) == len(small)


def test_a_deployment_decision_does_not_open_scaling(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(
        model, None, "Deploy ckpt-1.", safety, scope="deployment", checkpoints=["ckpt-1"]
    )
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    assert ScalingDecision.objects.get(pk=decision.pk).status == "approved"
    assert services.gate_for(model, "deployment")["state"] == "approved"
    assert codes(services.gate_for(model)) == {"no_approval"}


# --- Issue 23, observation 9: deployment decisions name their checkpoints ------------------


def _deploy(model: Any, safety: Any, rso: Any, ceo: Any, names: list[str], **kw: Any) -> Any:
    sign_required_reports(model, safety, rso, ceo, scope="deployment")
    decision = services.request_decision(
        model, None, "Deploy.", safety, scope="deployment", checkpoints=names, **kw
    )
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    return decision


def test_a_deployment_decision_covers_only_the_checkpoints_it_names(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    _deploy(model, safety, rso, ceo, ["ckpt-1"])
    assert services.gate_for(model, "deployment")["state"] == "approved"

    add_checkpoint(model, "unevaluated", 1.2e24)  # within the compute multiple, not named
    gate = services.gate_for(model, "deployment")
    assert gate["state"] == "paused"
    [reason] = [r for r in gate["reasons"] if r["code"] == "no_approval"]
    assert "unevaluated" in reason["message"] and "ckpt-1" in reason["message"]


def test_a_deployment_decision_refuses_a_compute_limit_and_needs_checkpoints(safety):
    activate_default_policy()
    model = make_model()
    with pytest.raises(services.GovernanceError) as limit:
        services.request_decision(
            model, 1e30, "Deploy.", safety, scope="deployment", checkpoints=["ckpt-1"]
        )
    assert "compute_limit" in limit.value.message_dict
    with pytest.raises(services.GovernanceError) as missing:
        services.request_decision(model, None, "Deploy.", safety, scope="deployment")
    assert "checkpoints" in missing.value.message_dict
    other = make_model("borealis")
    del other
    with pytest.raises(services.GovernanceError) as foreign:
        services.request_decision(
            model, None, "Deploy.", safety, scope="deployment", checkpoints=["nope"]
        )
    assert "nope" in foreign.value.message_dict["checkpoints"][0]


def test_the_api_refuses_a_deployment_compute_limit_naming_it(safety):
    activate_default_policy()
    make_model()
    response = client_for(safety).post(
        "/api/v1/decisions/",
        {
            "model": "atlas",
            "scope": "deployment",
            "compute_limit": 1e30,
            "checkpoints": ["ckpt-1"],
            "rationale": "Deploy.",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "compute_limit" in response.json()["errors"]


def test_a_deployment_decision_lifts_a_precaution_for_deployment_only(safety, rso, ceo):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    verify_standards(model, {"ASL-3-D", "ASL-3-S"}, safety)
    precaution = services.record_precaution(model, "CBRN-3", "cannot rule it out", rso)
    _deploy(model, safety, rso, ceo, ["ckpt-1"], lifts_precautions=[precaution.pk])

    assert services.gate_for(model, "deployment")["state"] == "approved"
    assert precaution.pk in {p.pk for p in adapter.precautions_in_force(model, "scaling")}
    assert precaution.pk not in {p.pk for p in adapter.precautions_in_force(model, "deployment")}
    scaling = services.gate_for(model)
    assert {d["threshold"]: d["status"] for d in scaling["determinations"]}["CBRN-3"] != "below"


def test_an_advisory_title_recommends_without_deciding(safety, rso, ceo):
    from core.services import create_user

    pack = copy.deepcopy(load_pack_file("default"))
    pack["version"] = f"{pack['version']}-sag"
    pack["settings"]["advisory_titles"] = ["SAG"]
    policy_services.load_pack(pack, actor=None, activate=True)
    sag = create_user("sag-chair", role="leadership", titles=["SAG"])
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "Below every line.", safety)
    assert decision.can_be_signed_by(sag) == "SAG"
    services.sign_decision(decision.pk, sag, "reject", decision.dossier_sha256, "Wait a week.")
    decision.refresh_from_db()
    assert decision.status == "pending"  # a recommendation does not decide
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    decision.refresh_from_db()
    assert decision.status == "approved"
    assert {a.title: a.verdict for a in decision.approvals.all()} == {
        "SAG": "reject",
        "RSO": "approve",
        "CEO": "approve",
    }
