"""Issue 23, gate round two: the largest checkpoint decides (obs 1), descendants follow their
ancestors in the same transaction (obs 2), ``as_of`` and time (obs 4), activation keeps decisions
whose dossier still describes the model (obs 5)."""

from __future__ import annotations

from typing import Any

import pytest

from evaluations.models import AIModel
from governance import services
from tests.conftest import bearer
from tests.governance_fixtures import (
    activate_default_policy,
    add_checkpoint,
    baseline,
    codes,
    evaluate_all_below,
    make_model,
)

pytestmark = pytest.mark.django_db


def _gate(client: Any, slug: str = "atlas", **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/models/{slug}/gate/", params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def approve(model: AIModel, safety: Any, rso: Any, ceo: Any, limit: float = 3e24) -> None:
    """A signed scaling decision for ``model`` up to ``limit``."""
    decision = services.request_decision(model, limit, "Below every line.", safety)
    dossier = decision.dossier_sha256
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", dossier, "ok")


def approved_model(safety: Any, rso: Any, ceo: Any, slug: str = "atlas") -> AIModel:
    model = make_model(slug)
    evaluate_all_below(model)
    baseline(model, safety)
    approve(model, safety, rso, ceo)
    assert services.gate_for(model)["state"] == "approved"
    return model


# --- Obs 1: the largest checkpoint decides -------------------------------------------------------


def test_a_smaller_checkpoint_registered_later_never_reopens_the_gate(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = approved_model(safety, rso, ceo)
    client = bearer(pipeline)
    add_checkpoint(model, "big", 5e24)
    paused = {"evaluation_due_compute", "exceeds_approved_compute"}
    assert codes(_gate(client)) == paused

    add_checkpoint(model, "distilled", 1e24)  # a distillation, registered after
    gate = _gate(client)
    assert gate["state"] == "paused"
    assert codes(gate) == paused
    assert gate["planned_compute"] == 5e24
    assert gate["latest_checkpoint"] == "big"
    assert codes(_gate(client, compute="0")) == paused
    assert codes(_gate(client, compute="1e24")) == paused
