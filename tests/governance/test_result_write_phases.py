"""A result write and its gate (ADR 0045, ADR 0052): the write counts the gate work it owes and,
the first of a burst, asks the worker for the recomputation in its own transaction; the worker
recomputes once for the burst. No verdict that ignores a written result is ever served,
whatever happens in between."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from audit.models import AuditEntry
from core import events
from core.models import OutboxMessage, OutboxStatus
from evaluations import services as evidence
from evaluations.models import AIModel, EvalResult, EvidenceSummaryState
from governance import services
from governance.models import GateState, GateTransition
from governance.services.hooks import SETTLE_TASK
from tests.governance_fixtures import (
    BELOW,
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
    settle_gates,
)

pytestmark = pytest.mark.usefixtures("verified_trail")


def item(model: AIModel, metric: str = "cbrn.vct_accuracy", value: float = 0.1) -> dict[str, Any]:
    return {"model": model.slug, "checkpoint": "ckpt-1", "metric": metric, "value": value}


def owed(model: AIModel) -> int:
    state = EvidenceSummaryState.objects.filter(model=model).first()
    return state.evidence_seq if state is not None else 0


def seqs(model: AIModel) -> set[int]:
    return set(GateState.objects.filter(model=model).values_list("evidence_seq", flat=True))


def asked(model: AIModel) -> list[OutboxMessage]:
    """The recomputations of ``model``'s gate asked of the worker and not yet run."""
    return list(
        OutboxMessage.objects.filter(
            topic=SETTLE_TASK, status=OutboxStatus.PENDING, payload__model_id=model.pk
        )
    )


def due(model: AIModel) -> bool:
    return bool(EvidenceSummaryState.objects.filter(model=model, gate_due=True).exists())


@pytest.fixture
def model(safety: Any) -> AIModel:
    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    evaluate_all_below(model)
    return model


def test_a_burst_of_writes_asks_the_worker_once_and_its_run_settles_them(model, pipeline):
    before = owed(model)

    for value in (0.1, 0.11, 0.12):
        evidence.record_results([item(model, value=value)], pipeline, EvalResult.Source.API)

    # Three writes counted, one recomputation asked for; the stored rows are behind and the
    # one-statement read refuses them.
    assert owed(model) == before + 3
    assert len(asked(model)) == 1 and due(model)
    assert max(seqs(model)) < owed(model)
    assert services.stored_gate(model.slug) is None

    assert settle_gates() == 1
    assert seqs(model) == {before + 3}  # both scopes computed after every write
    assert not due(model) and asked(model) == []
    assert services.stored_gate(model.slug) is not None
    done = OutboxMessage.objects.get(topic=SETTLE_TASK)
    assert done.status == OutboxStatus.DONE and done.attempts == 1

    # The next write is the first of a new burst: it asks again.
    evidence.record_results([item(model, value=0.13)], pipeline, EvalResult.Source.API)
    assert len(asked(model)) == 1 and due(model)


def test_a_write_that_commits_after_the_worker_cleared_its_request_asks_again(
    model, pipeline, monkeypatch
):
    """The worker clears the request before it reads: a write landing while it recomputes is
    not covered by it, and asks for its own recomputation."""
    from governance.services import hooks

    evidence.record_results([item(model)], pipeline, EvalResult.Source.API)
    real = hooks.on_evidence_changed
    wrote: list[bool] = []

    def meanwhile(m: AIModel, cause: str, actor: Any = None) -> None:
        real(m, cause, actor)
        if m.pk == model.pk and not wrote:
            wrote.append(True)
            evidence.record_results([item(model, value=0.2)], pipeline, EvalResult.Source.API)

    monkeypatch.setattr(hooks, "on_evidence_changed", meanwhile)
    assert settle_gates() == 1
    monkeypatch.undo()
    assert len(asked(model)) == 1 and due(model)
    assert max(seqs(model)) == owed(model) - 1
    assert settle_gates() == 1
    assert seqs(model) == {owed(model)}


def test_a_crossing_is_not_served_from_before_while_the_worker_has_not_run(model, pipeline):
    assert services.stored_gate(model.slug)["crossed_thresholds"] == []

    (crossing,) = evidence.record_results(
        [item(model, value=0.99)], pipeline, EvalResult.Source.API
    )

    assert EvalResult.objects.filter(pk=crossing.pk).exists()
    assert services.stored_gate(model.slug) is None  # the one-statement read refuses it
    gate = services.gate_for(model)  # and the full read recomputes and stores
    assert gate["state"] == "paused"
    assert gate["crossed_thresholds"]
    assert services.stored_gate(model.slug)["state"] == "paused"
    # The worker's run, later, changes nothing and records no second transition.
    transitions = GateTransition.objects.filter(model=model).count()
    settle_gates()
    assert GateTransition.objects.filter(model=model).count() == transitions
    assert services.stored_gate(model.slug)["state"] == "paused"


def test_the_dashboard_says_when_results_were_written_since_a_gate_was_computed(
    model, pipeline, safety
):
    from tests.conftest import client_for

    def page() -> str:
        response = client_for(safety).get("/")
        assert response.status_code == 200
        return response.content.decode()

    assert "results written since" not in page()
    evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)
    assert "results written since" in page()
    settle_gates()
    assert "results written since" not in page()


def test_the_api_reader_recomputes_a_gate_behind_its_model(model, pipeline):
    from tests.conftest import bearer

    evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)

    response = bearer(pipeline).get(f"/api/v1/models/{model.slug}/gate/")
    assert response.status_code == 200
    assert response.json()["state"] == "paused"


def test_a_failed_request_for_the_gate_rolls_the_write_back(model, pipeline):
    """The request is written in the write's transaction: if it fails, nothing is kept."""

    def explode(change: Any, actor: Any) -> None:
        raise RuntimeError("outbox down")

    results = EvalResult.objects.count()
    entries = AuditEntry.objects.filter(action="result.create").count()
    with (
        pytest.raises(RuntimeError),
        transaction.atomic(),  # the request's own transaction, as in production
        events.replaced(evidence.EVIDENCE_CHANGED, explode),
    ):
        evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)
    assert EvalResult.objects.count() == results
    assert AuditEntry.objects.filter(action="result.create").count() == entries
    assert not due(model) and asked(model) == []
    assert services.stored_gate(model.slug) is not None


def test_a_failed_recomputation_is_retried_and_serves_nothing_from_before(
    model, pipeline, monkeypatch
):
    from governance.services import hooks

    evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("engine down")

    monkeypatch.setattr(hooks, "on_evidence_changed", explode)
    settle_gates()
    monkeypatch.undo()
    (message,) = asked(model)  # still pending, for the relay to send again after a backoff
    assert message.attempts == 1 and "engine down" in message.last_error
    assert services.stored_gate(model.slug) is None
    assert settle_gates() == 1
    assert services.stored_gate(model.slug)["state"] == "paused"


def test_a_descendant_is_owed_its_ancestors_writes(model, pipeline, safety):
    child = AIModel.objects.create(
        slug="atlas-mini", name="Atlas mini", family="atlas", parent=model
    )
    with transaction.atomic():
        services.recompute(child, "test.setup")

    evidence.record_results([item(model, value=0.5)], pipeline, EvalResult.Source.API)

    # The parent's write is owed to the child's gate too: neither is served from before.
    assert owed(child) == 1
    assert services.stored_gate(child.slug) is None
    assert services.stored_gate(model.slug) is None

    settle_gates()  # the parent's recomputation covers its family
    assert seqs(child) == {owed(child)}
    assert seqs(model) == {owed(model)}
    assert services.stored_gate(child.slug) is not None


def test_the_sweep_clears_a_request_whose_message_died(model, pipeline):
    """A message that ran out of attempts leaves the request set and no later write would
    ask again; the sweep, which recomputes every gate, clears it."""
    from governance.tasks import sweep_stored_gates

    evidence.record_results([item(model)], pipeline, EvalResult.Source.API)
    OutboxMessage.objects.filter(topic=SETTLE_TASK).update(status=OutboxStatus.DEAD)
    evidence.record_results([item(model, value=0.2)], pipeline, EvalResult.Source.API)
    assert due(model) and asked(model) == []  # nobody will recompute it

    with transaction.atomic():
        sweep_stored_gates()
    assert not due(model)
    assert seqs(model) == {owed(model)}
    evidence.record_results([item(model, value=0.3)], pipeline, EvalResult.Source.API)
    assert len(asked(model)) == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_model_ask_once_and_the_worker_leaves_it_current(model, pipeline):
    """Twelve writers at once on separate PostgreSQL connections, one of them crossing a
    line: every result is summarised once, the recomputation is asked for once, and after
    the worker's run the stored gate is current with every write, shows the crossing, and
    equals a recomputation from scratch."""
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
    assert len(asked(model)) == 1
    assert settle_gates() == 1
    assert seqs(model) == {before + writers}
    stored = services.stored_gate(model.slug)
    assert stored is not None and stored["state"] == "paused"
    with transaction.atomic():
        fresh = services.recompute(model, "test.check", descendants=False)
    assert fresh["scaling"].verdict["determinations"] == stored["determinations"]
    assert GateTransition.objects.filter(model=model, scope="scaling", to_state="paused").exists()
    assert EvalResult.objects.filter(model=model).count() == len(BELOW) + writers


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_stores_the_gate_after_a_burst_of_posts(model, pipeline, celery_worker):
    """The production path end to end: POSTs with ``Idempotency-Key`` commit, the first asks
    for the recomputation after commit, a real Celery worker runs it after the delay, and the
    stored gate then reads every result (here, a crossing)."""
    from tests.conftest import bearer

    client = bearer(pipeline)
    for i, value in enumerate((0.1, 0.99, 0.12)):
        response = client.post(
            "/api/v1/results/",
            item(model, value=value),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"burst-{i}",
        )
        assert response.status_code == 201, response.json()
    deadline = time.monotonic() + 30
    while seqs(model) != {owed(model)} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seqs(model) == {owed(model)}
    assert not due(model)
    stored = services.stored_gate(model.slug)
    assert stored is not None and stored["state"] == "paused"
    assert OutboxMessage.objects.filter(topic=SETTLE_TASK, status=OutboxStatus.DONE).exists()


def test_a_report_snapshot_reads_results_the_worker_has_not_yet_covered(model, pipeline):
    """A record made from the stored rows recomputes a row behind the model's results first."""
    evidence.record_results([item(model, value=0.99)], pipeline, EvalResult.Source.API)
    assert services.stored_gate(model.slug) is None

    rows = services.current_rows(model)
    assert {row.state for row in rows.values()} == {"paused"}
    assert seqs(model) == {owed(model)}
    assert services.stored_gate(model.slug)["state"] == "paused"


def test_the_request_reaches_the_broker_with_the_delay_and_other_messages_without(
    model, pipeline, monkeypatch, settings
):
    """A burst shares one recomputation because the broker holds the message for the delay;
    other topics are sent as before."""
    from core import outbox

    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        outbox.app, "send_task", lambda name, **kw: sent.append((name, kw.get("countdown")))
    )
    settings.GATE_SETTLE_DELAY_MS = 1500
    evidence.record_results([item(model)], pipeline, EvalResult.Source.API)
    (message,) = asked(model)
    outbox._send(message)
    other = OutboxMessage.objects.create(topic="governance.send_notification", payload={})
    outbox._send(other)
    assert sent == [(SETTLE_TASK, 1.5), ("governance.send_notification", None)]
