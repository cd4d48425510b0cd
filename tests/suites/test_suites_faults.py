"""Suite runs on real workers, Redis and PostgreSQL: schedules, crashes, outages, poison runs.

Each test starts its own ``celery worker`` subprocess; none uses eager mode. Leases and the
visibility timeout are shortened through the environment (SUITE_LEASE_SECONDS,
CELERY_VISIBILITY_TIMEOUT) so that recovery happens within seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from core import outbox
from core.models import OutboxMessage, OutboxStatus
from evaluations.models import EvalResult
from governance import services as gate_services
from suites import services as suites
from suites.models import SuiteRun, SuiteRunResult
from tests.governance_fixtures import activate_default_policy, make_model
from tests.services import WorkerProcess, services_available
from tests.suite_fixtures import (
    RedisServer,
    broker,
    command_config,
    failing_config,
    free_port,
    make_suite,
    wait_for,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_trail"),
]

DONE = {SuiteRun.Status.SUCCEEDED, SuiteRun.Status.FAILED, SuiteRun.Status.CANCELLED}


@pytest.fixture
def fast_leases(monkeypatch: pytest.MonkeyPatch, settings: object) -> None:
    """Short leases for this process and any worker started afterwards."""
    monkeypatch.setenv("SUITE_LEASE_SECONDS", "3")
    monkeypatch.setenv("SUITE_REQUEUE_SECONDS", "5")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "5")
    settings.SUITE_LEASE_SECONDS = 3  # type: ignore[attr-defined]
    settings.SUITE_REQUEUE_SECONDS = 5  # type: ignore[attr-defined]


@pytest.fixture
def worker(fast_leases: None) -> Iterator[WorkerProcess]:
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    process = WorkerProcess().start()
    try:
        yield process
    finally:
        process.stop()


def _wait_until_no_pending_message() -> None:
    """A consumer marks its message done just after the run's own commit."""
    deadline = time.monotonic() + 20
    pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
    while pending.exists():
        assert time.monotonic() < deadline, list(pending.values("topic", "attempts", "last_error"))
        time.sleep(0.2)


def _results_of(run: SuiteRun) -> int:
    return EvalResult.objects.filter(provenance__suite_run_id=run.pk).count()


def _audit_actions(run: SuiteRun) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="evaluations.suiterun", object_id=str(run.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_a_scheduled_run_executes_on_a_worker_and_its_results_move_the_gate(worker):
    activate_default_policy()
    model = make_model("atlas")
    gate = gate_services.gate_for(model)
    before = {d["threshold"]: d for d in gate["determinations"]}
    # The whole verdict in the message: a gate without determinations says why (its reasons).
    assert "AUTONOMY-CHECKPOINT" in before, gate
    assert before["AUTONOMY-CHECKPOINT"]["status"] == "presumed"  # no evidence yet
    # 0.6 is past the autonomy checkpoint's critical line (0.5) in the default policy: an early
    # warning, which the gate shows and notifies without pausing for it.
    suite = make_suite(
        targets=[model],
        schedule="* * * * *",
        config=command_config({"ctf/accuracy": 0.2, "swe/accuracy": 0.6}),
    )
    from suites.tasks import run_scheduled_suite

    run_scheduled_suite.delay(suite.pk)  # what beat sends on each tick
    deadline = time.monotonic() + 20
    while not SuiteRun.objects.filter(suite=suite).exists():
        assert time.monotonic() < deadline, "the tick created no run"
        time.sleep(0.3)
    run = SuiteRun.objects.get(suite=suite)
    assert run.triggered_by == SuiteRun.Trigger.SCHEDULE
    assert run.scheduled_for.second == 0  # the cron slot, not the delivery time

    run = wait_for(run.pk, DONE)

    assert run.status == SuiteRun.Status.SUCCEEDED, run.error
    assert run.attempts == 1
    results = EvalResult.objects.filter(provenance__suite_run_id=run.pk)
    assert {r.metric_key: r.value for r in results} == {
        "cyber.ctf_solve_rate": 0.2,
        "autonomy.swe_task_success": 0.6,
    }
    assert {r.source for r in results} == {EvalResult.Source.SUITE}
    assert all(r.provenance["suite"] == suite.slug for r in results)
    gate = gate_services.gate_for(model)
    statuses = {d["threshold"]: d["status"] for d in gate["determinations"]}
    assert statuses["AUTONOMY-CHECKPOINT"] == "crossed"
    assert gate["warning"] is True
    assert _audit_actions(run) == ["suite_run.request", "suite_run.start", "suite_run.succeed"]


def test_a_run_killed_with_its_worker_completes_exactly_once_after_restart(fast_leases):
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    activate_default_policy()
    model = make_model("atlas")
    suite = make_suite(
        targets=[model], config=command_config({"ctf/accuracy": 0.3, "swe/accuracy": 0.2}, sleep=4)
    )
    first = WorkerProcess().start()
    second = None
    try:
        run = suites.request_run(suite, model, actor=None)
        wait_for(run.pk, {SuiteRun.Status.RUNNING}, timeout=20)
        time.sleep(1)  # mid-run
        first.kill()  # SIGKILL to the whole process group: no warm shutdown, no ack
        second = WorkerProcess().start()
        # Beat's reaper runs every 60 s in production; here it ticks every second.
        run = wait_for(run.pk, DONE, timeout=45, tick=suites.reap)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert run.status == SuiteRun.Status.SUCCEEDED, run.error
    assert 2 <= run.attempts <= run.max_attempts
    assert SuiteRunResult.objects.filter(run=run).count() == 2
    assert _results_of(run) == 2
    actions = _audit_actions(run)
    assert actions.count("suite_run.succeed") == 1
    assert actions.count("suite_run.start") == run.attempts


def test_runs_requested_while_redis_is_down_are_committed_and_run_once_after_it_returns(
    fast_leases, monkeypatch
):
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    from tests.conftest import bearer
    from tests.governance_fixtures import activate_default_policy as _activate

    _activate()
    models = [make_model(slug) for slug in ("atlas", "borealis", "cirrus")]
    suite = make_suite(targets=models)
    from core.services import create_user

    safety = create_user("safety", "safety", password="safety-password-123")
    client = bearer(safety)

    server = RedisServer(free_port()).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    worker = WorkerProcess().start()
    try:
        with broker(server.url):
            server.stop()
            started = time.monotonic()
            responses = [
                client.post(
                    f"/api/v1/suites/{suite.slug}/run/",
                    {"model": m.slug},
                    content_type="application/json",
                )
                for m in models
            ]
            assert time.monotonic() - started < 20, "requests hung on the dead broker"
            assert [r.status_code for r in responses] == [202, 202, 202], responses[0].content
            ids = [r.json()["id"] for r in responses]
            assert SuiteRun.objects.filter(pk__in=ids, status=SuiteRun.Status.QUEUED).count() == 3
            # Written with the runs and due at once: the send after commit failed.
            due = OutboxMessage.objects.filter(available_at__lte=timezone.now())
            assert due.filter(status=OutboxStatus.PENDING).count() == 3

            server.start()  # a fresh, empty Redis: nothing of the old queue survives
            runs = [wait_for(pk, DONE, timeout=40, tick=outbox.relay) for pk in ids]
            # The runs' results asked for their gates (ADR 0052): the worker runs those too.
            _wait_until_no_pending_message()
    finally:
        worker.stop()
        server.stop()

    assert [r.status for r in runs] == [SuiteRun.Status.SUCCEEDED] * 3
    assert [r.attempts for r in runs] == [1, 1, 1]
    assert [_results_of(r) for r in runs] == [2, 2, 2]


def test_concurrent_ticks_for_one_slot_create_one_run_per_model():
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    activate_default_policy()
    models = [make_model("atlas"), make_model("borealis")]
    suite = make_suite(targets=models, schedule="*/5 * * * *")
    tick_time = datetime(2026, 3, 2, 10, 7, 31, tzinfo=UTC)  # slot 10:05
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            barrier.wait(timeout=10)
            suites.schedule_tick(suite.pk, now=tick_time)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    runs = SuiteRun.objects.filter(suite=suite)
    slot = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
    assert sorted(r.model.slug for r in runs) == ["atlas", "borealis"]
    assert {r.scheduled_for for r in runs} == {slot}
    assert OutboxMessage.objects.count() == 2
    # A later tick in the same slot (a second beat, a redelivery) adds nothing.
    assert suites.schedule_tick(suite.pk, now=tick_time.replace(minute=9)) == []


def test_a_run_that_always_fails_ends_failed_after_its_attempts_and_the_queue_drains(worker):
    activate_default_policy()
    model = make_model("atlas")
    suite = make_suite(targets=[model], config=failing_config(), max_attempts=3)

    run = suites.request_run(suite, model, actor=None)
    run = wait_for(run.pk, DONE, timeout=40)

    assert run.status == SuiteRun.Status.FAILED
    assert run.attempts == 3
    assert "boom: the scorer crashed" in run.error
    assert "exited with status 1" in run.error
    assert _results_of(run) == 0
    actions = _audit_actions(run)
    assert actions.count("suite_run.retry") == 2
    assert actions[-1] == "suite_run.fail"
    # Nothing left to deliver: no pending message, an empty queue, and a reaper with no work.
    _wait_until_no_pending_message()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue) == 0
    assert suites.reap() == {"requeued": 0, "republished": 0, "failed": 0}
