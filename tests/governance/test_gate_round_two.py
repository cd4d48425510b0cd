"""Issue 23, gate round two: the largest checkpoint decides (obs 1), descendants follow their
ancestors in the same transaction (obs 2), ``as_of`` and time (obs 4), activation keeps decisions
whose dossier still describes the model (obs 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from evaluations.models import AIModel, Checkpoint
from governance import services
from governance.models import GateState, GateTransition, Notification, Subscription
from tests.conftest import bearer, client_for
from tests.governance_fixtures import (
    add_checkpoint,
    add_result,
    baseline,
    codes,
    evaluate_all_below,
    make_model,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail", "long_trust")]


@pytest.fixture
def long_trust(settings: Any) -> None:
    """A verification stays trusted for a day: these tests are about the gate, not the trail."""
    settings.AUDIT_VERIFY_MAX_AGE_SECONDS = 86400


def activate_default_policy() -> Any:
    """The default pack without its report prerequisites for decisions and its procedural
    commitments (issue 25's accountability is not what these tests are about)."""
    import copy

    from policies import services as policy_services
    from policies.packs import load_pack_file

    pack = copy.deepcopy(load_pack_file("default"))
    for kind in pack.get("report_kinds", []):
        kind["required_for"] = []
    pack.pop("commitments", None)  # nor its procedural commitments
    return policy_services.load_pack(pack, actor=None, activate=True)


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


# --- Obs 2: descendants follow their ancestors at once --------------------------------------------


def _family(safety: Any, rso: Any, ceo: Any, children: int = 1) -> tuple[AIModel, list[AIModel]]:
    """An approved parent, and ``children`` approved descendants in a chain (child,
    grandchild, ...), each evaluated below every line on its own checkpoint."""
    parent = approved_model(safety, rso, ceo, "atlas")
    line: list[AIModel] = []
    above = parent
    for i in range(children):
        model = make_model(f"atlas-d{i}")
        model.parent = above
        model.save()
        evaluate_all_below(model)
        baseline(model, safety)
        approve(model, safety, rso, ceo)
        assert services.gate_for(model)["state"] == "approved"
        line.append(model)
        above = model
    return parent, line


def test_a_parents_crossing_pauses_its_descendants_in_the_same_transaction(safety, rso, ceo):
    activate_default_policy()
    parent, (child, grandchild) = _family(safety, rso, ceo, children=2)
    before = {m.pk: GateTransition.objects.filter(model=m).count() for m in (child, grandchild)}
    Subscription.objects.create(name="safety-channel", target="https://hooks.example/x", secret="s")

    add_result(parent, "cbrn.vct_accuracy", 0.8)  # the parent crosses CBRN-3

    for model in (child, grandchild):
        # The stored row itself (no recomputation on read) already says paused.
        stored = services.stored_gate(model.slug)
        assert stored is not None and stored["state"] == "paused", stored
        assert "CBRN-3" in stored["crossed_thresholds"]
        assert "decision_outdated" in codes(stored)
        transition = GateTransition.objects.filter(model=model).order_by("-pk").first()
        assert GateTransition.objects.filter(model=model).count() > before[model.pk]
        assert transition is not None and transition.to_state == "paused"
        assert "atlas" in transition.cause
        assert (
            AuditEntry.objects.filter(action="gate.transition", model_slug=model.slug).count() > 1
        )
        assert Notification.objects.filter(
            event="gate.transition", payload__model=model.slug, payload__to="paused"
        ).exists()


@pytest.mark.parametrize("write", ["pause", "safeguard", "checkpoint"])
def test_every_write_on_an_ancestor_recomputes_the_descendants(safety, rso, ceo, write):
    activate_default_policy()
    parent, (child,) = _family(safety, rso, ceo, children=1)
    GateState.objects.filter(model=child).update(computed_at=timezone.now() - timedelta(days=1))
    if write == "pause":
        services.pause(parent, "odd transcript", safety)
    elif write == "safeguard":
        services.record_safeguard(
            parent, "ASL2S.supply_chain", "verified", safety, evidence_url="https://e.example/y"
        )
    else:
        add_checkpoint(parent, "ckpt-2", 1.5e24)
    state = GateState.objects.get(model=child, scope="scaling")
    assert timezone.now() - state.computed_at < timedelta(hours=1)


def _family_of(root: AIModel, size: int) -> list[AIModel]:
    """``size`` descendants of ``root``: children and grandchildren, no evidence of their own."""
    made: list[AIModel] = []
    for i in range(size):
        model = AIModel.objects.create(slug=f"{root.slug}-f{i}", name=f"F{i}", family="atlas")
        model.parent = root if i % 2 == 0 or not made else made[-1]
        model.save()
        made.append(model)
        Checkpoint.objects.create(model=model, name="c", effective_compute=1e24)
    with transaction.atomic():
        services.recompute(root, "test.setup")
    return made


def _write_queries(root: AIModel, metric: str, actor: Any) -> list[str]:
    """The statements of one result posted on ``root`` (with its family's recomputation)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluations.services import record_results

    item = {"model": root.slug, "checkpoint": "ckpt-1", "metric": metric, "value": 0.8}
    with CaptureQueriesContext(connection) as captured:
        record_results([{**item, "n_samples": 100}], actor, "api")
    return [q["sql"][:90] for q in captured.captured_queries]


def test_the_family_recompute_costs_the_same_whatever_the_family_size(safety, pipeline):
    activate_default_policy()
    small, large = make_model("small"), make_model("large")
    evaluate_all_below(small)
    evaluate_all_below(large)
    family = _family_of(small, 2) + _family_of(large, 5)
    # Warm each family's summary state, then the same crossing on each: every descendant's
    # gate changes.
    _write_queries(small, "cyber.ctf_solve_rate", pipeline)
    _write_queries(large, "cyber.ctf_solve_rate", pipeline)
    two = _write_queries(small, "cbrn.vct_accuracy", pipeline)
    five = _write_queries(large, "cbrn.vct_accuracy", pipeline)
    assert len(two) == len(five), "\n".join(five)
    for model in family:
        state = GateState.objects.get(model_id=model.pk, scope="scaling")
        assert "CBRN-3" in state.verdict["crossed_thresholds"], model


# --- Obs 4: as_of refuses the future; time-due changes are recorded when they fell due ------------


def test_as_of_in_the_future_is_refused_naming_as_of(pipeline):
    activate_default_policy()
    make_model()
    response = bearer(pipeline).get("/api/v1/models/atlas/gate/", {"as_of": "2099-01-01T00:00Z"})
    assert response.status_code == 400, response.content
    assert "as_of" in response.json()["errors"]


def test_the_as_of_page_refuses_the_future(auditor):
    activate_default_policy()
    make_model()
    page = client_for(auditor).get("/models/atlas/gate/as-of/", {"as_of": "2099-01-01T00:00"})
    assert page.status_code == 200
    assert b"in the future" in page.content


def _evaluated_long_ago(model: AIModel, at: Any) -> None:
    """Every indicator evaluated below its line at ``at`` (the evaluation's own date)."""
    from evaluations.services import record_results
    from tests.governance_fixtures import BELOW

    items = [
        {
            "model": model.slug,
            "checkpoint": "ckpt-1",
            "metric": metric,
            "value": value,
            "n_samples": 100,
            "evaluated_at": at.isoformat(),
        }
        for metric, value in BELOW.items()
    ]
    record_results(items, None, "api")


@pytest.mark.parametrize("noticed_by", ["read", "sweep"])
def test_an_evaluation_falling_due_is_recorded_when_it_fell_due(
    safety, rso, ceo, monkeypatch, noticed_by
):
    from types import SimpleNamespace

    from governance import tasks
    from governance.services import gates
    from policies.rules import add_months

    activate_default_policy()
    model = make_model()
    real_now = timezone.now()
    # Six months (the policy's interval) fall due a minute from now.
    _evaluated_long_ago(model, add_months(real_now, -6) + timedelta(minutes=1))
    baseline(model, safety)
    approve(model, safety, rso, ceo)
    state = GateState.objects.get(model=model, scope="scaling")
    assert state.state == "approved"
    due = state.valid_until
    assert due is not None and real_now < due <= real_now + timedelta(minutes=1)

    later = real_now + timedelta(minutes=4)  # noticed three minutes after it fell due
    clock = SimpleNamespace(now=lambda: later)
    monkeypatch.setattr(gates, "timezone", clock)
    monkeypatch.setattr(tasks, "timezone", clock)
    if noticed_by == "read":
        assert services.gate_for(model)["state"] == "paused"
    else:
        tasks.sweep_gates()
    transition = GateTransition.objects.filter(model=model, scope="scaling").latest("pk")
    assert transition.to_state == "paused"
    assert "evaluation_due_time" in {r["code"] for r in transition.reasons}
    assert transition.created_at == due  # when it fell due, not when it was noticed
    assert services.gate_as_of(model, "scaling", due - timedelta(seconds=1))["state"] == "approved"
    assert services.gate_as_of(model, "scaling", due)["state"] == "paused"


# --- Obs 5: activation keeps decisions whose dossier still describes the model --------------------


def _activate_variant(label: str, change: Any) -> None:
    import copy

    from policies import services as policy_services
    from policies.packs import load_pack_file

    pack = copy.deepcopy(load_pack_file("default"))
    pack["version"] = f"{pack['version']}-{label}"
    for kind in pack.get("report_kinds", []):
        kind["required_for"] = []
    pack.pop("commitments", None)
    change(pack)
    policy_services.load_pack(pack, actor=None, activate=True)


def _cbrn3(pack: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in pack["thresholds"] if t["code"] == "CBRN-3")


def test_a_one_word_description_fix_keeps_the_decision_in_force(safety, rso, ceo, pipeline):
    activate_default_policy()
    model = approved_model(safety, rso, ceo)

    def fix_description(pack: dict[str, Any]) -> None:
        _cbrn3(pack)["description"] = _cbrn3(pack)["description"].replace("helps", "aids")

    _activate_variant("typo", fix_description)
    gate = _gate(bearer(pipeline))
    assert gate["state"] == "approved", gate["reasons"]
    assert gate["policy_version"].endswith("-typo")
    assert services.stored_gate(model.slug)["state"] == "approved"


def test_a_new_version_that_changes_a_determination_outdates_the_decision_naming_it(
    safety, rso, ceo, pipeline
):
    activate_default_policy()
    approved_model(safety, rso, ceo)

    def lower_the_line(pack: dict[str, Any]) -> None:
        for indicator in _cbrn3(pack)["indicators"]:
            if indicator["metric"] == "cbrn.vct_accuracy":
                indicator["warning"], indicator["critical"] = 0.05, 0.08  # 0.1 now crosses

    _activate_variant("stricter", lower_the_line)
    gate = _gate(bearer(pipeline))
    assert gate["state"] == "paused"
    assert "no_approval" not in codes(gate)
    outdated = [r for r in gate["reasons"] if r["code"] == "decision_outdated"]
    assert outdated, gate["reasons"]
    message = outdated[0]["message"]
    from policies.packs import load_pack_file

    signed_under = load_pack_file("default")["version"]
    assert f"{signed_under}-stricter" in message and f"{signed_under};" in message
    assert "CBRN-3 is crossed, not below" in message
    assert "ASL-3-S" in message
