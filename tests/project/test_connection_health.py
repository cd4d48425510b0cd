"""The per-request health check of a persistent PostgreSQL connection (ADR 0057).

It asks the socket, not the server: an idle connection the server has not spoken on is used as
it is, and one the server closed is found and replaced before a request's first query.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's check"),
]


class _Watched:
    """A DB-API connection that counts the cursors it hands out."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.cursors = 0

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        self.cursors += 1
        return self.raw.cursor(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@pytest.fixture
def own() -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the test database, outside the test's transaction."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _terminate(wrapper: BaseDatabaseWrapper) -> None:
    """The server ends ``wrapper``'s session, as a restart or an idle timeout would."""
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's farewell reaches the socket after the call returns: wait for it, not a time.
    poller = select.poll()
    poller.register(wrapper.connection.fileno(), select.POLLIN)
    assert poller.poll(10_000), "the terminated session's socket never became readable"


def test_the_project_uses_its_own_backend() -> None:
    assert connection.settings_dict["ENGINE"] == "rsp_portal.postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.vendor == "postgresql"


def _statements_of_a_check(wrapper: BaseDatabaseWrapper) -> int:
    """Check ``wrapper`` (it must be usable) and count the statements the check sent."""
    watched = _Watched(wrapper.connection)
    wrapper.connection = watched
    try:
        assert wrapper.is_usable() is True
    finally:
        wrapper.connection = watched.raw
    return watched.cursors


def test_an_idle_connection_is_checked_without_a_statement(own: BaseDatabaseWrapper) -> None:
    assert _statements_of_a_check(own) == 0


def test_a_connection_the_server_closed_is_not_usable(own: BaseDatabaseWrapper) -> None:
    _terminate(own)
    assert own.is_usable() is False


def test_a_request_after_the_server_closed_the_connection_gets_a_new_one(
    own: BaseDatabaseWrapper,
) -> None:
    """What a request's start does (``close_old_connections``), then its first query."""
    _terminate(own)
    own.close_if_unusable_or_obsolete()  # the request_started signal
    with own.cursor() as cursor:  # the first query checks, finds it closed, reconnects
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)


def test_after_an_error_the_server_is_asked(own: BaseDatabaseWrapper) -> None:
    """Django's own check decides what this one does not know, here errors since the commit."""
    own.errors_occurred = True
    try:
        assert _statements_of_a_check(own) == 1
    finally:
        own.errors_occurred = False


def test_a_connection_inside_a_transaction_is_asked_the_server(
    own: BaseDatabaseWrapper,
) -> None:
    own.set_autocommit(False)
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert _statements_of_a_check(own) == 1
    finally:
        own.rollback()
        own.set_autocommit(True)
