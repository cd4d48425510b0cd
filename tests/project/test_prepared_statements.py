"""Statements planned once per connection (``rsp_portal.prepared``, ADR 0047): the same rows
as the plain statement, prepared again on a new connection and after any error, never a
transaction left to fail twice, and the plain statement wherever names cannot be kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from rsp_portal import prepared

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PREPARE is PostgreSQL's"
)

# A literal ``%`` (escaped) and placeholders of two types, one of them repeated.
SQL = "SELECT %s + 1, %s || '%%', 7 %% 4 WHERE %s > 0"


def run(statement: prepared.Prepared, params: list[int | str]) -> tuple[list[str], list[object]]:
    with CaptureQueriesContext(connection) as sent, connection.cursor() as cursor:
        statement.execute(cursor, params)
        rows = list(cursor.fetchall())
    return [q["sql"] for q in sent.captured_queries], rows


def plain(params: list[int | str]) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(SQL, params)
        return list(cursor.fetchall())


@pytest.fixture
def statement() -> Iterator[prepared.Prepared]:
    yield prepared.Prepared(SQL)


def test_the_placeholders_are_numbered_and_a_literal_percent_stays_escaped(statement):
    assert statement.body == "SELECT $1 + 1, $2 || '%%', 7 %% 4 WHERE $3 > 0"
    assert statement.arity == 3


@postgres_only
def test_a_statement_is_prepared_once_per_connection_and_gives_the_plain_rows(statement):
    first, rows = run(statement, [1, "a", 1])
    assert len(first) == 1 and first[0].startswith("PREPARE rsp_")
    assert rows == plain([1, "a", 1]) == [(2, "a%", 3)]
    for value in range(2, 9):  # past PostgreSQL's switch to a generic plan
        sent, rows = run(statement, [value, "b", 1])
        assert len(sent) == 1 and sent[0].startswith("EXECUTE rsp_")
        assert rows == plain([value, "b", 1])
    assert run(statement, [1, "c", 0])[1] == plain([1, "c", 0]) == []


@postgres_only
def test_a_new_connection_prepares_again(statement):
    run(statement, [1, "a", 1])
    assert run(statement, [1, "a", 1])[0][0].startswith("EXECUTE")
    # A test holds its transaction on the connection: a second one stands for the reconnect.
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            statement.execute(cursor, [2, "x", 1])
            assert cursor.fetchall() == [(3, "x%", 3)]
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone() == (1,)
    finally:
        other.close()


@postgres_only
def test_a_rolled_back_transaction_keeps_the_statement(statement):
    with pytest.raises(RuntimeError), transaction.atomic():
        run(statement, [1, "a", 1])
        raise RuntimeError("rolled back")
    sent, rows = run(statement, [4, "d", 1])
    assert sent[0].startswith("EXECUTE") and rows == [(5, "d%", 3)]


@postgres_only
def test_after_an_error_the_next_use_prepares_again_under_a_new_name(statement):
    first, _ = run(statement, [1, "a", 1])
    name = first[0].split()[1]
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {name}")  # lost behind its back (a pooler, DISCARD ALL)
    with pytest.raises(DatabaseError), transaction.atomic():
        run(statement, [1, "a", 1])
    sent, rows = run(statement, [2, "b", 1])
    assert sent[0].startswith("PREPARE") and name not in sent[0]
    assert rows == [(3, "b%", 3)]
    assert run(statement, [2, "b", 1])[0][0].startswith("EXECUTE")


def test_the_plain_statement_runs_when_prepared_statements_are_off(statement, settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    for _ in range(2):
        sent, rows = run(statement, [1, "a", 1])
        assert len(sent) == 1 and sent[0].startswith("SELECT")
        assert rows == [(2, "a%", 3)]


def test_other_databases_and_other_shapes_run_the_plain_statement(statement):
    """SQLite has no PREPARE; a call with the wrong number of parameters fails as the plain
    statement does."""
    sent, rows = run(statement, [1, "a", 1])
    if connection.vendor != "postgresql":
        assert sent[0].startswith("SELECT") and rows == [(2, "a%", 3)]
    with pytest.raises((DatabaseError, TypeError, IndexError)), transaction.atomic():
        run(statement, [1, "a"])


def test_statements_are_built_once_per_text():
    assert prepared.statement(SQL) is prepared.statement(SQL)
    assert prepared.statement(SQL + " ") is not prepared.statement(SQL)


@postgres_only
def test_every_bearer_request_reads_its_token_with_the_prepared_statement(pipeline):
    from core.models import ApiToken
    from rsp_portal.authz import allowed_scopes

    _, text = ApiToken.issue(pipeline, "prepared", allowed_scopes(pipeline))
    assert ApiToken.authenticate(text) is not None
    with CaptureQueriesContext(connection) as queries:
        token = ApiToken.authenticate(text)
    assert token is not None and token.user.username == "pipeline"
    [sent] = [q["sql"] for q in queries.captured_queries]
    assert sent.startswith("EXECUTE rsp_")
