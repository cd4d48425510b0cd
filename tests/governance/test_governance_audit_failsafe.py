"""A trail that fails verification pauses every gate: the record itself is in doubt."""

from __future__ import annotations

import pytest

from audit.verification import run_verification
from governance import services
from tests.audit_support import attacker, audit_keys  # noqa: F401  (fixture)
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    codes,
    evaluate_all_below,
    make_model,
)

pytestmark = pytest.mark.django_db


def test_a_tampered_trail_pauses_an_approved_gate(
    audit_keys,  # noqa: F811
    verified_trail,
    safety,
    rso,
    ceo,
):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "below every line", safety)
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    assert services.gate_for(model)["state"] == "approved"
    outcome, _ = run_verification("test")
    assert outcome.ok, outcome.message

    with attacker() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'forged' WHERE seq = 3")
    outcome, _ = run_verification("test")
    assert not outcome.ok

    gate = services.gate_for(model)
    assert gate["state"] == "paused"
    assert codes(gate) == {"audit_unverified"}
    assert "audit trail failed its last verification at" in gate["reasons"][0]["message"]
    live = services.gate_for(model, compute=1e24)
    assert live["state"] == "paused"
