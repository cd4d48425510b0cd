"""Properties of the stored gate across a three-generation family (issue 23): after any
sequence of writes on a parent, a child and a grandchild, with checkpoints registered in any
order and their claimed parent links confirmed at any point, every stored gate equals a fresh
recomputation; and ``as_of(t)`` answers what a read at ``t`` returned.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations import lineage
from evaluations import services as evidence
from evaluations.models import AIModel, EvidenceSummaryState
from governance import services
from governance.models import GateState, Scope
from tests.governance.test_gate_round_two import activate_default_policy, long_trust
from tests.governance_fixtures import BELOW, add_checkpoint, settle_gates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail", "long_trust")]
__all__ = ["long_trust"]  # the fixture, used by name

MEMBERS = ("parent", "child", "grandchild")
METRICS = sorted(BELOW)

_member = st.sampled_from(range(len(MEMBERS)))
_step = st.one_of(
    st.tuples(st.just("checkpoint"), _member, st.sampled_from([1e23, 5e23, 1e24, 3e24, 5e24])),
    st.tuples(
        st.just("result"), _member, st.sampled_from(METRICS), st.sampled_from([0.05, 0.5, 0.95])
    ),
    st.tuples(st.just("all_below"), _member),
    st.tuples(st.just("safeguard"), _member, st.sampled_from(["verified", "planned"])),
    st.tuples(st.just("pause"), _member),
    st.tuples(st.just("precaution"), _member),
    # The child's or the grandchild's claimed parent confirmed by a second person.
    st.tuples(st.just("confirm"), st.sampled_from([1, 2])),
)


def _family() -> list[AIModel]:
    models: list[AIModel] = []
    for name in MEMBERS:
        with transaction.atomic():
            model = AIModel.objects.create(
                slug=f"fam-{name}",
                name=name,
                family="fam",
                parent=models[-1] if models else None,
            )
            services.recompute(model, "test.setup")
        models.append(model)
    return models


def _apply(models: list[AIModel], step: tuple[Any, ...], actors: dict[str, Any]) -> None:
    kind, who = step[0], models[step[1]]
    if kind == "confirm":
        who.refresh_from_db()
        if who.lineage == AIModel.Lineage.CLAIMED:
            lineage.confirm(who, "same weights", actors["safety"])
        return
    if kind == "checkpoint":
        count = who.checkpoints.count()
        add_checkpoint(who, f"ckpt-{count + 1}", step[2])
        return
    checkpoint = who.largest_checkpoint()
    if kind in ("result", "all_below"):
        if checkpoint is None:
            return
        values = {step[2]: step[3]} if kind == "result" else BELOW
        items = [
            {
                "model": who.slug,
                "checkpoint": checkpoint.name,
                "metric": metric,
                "value": value,
                "n_samples": 100,
            }
            for metric, value in values.items()
        ]
        evidence.record_results(items, actors["pipeline"], "api")
    elif kind == "safeguard":
        services.record_safeguard(
            who,
            "ASL2S.supply_chain",
            step[2],
            actors["safety"],
            evidence_url="https://evidence.example/x",
        )
    elif kind == "pause":
        services.pause(who, "property test", actors["safety"])
    elif kind == "precaution":
        services.record_precaution(who, "CBRN-3", "cannot rule it out", actors["ceo"])


def _said(verdict: dict[str, Any]) -> Any:
    """What a gate says (what a transition records): state, reasons, determinations."""
    return (
        verdict.get("state"),
        sorted(
            # A reason's fields may be null beside a named one (a safeguard reason names the
            # crossing that raised it, or none): compared as text so the order is total.
            tuple(str(r.get(key)) for key in ("code", "threshold", "metric", "requirement"))
            for r in verdict.get("reasons", [])
        ),
        sorted((d["threshold"], d["status"]) for d in verdict.get("determinations", [])),
    )


def _behind(model: AIModel) -> bool:
    owed = EvidenceSummaryState.objects.filter(model=model).values_list("evidence_seq")
    return GateState.objects.filter(model=model, evidence_seq__lt=owed[:1]).exists()


def _essence(verdict: dict[str, Any]) -> Any:
    """What a gate says, and the planned compute it was computed for."""
    planned = verdict.get("planned_compute")
    return (*_said(verdict), None if planned is None else float(planned))


@pytest.fixture
def actors(safety: Any, ceo: Any, pipeline: Any) -> dict[str, Any]:
    return {"safety": safety, "ceo": ceo, "pipeline": pipeline}


def test_the_stored_gate_equals_a_fresh_recomputation_across_three_generations(actors):
    activate_default_policy()

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(_step, min_size=1, max_size=7))
    def run(steps: list[tuple[Any, ...]]) -> None:
        with transaction.atomic():
            models = _family()
            reads: list[tuple[AIModel, str, Any, Any]] = []
            for step in steps:
                _apply(models, step, actors)
                # A gate that result writes left to the worker (ADR 0052) is never served
                # from before; then the worker runs.
                for model in models:
                    if _behind(model):
                        assert services.stored_gate(model.slug) is None, (model.slug, step)
                settle_gates()
                for model in models:
                    for scope in Scope.values:
                        stored = GateState.objects.get(model=model, scope=scope)
                        fresh, _ = services.evaluate_model(model, scope)
                        assert _essence(stored.verdict) == _essence(fresh.to_dict()), (
                            model.slug,
                            scope,
                            step,
                        )
                        read = services.gate_for(model, scope)
                        reads.append((model, scope, timezone.now(), _said(read)))
            # What a read at t returned is what as_of(t) answers, for every t read.
            for model, scope, at, seen in reads:
                then = services.gate_as_of(model, scope, at)
                assert then is not None and _said(then) == seen, (model.slug, scope, at)
            transaction.set_rollback(True)

    run()
