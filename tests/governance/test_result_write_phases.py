"""A result write in two transactions (ADR 0045): the evidence with its count of owed gate
work, then the gate, which writers queued on one model share. No verdict that ignores a
written result is ever served, whatever happens between the two."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from core import events
from evaluations import services as evidence
from evaluations.models import AIModel, EvalResult, EvidenceSummaryState
from governance import services
from governance.models import GateState, GateTransition
from tests.governance_fixtures import (
    BELOW,
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
)

pytestmark = pytest.mark.usefixtures("verified_trail")


def item(model: AIModel, metric: str = "cbrn.vct_accuracy", value: float = 0.1) -> dict[str, Any]:
    return {"model": model.slug, "checkpoint": "ckpt-1", "metric": metric, "value": value}


def owed(model: AIModel) -> int:
    state = EvidenceSummaryState.objects.filter(model=model).first()
    return state.evidence_seq if state is not None else 0


def seqs(model: AIModel) -> set[int]:
    return set(GateState.objects.filter(model=model).values_list("evidence_seq", flat=True))


@pytest.fixture
def model(safety: Any) -> AIModel:
    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    evaluate_all_below(model)
    return model


def test_a_result_write_counts_owed_gate_work_and_the_gate_settles_it(model, pipeline):
    before = owed(model)

    evidence.record_results([item(model)], pipeline, EvalResult.Source.API)

    assert owed(model) == before + 1
    assert seqs(model) == {before + 1}  # both scopes computed after the write
    assert services.stored_gate(model.slug) is not None


def test_a_failed_gate_step_keeps_the_results_and_serves_no_gate_from_before(model, pipeline):
    assert services.stored_gate(model.slug)["crossed_thresholds"] == []

    def explode(change: Any, actor: Any) -> None:
        raise RuntimeError("gate down")

    with events.replaced(evidence.EVIDENCE_CHANGED, explode):
        (crossing,) = evidence.record_results(
            [item(model, value=0.99)], pipeline, EvalResult.Source.API
        )

    # The result is recorded and audited; the stored rows are behind the model's count.
    assert EvalResult.objects.filter(pk=crossing.pk).exists()
    assert max(seqs(model)) < owed(model)
    assert services.stored_gate(model.slug) is None  # the one-statement read refuses them
    gate = services.gate_for(model)  # and the full read recomputes
    assert gate["state"] == "paused"
    assert gate["crossed_thresholds"]
    assert seqs(model) == {owed(model)}
    assert services.stored_gate(model.slug)["state"] == "paused"


def test_the_api_reader_recomputes_a_gate_behind_its_model(model, pipeline):
    from tests.conftest import bearer

    def explode(change: Any, actor: Any) -> None:
        raise RuntimeError("gate down")

    with events.replaced(evidence.EVIDENCE_CHANGED, explode):
        evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)

    response = bearer(pipeline).get(f"/api/v1/models/{model.slug}/gate/")
    assert response.status_code == 200
    assert response.json()["state"] == "paused"


def test_a_descendant_is_owed_its_ancestors_writes(model, pipeline, safety):
    child = AIModel.objects.create(
        slug="atlas-mini", name="Atlas mini", family="atlas", parent=model
    )
    with transaction.atomic():
        services.recompute(child, "test.setup")

    def explode(change: Any, actor: Any) -> None:
        raise RuntimeError("gate down")

    with events.replaced(evidence.EVIDENCE_CHANGED, explode):
        evidence.record_results([item(model, value=0.5)], pipeline, EvalResult.Source.API)

    # The parent's write is owed to the child's gate too: neither is served from before.
    assert owed(child) == 1
    assert services.stored_gate(child.slug) is None
    assert services.stored_gate(model.slug) is None

    evidence.record_results([item(model, value=0.1)], pipeline, EvalResult.Source.API)
    # The next write's gate step recomputes the family: both current again.
    assert seqs(child) == {owed(child)}
    assert services.stored_gate(child.slug) is not None


def test_a_gate_already_computed_after_the_write_is_not_recomputed(model, pipeline, monkeypatch):
    from governance.services import hooks

    calls: list[str] = []
    real = hooks.on_evidence_changed
    monkeypatch.setattr(
        hooks,
        "on_evidence_changed",
        lambda m, cause, actor=None, **kw: calls.append(cause) or real(m, cause, actor, **kw),
    )
    evidence.record_results([item(model)], pipeline, EvalResult.Source.API)
    assert len(calls) == 1
    # A second delivery of the same owed count (a concurrent writer got there first).
    with transaction.atomic():
        hooks.on_evidence_event(evidence.EvidenceChange(model, "again", owed(model)), None)
    assert len(calls) == 1
    # An older count is covered too; a newer one is not.
    with transaction.atomic():
        hooks.on_evidence_event(evidence.EvidenceChange(model, "older", owed(model) - 1), None)
        hooks.on_evidence_event(evidence.EvidenceChange(model, "newer", owed(model) + 1), None)
    assert calls[1:] == ["newer"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_model_leave_its_gate_current(model, pipeline):
    """Twelve writers at once on separate PostgreSQL connections, one of them crossing a
    line: every result is summarised once, the stored gate is current with every write and
    shows the crossing, and it equals a recomputation from scratch."""
    assert connection.vendor == "postgresql"
    writers = 12
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(i: int) -> None:
        try:
            barrier.wait()
            value = 0.99 if i == 7 else 0.1 + i / 1000
            evidence.record_results([item(model, value=value)], pipeline, EvalResult.Source.API)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    before = owed(model)
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert owed(model) == before + writers
    assert seqs(model) == {before + writers}
    stored = services.stored_gate(model.slug)
    assert stored is not None and stored["state"] == "paused"
    with transaction.atomic():
        fresh = services.recompute(model, "test.check", descendants=False)
    assert fresh["scaling"].verdict["determinations"] == stored["determinations"]
    # One transition to paused, however the recomputations were shared.
    assert GateTransition.objects.filter(model=model, scope="scaling", to_state="paused").exists()
    assert EvalResult.objects.filter(model=model).count() == len(BELOW) + writers


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_with_an_idempotency_key_the_gate_follows_the_keys_transaction(model, pipeline):
    """The key's row and the results commit together; the gate step runs after that
    transaction, in its own (so the key's transaction does not hold the model's locks)."""
    from core.models import IdempotencyRecord
    from tests.conftest import bearer

    seen: list[tuple[int, bool]] = []

    def handler(change: Any, actor: Any) -> None:
        recorded = IdempotencyRecord.objects.filter(key="write-1", response_code=201)
        seen.append((len(connection.atomic_blocks), recorded.exists()))

    with events.replaced(evidence.EVIDENCE_CHANGED, handler):
        response = bearer(pipeline).post(
            "/api/v1/results/",
            item(model),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="write-1",
        )
    assert response.status_code == 201, response.json()
    # Only the gate step's own transaction is open, and the key's answer is already stored.
    assert seen == [(1, True)]


def _holding_the_lock(model: AIModel, release: threading.Event, held: threading.Event,
                      rounds: int | None) -> None:  # fmt: skip
    """Another connection holds ``model``'s recomputation lock until ``release``; with
    ``rounds`` it is a writer's round, which reads the count again once it commits."""
    from governance.services import hooks
    from governance.services.gates import recomputation_lock

    try:
        with transaction.atomic():
            assert recomputation_lock(model.pk)
            if rounds is not None:
                transaction.on_commit(lambda: hooks._after_commit(model, "holder", None, rounds))
            held.set()
            release.wait(timeout=60)
    finally:
        connections.close_all()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_writer_goes_its_way_while_another_recomputes_and_is_covered_after(model, pipeline):
    """ADR 0050: a writer that finds the model's recomputation lock held does not wait for
    it; its write is not served from before (the gate is behind its count) until the
    holder, once committed, reads the count again and recomputes."""
    from governance.services.gates import recomputation_lock

    assert connection.vendor == "postgresql"
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_holding_the_lock, args=(model, release, held, 2))
    holder.start()
    assert held.wait(timeout=30)
    try:
        with transaction.atomic():
            assert not recomputation_lock(model.pk)  # held elsewhere: no wait
        evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)
        assert seqs(model) == {owed(model) - 1}  # went its way: the gate is behind
        assert services.stored_gate(model.slug) is None  # and not served
    finally:
        release.set()
        holder.join(timeout=60)
    assert seqs(model) == {owed(model)}
    stored = services.stored_gate(model.slug)
    assert stored is not None and stored["state"] == "paused"  # 0.99 crosses a line


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_last_round_takes_no_lock_and_recomputes(model, pipeline):
    """A writer's last round does not look at the lock: nobody re-reads the count after
    it, so it recomputes whatever another connection holds."""
    from governance.services import hooks

    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_holding_the_lock, args=(model, release, held, None))
    holder.start()
    assert held.wait(timeout=30)
    try:
        with events.replaced(evidence.EVIDENCE_CHANGED, lambda change, actor: None):
            evidence.record_results([item(model, value=0.2)], pipeline, EvalResult.Source.API)
        assert seqs(model) == {owed(model) - 1}
        with transaction.atomic():
            hooks._settle(model, owed(model), "last round", None, 1)
        assert seqs(model) == {owed(model)}
    finally:
        release.set()
        holder.join(timeout=60)


def test_the_count_read_again_after_a_round_is_one_statement(
    model, pipeline, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """The round's re-read after its commit costs one statement when nothing landed since
    (the lone writer's case); the write registers it once."""
    from governance.services import hooks

    with django_capture_on_commit_callbacks() as callbacks:
        evidence.record_results([item(model)], pipeline, EvalResult.Source.API)
    assert seqs(model) == {owed(model)}
    assert len(callbacks) == 1
    with django_assert_num_queries(1):
        callbacks[0]()
    assert hooks.ROUNDS > 1
