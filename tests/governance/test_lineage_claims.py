"""Claimed and confirmed lineage (issue 23 obs 8; docs/adr/0034-claimed-and-confirmed-lineage.md).

A parent named at registration is a claim. Until a second person (safety or leadership, not the
one who registered the model) confirms it, the parent's crossings count for the child at once,
but its below-line results never clear the child's lines and its fully evaluated checkpoints
never stand for the child's compute trigger.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from audit.models import AuditEntry
from evaluations import services as evidence
from evaluations.models import AIModel
from governance import services
from governance.models import GateTransition
from tests.conftest import bearer, client_for
from tests.gate_oracle import build_input_rowwise
from tests.governance.test_gate_round_two import activate_default_policy, approve, long_trust
from tests.governance_fixtures import (
    add_checkpoint,
    add_result,
    baseline,
    codes,
    evaluate_all_below,
    make_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail", "long_trust")]
__all__ = ["long_trust"]  # the fixture, used by name


def _statuses(gate: dict[str, Any]) -> dict[str, str]:
    return {d["threshold"]: d["status"] for d in gate["determinations"]}


def _claimed_child(parent: AIModel, actor: Any, slug: str = "atlas-ft") -> AIModel:
    """A child registered through the API by ``actor``, naming ``parent``; one checkpoint."""
    response = bearer(actor).post(
        "/api/v1/models/",
        {"slug": slug, "name": "Fine-tune", "parent": parent.slug},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    child = AIModel.objects.get(slug=slug)
    add_checkpoint(child, "ckpt-1", 1e24)
    return child


def _confirm(user: Any, slug: str = "atlas-ft", reason: Any = "Same weights, checked") -> Any:
    body = {} if reason is None else {"reason": reason}
    return bearer(user).post(
        f"/api/v1/models/{slug}/lineage/confirm/", body, content_type="application/json"
    )


def test_a_claimed_parents_below_line_results_do_not_clear_the_child(safety, rso, ceo, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    evaluate_all_below(parent)
    child = _claimed_child(parent, pipeline)
    baseline(child, safety)

    gate = services.gate_for(child)
    assert set(_statuses(gate).values()) <= {"presumed"}, _statuses(gate)
    assert "missing_evidence" in codes(gate)
    # A signature alone does not open it: the decision covers a gate that still has failing checks.
    approve(child, safety, rso, ceo)
    assert services.gate_for(child)["state"] == "paused"
    detail = bearer(pipeline).get("/api/v1/models/atlas-ft/").json()
    assert detail["lineage"] == "claimed"


def test_a_claimed_parents_crossing_counts_for_the_child_at_once(safety, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    evaluate_all_below(parent)
    child = _claimed_child(parent, pipeline)
    evaluate_all_below(child)
    add_result(parent, "cbrn.vct_accuracy", 0.8)  # the parent crosses CBRN-3
    stored = services.stored_gate(child.slug)
    assert stored is not None and "CBRN-3" in stored["crossed_thresholds"]


def test_a_claimed_parents_full_evaluation_does_not_stand_for_the_childs_compute(safety, pipeline):
    activate_default_policy()
    parent = make_model("atlas", compute=2e24)
    evaluate_all_below(parent)
    child = _claimed_child(parent, pipeline)  # own ckpt-1 at 1e24, evaluated below
    evaluate_all_below(child)
    add_checkpoint(child, "ckpt-2", 5e24)  # 5x its own evaluated 1e24; 2.5x the parent's 2e24
    gate = services.gate_for(child)
    assert "evaluation_due_compute" in codes(gate)
    assert gate["evaluated_checkpoint"] == "ckpt-1"

    assert _confirm(safety).status_code == 200
    gate = services.gate_for(child)
    assert "evaluation_due_compute" not in codes(gate)
    assert gate["evaluated_checkpoint"] == "atlas:ckpt-1"


def test_confirming_the_lineage_is_audited_and_recomputes_the_family(safety, ceo, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    evaluate_all_below(parent)
    child = _claimed_child(parent, pipeline)
    with transaction.atomic():
        grandchild = evidence.create_model(
            slug="atlas-ft-2", name="Grandchild", parent=child, actor=pipeline
        )
    add_checkpoint(grandchild, "ckpt-1", 1e24)
    baseline(child, safety)
    before = GateTransition.objects.filter(model=child).count()
    assert services.stored_gate(child.slug)["state"] == "paused"

    response = _confirm(ceo)  # leadership may confirm too

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lineage"] == "confirmed"
    assert body["lineage_confirmed_by"] == ceo.username
    entry = AuditEntry.objects.filter(action="model.lineage_confirm").get()
    assert entry.model_slug == "atlas-ft"
    data = entry.parsed["data"]
    assert data["parent"] == "atlas" and data["reason"] == "Same weights, checked"
    # The stored gate (no recomputation on read) already counts the parent's evidence.
    stored = services.stored_gate(child.slug)
    assert stored is not None and set(_statuses(stored).values()) == {"below"}, stored
    assert stored["state"] == "approved" or "missing_evidence" not in codes(stored)
    assert GateTransition.objects.filter(model=child).count() > before
    # The grandchild's own link is still a claim: the confirmed link above it does not help.
    grand = services.stored_gate(grandchild.slug)
    assert grand is not None and "missing_evidence" in codes(grand)


def test_the_person_who_registered_the_model_cannot_confirm_its_lineage(safety, ceo):
    activate_default_policy()
    parent = make_model("atlas")
    _claimed_child(parent, safety)  # safety registered the child with its parent
    response = _confirm(safety)
    assert response.status_code == 403
    assert "second person" in response.json()["detail"]
    assert AIModel.objects.get(slug="atlas-ft").lineage == "claimed"
    assert _confirm(ceo).status_code == 200


@pytest.mark.parametrize("who", ["pipeline", "admin_user", "auditor"])
def test_only_safety_and_leadership_confirm_lineage(request, who, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    _claimed_child(parent, pipeline)
    user = request.getfixturevalue(who)
    assert _confirm(user).status_code == 403
    assert (
        client_for(user).post("/models/atlas-ft/lineage/confirm/", {"reason": "x"}).status_code
        == 403
    )
    assert AIModel.objects.get(slug="atlas-ft").lineage == "claimed"


def test_confirming_needs_a_reason_a_parent_and_happens_once(safety, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    _claimed_child(parent, pipeline)
    missing = _confirm(safety, reason=None)
    assert missing.status_code == 400 and "reason" in missing.json()["errors"], missing.content
    assert _confirm(safety, reason=" ").status_code == 400
    assert _confirm(safety, slug="atlas").status_code == 400  # no parent to confirm
    assert _confirm(safety).status_code == 200
    again = _confirm(safety)
    assert again.status_code == 409
    assert AuditEntry.objects.filter(action="model.lineage_confirm").count() == 1


def test_the_model_page_shows_the_claim_and_lets_a_second_person_confirm(safety, pipeline):
    activate_default_policy()
    parent = make_model("atlas")
    evaluate_all_below(parent)
    _claimed_child(parent, pipeline)
    page = client_for(safety).get("/models/atlas-ft/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "claimed" in text and 'action="/models/atlas-ft/lineage/confirm/"' in text
    response = client_for(safety).post("/models/atlas-ft/lineage/confirm/", {"reason": "checked"})
    assert response.status_code == 302
    text = client_for(safety).get("/models/atlas-ft/").content.decode()
    assert "confirmed by" in text and "lineage/confirm" not in text
    listing = bearer(pipeline).get("/api/v1/models/").json()
    rows = {m["slug"]: m for m in listing["results"]}
    assert rows["atlas-ft"]["lineage"] == "confirmed" and rows["atlas"]["lineage"] is None


def test_the_reduced_reads_agree_with_the_row_by_row_reference_on_a_claimed_lineage(
    safety, pipeline
):
    from django.utils import timezone

    from governance import adapter
    from governance.evidence_sql import read_ranked
    from governance.gate import evaluate

    activate_default_policy()
    parent = make_model("atlas", compute=2e24)
    evaluate_all_below(parent)
    add_result(parent, "cyber.ctf_solve_rate", 0.05, n_samples=3)  # weak, below
    child = _claimed_child(parent, pipeline)
    add_result(child, "cbrn.vct_accuracy", 0.2)
    now = timezone.now()
    for confirmed in (False, True):
        if confirmed:
            assert _confirm(safety).status_code == 200
            child.refresh_from_db()
        reference, _ = build_input_rowwise(child, "scaling", None, now)
        reduced, _ = adapter.build_input(child, "scaling", None, now)
        expected = evaluate(reference).to_dict()
        assert evaluate(reduced).to_dict() == expected
        policy = adapter.active_snapshot()
        from dataclasses import replace

        ranked = replace(reduced, evidence=read_ranked(child, policy))
        assert evaluate(ranked).to_dict() == expected
