"""Who folds a result write into the evidence summary (ADR 0055): the worker after a burst of
writes, or first a reader of the gate that finds the summary behind, outside a transaction.
Inside one, a reader locks nothing and ranks the results. Either way the verdict is the one
ranking every result gives.

These tests commit (``transaction=True``): a read outside a transaction is what they test.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from evaluations import services as evidence
from evaluations import summary
from evaluations.models import AIModel, EvalResult, EvidenceSummaryState
from governance import adapter, services
from governance.evidence_sql import read_evidence, read_ranked
from tests.governance.test_evidence_summary import _normal
from tests.governance_fixtures import activate_default_policy, make_model, settle_gates

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
]


def _write(model: AIModel, value: float, metric: str = "cbrn.vct_accuracy") -> None:
    item: dict[str, Any] = {
        "model": model.slug,
        "checkpoint": "ckpt-1",
        "metric": metric,
        "value": value,
        "n_samples": 100,
    }
    evidence.record_results([item], None, EvalResult.Source.API)


def test_the_worker_folds_a_burst_then_recomputes_the_gate():
    activate_default_policy()
    model = make_model()
    settle_gates()
    _write(model, 0.1)
    _write(model, 0.2, "cyber.ctf_solve_rate")
    assert summary.behind() == [model.pk]  # the writes left their rows above the watermark
    assert settle_gates() == 1  # one message for the burst
    assert summary.behind() == []
    state = EvidenceSummaryState.objects.get(model=model)
    assert state.watermark == EvalResult.objects.filter(model=model).latest("pk").pk
    assert not state.gate_due


def test_a_gate_read_outside_a_transaction_folds_the_summary_first():
    """The live read folds, then reads the summary: not the ranking query."""
    activate_default_policy()
    model = make_model()
    _write(model, 0.1)
    policy = adapter.active_snapshot()
    assert policy is not None
    ranked = _normal(read_ranked(model, policy))
    with CaptureQueriesContext(connection) as queries:
        got = read_evidence(model, policy)
    assert summary.behind() == []
    assert _normal(got) == ranked
    # The ranking query reduces every current result of the lineage with window functions.
    assert not any("ROW_NUMBER()" in q["sql"] for q in queries.captured_queries)
    # The next read finds the summary current: one query, no fold.
    with CaptureQueriesContext(connection) as queries:
        assert _normal(read_evidence(model, policy)) == ranked
    assert len(queries) == 1


def test_a_stored_gate_read_behind_its_results_folds_before_it_recomputes():
    activate_default_policy()
    model = make_model()
    settle_gates()
    before = services.gate_for(model)
    _write(model, 0.99)  # past the line: the gate must see it at once
    assert summary.behind() == [model.pk]
    after = services.gate_for(model)
    assert summary.behind() == []
    assert after["determinations"] != before["determinations"]
    assert after["state"] == "paused"


def test_a_read_inside_a_transaction_locks_nothing_and_ranks():
    activate_default_policy()
    model = make_model()
    _write(model, 0.1)
    policy = adapter.active_snapshot()
    assert policy is not None
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            got = read_evidence(model, policy)
        assert len(queries) == 2  # the summary, then the ranking query
        assert not any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    assert _normal(got) == _normal(read_ranked(model, policy))
    assert summary.behind() == [model.pk]  # left to the worker


def test_a_fold_that_fails_leaves_the_read_to_ranking(monkeypatch, caplog):
    """A database error while a reader folds (a lock timeout, say) never fails the read: it is
    logged, the read ranks the results, and the worker folds them later."""
    from django.db import OperationalError

    activate_default_policy()
    model = make_model()
    settle_gates()
    _write(model, 0.99)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("canceling statement due to lock timeout")

    monkeypatch.setattr(summary, "catch_up", refuse)
    policy = adapter.active_snapshot()
    assert policy is not None
    assert _normal(read_evidence(model, policy)) == _normal(read_ranked(model, policy))
    assert services.gate_for(model)["state"] == "paused"  # the new result, ranked
    assert "folding the evidence summaries" in caplog.text
    assert summary.behind() == [model.pk]
    monkeypatch.undo()
    settle_gates()
    assert summary.behind() == []
