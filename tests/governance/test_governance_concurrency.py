"""Sign-off under concurrency, on real PostgreSQL with separate connections."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from governance import services
from governance.models import Approval, DecisionStatus, GateTransition, ScalingDecision
from tests.conftest import waiting_on_a_lock, while_held
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
]


def _race(*calls):
    """Run the calls at the same moment on their own connections; return results/exceptions."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_approvers_at_once_make_exactly_one_transition(safety, rso, ceo):
    assert connection.vendor == "postgresql"
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "below every line", safety)
    before = GateTransition.objects.filter(
        model=model, scope="scaling", to_state="approved"
    ).count()

    outcomes = _race(
        lambda: services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256),
        lambda: services.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256),
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.APPROVED
    assert Approval.objects.filter(decision=decision).count() == 2
    assert (
        GateTransition.objects.filter(model=model, scope="scaling", to_state="approved").count()
        == before + 1
    )
    assert services.gate_for(model)["state"] == "approved"


def test_the_same_title_signing_twice_at_once_lands_once(safety, rso):
    from core.models import User
    from core.services import create_user

    other_rso = create_user("rso2", "leadership", titles=["RSO"], password="another-password-123")
    activate_default_policy()
    model = make_model()
    decision = services.request_decision(model, 2e24, "x", safety)
    outcomes = _race(
        lambda: services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256),
        lambda: services.sign_decision(
            decision.pk, User.objects.get(pk=other_rso.pk), "approve", decision.dossier_sha256
        ),
    )
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], (services.ConflictError, PermissionError)) or "title" in str(
        errors[0]
    )
    assert Approval.objects.filter(decision=decision, title="RSO").count() == 1
    assert ScalingDecision.objects.get(pk=decision.pk).status == DecisionStatus.PENDING


def test_concurrent_result_writers_and_folds_leave_the_evidence_summary_complete(safety):
    """Six writers on one model and three of the worker's folds at the same moment (ADR 0055):
    after a last fold, every result is in the summary (the state-row lock orders writers and
    folds), which then reads what ranking every result reads."""
    from evaluations import services as evidence
    from evaluations import summary
    from evaluations.models import EvalResult, EvidenceSummaryState
    from governance import adapter
    from governance.evidence_sql import read_evidence, read_ranked
    from tests.governance.test_evidence_summary import _normal

    assert connection.vendor == "postgresql"
    activate_default_policy()
    model = make_model()

    def write(value: float):
        def call():
            items = [
                {"model": model.slug, "checkpoint": "ckpt-1", "metric": key, "value": value}
                for key in ("cbrn.vct_accuracy", "cyber.ctf_solve_rate")
            ]
            return evidence.record_results(items, safety, EvalResult.Source.API)

        return call

    def fold():
        return evidence.catch_up_summaries([model.pk])

    writes = [write(v) for v in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)]
    outcomes = _race(writes[0], fold, writes[1], writes[2], fold, writes[3], writes[4], fold)
    outcomes += _race(writes[5], fold)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    evidence.catch_up_summaries([model.pk])
    state = EvidenceSummaryState.objects.get(model=model)
    assert state.watermark == EvalResult.objects.filter(model=model).latest("pk").pk
    assert summary.behind() == []
    policy = adapter.active_snapshot()
    assert policy is not None
    assert _normal(read_evidence(model, policy)) == _normal(read_ranked(model, policy))
    tallies = read_evidence(model, policy).tallies or {}
    assert tallies["cbrn.vct_accuracy"].results == 6


def test_the_workers_fold_waits_for_a_correction_holding_the_models_summary(safety):
    """A correction folds its row in its own transaction; the worker's fold of the same model
    (ADR 0055) waits for it on the state row's lock, then reads what it committed: two folds
    never write the same summary rows at once."""
    from evaluations import services as evidence
    from evaluations.models import EvalResult
    from governance import adapter
    from governance.evidence_sql import read_evidence, read_ranked
    from tests.governance.test_evidence_summary import _normal

    activate_default_policy()
    model = make_model()
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    first, _ = evidence.record_results(
        [{**item, "value": 0.1}, {**item, "metric": "cyber.ctf_solve_rate", "value": 0.2}],
        safety,
        EvalResult.Source.API,
    )
    outcomes: list[object] = []

    def correct(keep: Callable[[], None]) -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                evidence.correct_result(first, {"value": 0.3}, "mis-scored", safety)
                keep()
        except Exception as exc:
            outcomes.append(exc)

    def fold() -> None:
        try:
            evidence.catch_up_summaries([model.pk])
        except Exception as exc:
            outcomes.append(exc)

    with while_held(correct, fold):
        assert waiting_on_a_lock(), "the worker's fold did not wait for the correction"
    assert outcomes == []
    policy = adapter.active_snapshot()
    assert policy is not None
    evidence_now = read_evidence(model, policy)
    assert _normal(evidence_now) == _normal(read_ranked(model, policy))
    assert [r.value for r in evidence_now.results if r.metric_key == "cbrn.vct_accuracy"] == [0.3]


def test_writers_of_one_family_claim_its_states_without_a_deadlock(safety):
    """Writers of a grandparent, a parent, a child and of two of them at once, at the same
    moment: each claims its family's summary states in id order (ADR 0055: one statement for
    one model, the longer way for two), so none deadlocks, and every member counts every write
    above or at it."""
    from evaluations import services as evidence
    from evaluations.models import AIModel, EvalResult, EvidenceSummaryState
    from tests.governance_fixtures import add_checkpoint

    assert connection.vendor == "postgresql"
    activate_default_policy()
    top = make_model()
    middle = AIModel.objects.create(slug="mid", name="mid", family="atlas", parent=top)
    low = AIModel.objects.create(slug="low", name="low", family="atlas", parent=middle)
    for model in (middle, low):
        add_checkpoint(model, "ckpt-1", 1e23)

    def write(*models: AIModel):
        def call():
            items = [
                {"model": m.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy",
                 "value": 0.1}
                for m in models
            ]  # fmt: skip
            return evidence.record_results(items, safety, EvalResult.Source.API)

        return call

    for model in (top, middle, low):  # every state exists: the one-statement claim
        write(model)()
    calls = [write(low, top), write(low), write(middle), write(top)] * 2
    outcomes = _race(*calls)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    seq = dict(EvidenceSummaryState.objects.values_list("model_id", "evidence_seq"))
    # Before the race a write of each counted 1, 2, 3; in it each call ran twice, and a
    # write counts once on every member at or below the models it writes.
    assert seq[top.pk] == 1 + 2 * 2  # (low, top), top
    assert seq[middle.pk] == 2 + 2 * 3  # (low, top), middle, top
    assert seq[low.pk] == 3 + 2 * 4  # every call
