"""The evidence summary gives the gate exactly what ranking every result gives (issue 16).

A Hypothesis property drives random sequences of results (strong, weak, partial, post-mitigation,
other metrics, on the model and its ancestors) and corrections through the summary's
maintenance, and checks after each sequence that the evidence read from the summary equals the
ranking reader's, that the verdict and its validity equal the row-by-row oracle's
(``tests/gate_oracle.py``), and that the gate's inputs took three queries. No timings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import User
from evaluations import services as evidence
from evaluations import summary
from evaluations.models import AIModel, Checkpoint, EvalResult, EvidenceSummaryState
from evaluations.policy import active_policy_view
from governance import adapter, services
from governance.evidence_sql import lens_of, read_evidence, read_ranked
from governance.gate import Evidence, below_line, evaluate
from policies import rules
from tests import gate_oracle
from tests.governance_fixtures import (
    activate_default_policy,
    add_checkpoint,
    make_model,
    settle_gates,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _activate(z: float, min_samples: int | None) -> None:
    """A version of the default policy with this uncertainty z and sample minimum, active."""
    import copy

    from policies import services as policy_services
    from policies.packs import load_pack_file

    pack = copy.deepcopy(load_pack_file("default"))
    pack["version"] = f"{pack['version']}-z{z}-n{min_samples}"
    pack["settings"]["uncertainty_z"] = z
    for metric in pack["metrics"]:
        metric["min_samples"] = min_samples
    policy_services.load_pack(pack, actor=None, activate=True)


def _normal(ev: Evidence) -> Any:
    """Evidence with the zero counts dropped and the results in id order: the two readers
    may differ only there (a group whose every result was superseded keeps a zero row)."""
    tallies = {
        key: (t.results, t.strong, {k: v for k, v in t.weak_short_of.items() if v})
        for key, t in (ev.tallies or {}).items()
        if t.results
    }
    return (
        sorted(ev.checkpoints, key=lambda c: c.id),
        sorted(ev.results, key=lambda r: r.id),
        tallies,
        dict(ev.dated or {}),
    )


def _check(model: AIModel) -> None:
    policy = adapter.active_snapshot()
    assert policy is not None
    summarised = read_evidence(model, policy)
    assert _normal(summarised) == _normal(read_ranked(model, policy))
    now = timezone.now()
    for scope in ("scaling", "deployment"):
        for compute in (None, 1e30):
            with CaptureQueriesContext(connection) as queries:
                reduced, reduced_until = adapter.build_input(model, scope, compute, now)
            # The evidence from the summary with the policy reference; the governance state.
            assert len(queries) == 2
            full, full_until = gate_oracle.build_input_rowwise(model, scope, compute, now)
            assert evaluate(reduced).to_dict() == evaluate(full).to_dict()
            assert reduced_until == full_until


def _family() -> AIModel:
    """A grandchild with two ancestors, two checkpoints each."""
    parent = None
    for level in range(3):
        with transaction.atomic():
            model = AIModel.objects.create(
                slug=f"fam-{level}", name=f"fam {level}", family="fam", parent=parent
            )
            services.recompute(model, "test.setup")
        add_checkpoint(model, f"a-{level}", 1e22 * 4**level)
        add_checkpoint(model, f"b-{level}", 2e22 * 4**level)
        parent = model
    assert parent is not None
    return parent


_result = st.fixed_dictionaries(
    {
        "checkpoint": st.integers(0, 5),
        # Two indicator metrics and an unknown key, so results often share a group.
        "metric": st.sampled_from([0, 1, -1]),
        "value": st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 1.0]),
        "stderr": st.sampled_from([None, 0.0, 0.01, 0.05, 0.2]),
        "n_samples": st.sampled_from([None, 10, 49, 50, 200]),
        "partial": st.booleans(),
        "mitigation": st.sampled_from(["pre", "pre", "post"]),
        "days": st.integers(0, 500),
    }
)
_step = st.one_of(
    st.tuples(st.just("add"), st.lists(_result, min_size=1, max_size=6)),
    st.tuples(st.just("correct"), st.tuples(st.integers(0, 10_000), _result)),
    # A claimed parent link (the child's or the grandchild's) confirmed.
    st.tuples(st.just("confirm"), st.sampled_from(["fam-1", "fam-2"])),
    # The worker's fold after result writes (ADR 0055), at any point between writes.
    st.tuples(st.just("fold"), st.none()),
)


def _apply(model: AIModel, steps: list[tuple[str, Any]]) -> None:
    policy = active_policy_view()
    assert policy is not None
    lens = summary.lens_of_view(policy)
    metrics = [*sorted(policy.indicator_metric_keys)[:2], "other.metric"]
    lineage = model.lineage_ids()
    checkpoints = list(Checkpoint.objects.filter(model_id__in=lineage).order_by("pk"))
    now = timezone.now()

    def row(spec: dict[str, Any], **extra: Any) -> EvalResult:
        checkpoint = checkpoints[spec["checkpoint"] % len(checkpoints)]
        return EvalResult(
            model_id=checkpoint.model_id,
            checkpoint=checkpoint,
            metric_key=metrics[spec["metric"]],
            value=spec["value"],
            stderr=spec["stderr"],
            n_samples=spec["n_samples"],
            partial=spec["partial"],
            mitigation=spec["mitigation"],
            evaluated_at=now - timedelta(days=spec["days"]),
            source="api",
            **extra,
        )

    for kind, payload in steps:
        if kind == "confirm":
            confirmer, _ = User.objects.get_or_create(username="confirmer")
            AIModel.objects.filter(slug=payload).update(
                lineage_confirmed_at=now, lineage_confirmed_by=confirmer
            )
            continue
        if kind == "fold":
            # Until the worker folds them, the reader ranks the rows above the watermark.
            snapshot = adapter.active_snapshot()
            assert snapshot is not None
            assert _normal(read_evidence(model, snapshot)) == _normal(read_ranked(model, snapshot))
            with transaction.atomic():
                summary.catch_up(lineage, lens)
            continue
        # As the services do: lock the states and insert; a result write leaves the rows to
        # the worker's fold (ADR 0055), a correction folds in its own transaction.
        with transaction.atomic():
            if kind == "add":
                rows = [row(spec) for spec in payload]
                summary.lock(r.model_id for r in rows)
                EvalResult.objects.bulk_create(rows)
            else:
                pick, spec = payload
                current = list(
                    EvalResult.objects.current().filter(model_id__in=lineage).order_by("pk")
                )
                if not current:
                    continue
                old = current[pick % len(current)]
                new = row(spec, supersedes=old, correction_reason="typo")
                new.model_id, new.checkpoint = old.model_id, old.checkpoint
                states = summary.lock([new.model_id])
                new.save()
                summary.sync(states, lens)
    with transaction.atomic():  # the worker's fold after the last writes
        summary.catch_up(lineage, lens)


@pytest.mark.parametrize(("z", "min_samples"), [(0.0, None), (1.0, 50), (2.0, 200)])
def test_the_summary_gives_the_ranking_readers_evidence_and_the_oracles_verdict(z, min_samples):
    _activate(z, min_samples)
    model = _family()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(_step, min_size=1, max_size=8))
    def run(steps: list[tuple[str, Any]]) -> None:
        with transaction.atomic():
            _apply(model, steps)
            _check(model)
            transaction.set_rollback(True)

    run()


def test_results_written_through_the_services_are_folded_by_the_worker():
    activate_default_policy()
    model = make_model()
    items = [
        {"model": "atlas", "checkpoint": "ckpt-1", "metric": key, "value": 0.1, "n_samples": 100}
        for key in ("cbrn.vct_accuracy", "cyber.ctf_solve_rate")
    ]
    created = evidence.record_results(items, None, EvalResult.Source.API)
    # The write leaves its rows above the watermark, and the reader ranks them meanwhile.
    assert EvidenceSummaryState.objects.get(model=model).watermark == 0
    assert summary.behind() == [model.pk]
    policy = adapter.active_snapshot()
    assert policy is not None
    with CaptureQueriesContext(connection) as queries:
        ranked = read_evidence(model, policy)
    assert len(queries) == 2  # the summary, then the ranking query
    settle_gates()  # the worker folds them into the summary (ADR 0055)
    assert summary.behind() == []
    assert _normal(read_evidence(model, policy)) == _normal(ranked)
    _check(model)
    evidence.correct_result(created[0], {"value": 0.9}, "mis-scored", None)
    _check(model)  # a correction folds in its own transaction
    state = EvidenceSummaryState.objects.get(model=model)
    assert state.watermark == EvalResult.objects.filter(model=model).latest("pk").pk


def test_a_new_policy_lens_rebuilds_the_summary_on_activation():
    activate_default_policy()
    model = make_model()
    items = [
        {"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy", "value": v,
         "stderr": 0.05, "n_samples": n}
        for v, n in ((0.1, 10), (0.4, 100), (0.2, 1000))
    ]  # fmt: skip
    evidence.record_results(items, None, EvalResult.Source.API)
    before = EvidenceSummaryState.objects.get(model=model).lens
    _activate(2.0, 50)
    after = EvidenceSummaryState.objects.get(model=model).lens
    assert after != before
    policy = adapter.active_snapshot()
    assert policy is not None and after == lens_of(policy).digest
    _check(model)


def test_a_stale_summary_falls_back_to_ranking_the_results():
    activate_default_policy()
    model = make_model()
    EvalResult.objects.create(
        model=model,
        checkpoint=model.checkpoints.get(),
        metric_key="cbrn.vct_accuracy",
        value=0.9,
        n_samples=100,
        source="api",
    )  # written behind the services' back: the summary does not know it
    policy = adapter.active_snapshot()
    with CaptureQueriesContext(connection) as queries:
        ev = read_evidence(model, policy)
    assert len(queries) == 2  # the summary, then the ranking query
    assert [r.value for r in ev.results] == [0.9]


def test_the_summary_uses_the_gates_below_line():
    activate_default_policy()
    policy = adapter.active_snapshot()
    assert policy is not None
    for threshold in policy.thresholds:
        for spec in threshold.indicators:
            assert rules.below_line(
                spec.warning, spec.critical, spec.higher_is_more_capable
            ) == below_line(spec)


def _summarised(model: AIModel, results: list[EvalResult]) -> None:
    """``results`` inserted in bulk (as the bench's scale step does) and summarised."""
    policy = active_policy_view()
    assert policy is not None
    with transaction.atomic():
        states = summary.lock([model.pk])
        EvalResult.objects.bulk_create(results, batch_size=5000)
        summary.sync(states, summary.lens_of_view(policy))


@pytest.mark.parametrize("count", [10, 10_000])
def test_the_gate_inputs_take_two_queries_from_10_to_10000_results(count):
    activate_default_policy()
    model = make_model()
    policy = active_policy_view()
    assert policy is not None
    checkpoint = model.checkpoints.get()
    keys = sorted(policy.indicator_metric_keys)
    _summarised(
        model,
        [
            EvalResult(
                model=model,
                checkpoint=checkpoint,
                metric_key=keys[i % len(keys)],
                value=(i % 97) / 100,
                n_samples=(i % 3) * 50 or None,
                partial=i % 11 == 0,
                source="api",
            )
            for i in range(count)
        ],
    )
    adapter.build_input(model, "scaling", None, timezone.now())  # the policy snapshot cached
    with CaptureQueriesContext(connection) as queries:
        inp, _ = adapter.build_input(model, "scaling", None, timezone.now())
    assert len(queries) == 2
    assert len(inp.evidence.results) <= 2 * len(keys)
    _check(model)


@pytest.mark.parametrize("checkpoints", [1, 12])
def test_the_summary_read_returns_each_metrics_best_not_each_groups(checkpoints):
    """ADR 0051: the evidence read brings back, per lineage model and metric, its most
    capable strong and weak results (ties kept), not the best of every checkpoint's group:
    the rows read stay the same however the results spread over checkpoints."""
    from governance.evidence_sql import _summary_rows

    activate_default_policy()
    model = make_model()
    policy = active_policy_view()
    assert policy is not None
    made = [model.checkpoints.get()]
    made += [add_checkpoint(model, f"extra-{n}", 1e20 * n) for n in range(1, checkpoints)]
    keys = sorted(policy.indicator_metric_keys)
    _summarised(
        model,
        [
            EvalResult(
                model=model,
                checkpoint=made[i % len(made)],
                metric_key=keys[i % len(keys)],
                value=i / 10_000,  # no ties
                n_samples=200,
                partial=i % 2 == 0,  # strong and weak
                source="api",
            )
            for i in range(24 * len(made) * len(keys))
        ],
    )
    rows = _summary_rows(model)
    groups = [row for row in rows if row[0] == "g"]
    picked = [row for row in rows if row[0] == "r"]
    assert len(groups) == len(made) * len(keys)
    assert len(picked) <= 2 * len(keys)
    _check(model)
