"""Sign-off under concurrency, on real PostgreSQL with separate connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from governance import services
from governance.models import Approval, DecisionStatus, GateTransition, ScalingDecision
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


def test_concurrent_result_writers_leave_the_evidence_summary_complete(safety):
    """Four writers on one model at the same moment: every result is folded into the summary
    (the state-row lock orders them), which then reads what ranking every result reads."""
    from evaluations import services as evidence
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

    outcomes = _race(*(write(v) for v in (0.05, 0.1, 0.15, 0.2)))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    state = EvidenceSummaryState.objects.get(model=model)
    assert state.watermark == EvalResult.objects.filter(model=model).latest("pk").pk
    policy = adapter.active_snapshot()
    assert policy is not None
    assert _normal(read_evidence(model, policy)) == _normal(read_ranked(model, policy))
    tallies = read_evidence(model, policy).tallies or {}
    assert tallies["cbrn.vct_accuracy"].results == 4
