"""A worker keeps its database connection from task to task, as a web process does from
request to request (ADR 0057); Celery's own default would open a new session for every task."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection

from core.models import WorkerHeartbeat
from core.tasks import heartbeat
from tests.services import WorkerProcess, services_available


def _answered(nonce: str) -> None:
    deadline = time.monotonic() + 60
    while not WorkerHeartbeat.objects.filter(answered_nonce=nonce).exists():
        assert time.monotonic() < deadline, "the worker never answered"
        time.sleep(0.05)


def _worker_sessions(since: object) -> list[int]:
    """The other sessions on the test database opened since ``since``: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_start >= %s ORDER BY pid",
            [since],
        )
        return [pid for (pid,) in cursor.fetchall()]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_tasks_in_a_row_use_one_session() -> None:
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (started,) = cursor.fetchone()
    worker = WorkerProcess(concurrency=1).start()
    try:
        seen = []
        for _ in range(4):
            _ping()
            seen.append(_worker_sessions(started))
        first = seen[0]
        assert len(first) == 1, seen
        assert seen == [first] * 4, "a task opened a new session"

        # The server ends the kept session (a restart, an idle timeout): the next task's
        # start finds it closed and opens another, instead of failing on its first query.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", first)
        _ping()
        assert _worker_sessions(started) not in ([], first)
    finally:
        worker.stop()


def _ping() -> None:
    nonce = uuid.uuid4().hex
    heartbeat.delay(nonce)
    _answered(nonce)
