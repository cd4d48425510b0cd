"""Each framework pack drives the gate: below every line and signed -> approved; a red line
crossed -> paused; its required safeguards verified and a new decision signed by the pack's
own sign-off titles -> approved again (a crossing is not a dead end); a `halt` threshold
crossed -> paused whatever is verified or signed.

Assertions are on the gate's state and required standards, not on reason wording, so that
they hold the engine to its documented rules (docs/how-the-gate-decides.md) rather than to
one implementation of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from core.services import create_user
from evaluations.models import AIModel, EvalResult
from governance import services
from policies import services as policy_services
from policies.packs import load_pack_file
from tests.governance_fixtures import make_model, verify_standards

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]

FRAMEWORK_PACKS = [
    "anthropic-rsp-v3-0",
    "gdm-fsf-v3-1",
    "meta-frontier-ai-v1",
    "meta-scaling-v2",
    "microsoft-fgf",
    "amazon-fmsf",
]


def _post(model: AIModel, metric: str, value: float) -> None:
    checkpoint = model.checkpoints.order_by("-reported_at", "-pk").first()
    with transaction.atomic():
        EvalResult.objects.create(
            model=model,
            checkpoint=checkpoint,
            metric_key=metric,
            value=value,
            n_samples=10_000,  # above any min_samples: strong evidence either way
            source="api",
        )
        services.on_evidence_changed(model, "result.create")


def _least_capable(metric: dict[str, Any]) -> float:
    return float(metric["min"] if metric["higher_is_more_capable"] else metric["max"])


def _signed(model: AIModel, requester: Any, signers: list[Any]) -> Any:
    decision = services.request_decision(model, 2e24, "Continue under the pack.", requester)
    for signer in signers:
        decision = services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    assert decision.status == "approved", decision.status
    return decision


def _state(model: AIModel) -> dict[str, Any]:
    return services.gate_for(model)


def _setup(name: str, safety: Any) -> tuple[dict[str, Any], AIModel, list[Any]]:
    pack = load_pack_file(name)
    policy_services.load_pack(pack, actor=None, activate=True)
    signers = [
        create_user(f"signer-{index}", "leadership", titles=[title])
        for index, title in enumerate(pack["settings"]["signoff_titles"])
    ]
    model = make_model()
    for metric in pack["metrics"]:
        _post(model, metric["key"], _least_capable(metric))
    verify_standards(model, set(pack["settings"]["baseline_standards"]), safety)
    return pack, model, signers


def _cross(model: AIModel, pack: dict[str, Any], threshold: dict[str, Any]) -> None:
    indicator = threshold["indicators"][0]
    _post(model, indicator["metric"], indicator["critical"])


@pytest.mark.parametrize("name", FRAMEWORK_PACKS)
def test_a_crossing_pauses_and_a_signed_continuation_resumes(name: str, safety: Any) -> None:
    pack, model, signers = _setup(name, safety)
    assert _state(model)["state"] == "paused"  # nothing signed yet
    _signed(model, safety, signers)
    gate = _state(model)
    assert gate["state"] == "approved", gate["reasons"]

    threshold = next(
        t
        for t in pack["thresholds"]
        if t["tier"] == "red_line" and not t["halt"] and t["indicators"]
    )
    _cross(model, pack, threshold)
    gate = _state(model)
    assert gate["state"] == "paused", gate
    assert set(threshold["requires"]["scaling"]) <= set(gate["required_standards"])

    # Continue: verify what is now required, then sign a decision that shows the crossing.
    verify_standards(model, set(gate["required_standards"]), safety)
    _signed(model, safety, signers)
    gate = _state(model)
    assert gate["state"] == "approved", gate["reasons"]


# Meta v2 turned Critical from "stop" into "develop with mitigations": only v1 halts.
@pytest.mark.parametrize("name", ["meta-frontier-ai-v1"])
def test_a_halt_threshold_pauses_whatever_is_verified_or_signed(name: str, safety: Any) -> None:
    pack, model, _signers = _setup(name, safety)
    threshold = next(t for t in pack["thresholds"] if t["halt"])
    _cross(model, pack, threshold)
    gate = _state(model)
    assert gate["state"] == "paused"
    verify_standards(model, set(gate["required_standards"]), safety)
    services.request_decision(model, 2e24, "Try to continue past a halt.", safety)
    gate = _state(model)
    assert gate["state"] == "paused"
    assert "threshold_crossed" in {reason["code"] for reason in gate["reasons"]}
