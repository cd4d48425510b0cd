"""Hot statements planned once per connection (``rsp_portal.prepared``)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.models import ApiToken
from rsp_portal import prepared
from rsp_portal.authz import allowed_scopes

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::int + %s::int, 'a%%b'"


def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PREPARE is PostgreSQL's (DATABASE_URL=postgres://...)")


def _run(sql: str, params: list[object]) -> tuple[list[tuple[object, ...]], list[str]]:
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        rows = cursor.fetchall()
    return rows, [q["sql"] for q in queries.captured_queries]


def test_a_statement_is_prepared_once_per_connection_in_the_same_round_trip():
    _postgresql()
    first, sent = _run(SQL, [1, 2])
    assert first == [(3, "a%b")]
    assert len(sent) == 1 and sent[0].startswith("PREPARE rsp_hot_") and "; EXECUTE " in sent[0]
    again, sent = _run(SQL, [40, 2])
    assert again == [(42, "a%b")]
    assert len(sent) == 1 and sent[0].startswith("EXECUTE rsp_hot_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'rsp_hot_%%'")
        assert cursor.fetchone()[0] >= 1


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    _postgresql()
    _run(SQL, [1, 1])
    connection.close()  # as CONN_MAX_AGE or an error does; the server forgets the statement
    rows, sent = _run(SQL, [2, 2])
    assert rows == [(4, "a%b")] and sent[0].startswith("PREPARE ")


def test_a_rolled_back_transaction_keeps_the_statement():
    _postgresql()
    with pytest.raises(RuntimeError), transaction.atomic():
        _run(SQL, [5, 5])  # prepared inside the transaction
        raise RuntimeError("rolled back")
    rows, sent = _run(SQL, [6, 6])
    assert rows == [(12, "a%b")] and sent[0].startswith("EXECUTE ")


def test_other_databases_run_the_statement_as_it_is():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's path (no DATABASE_URL)")
    rows, sent = _run("SELECT %s + %s", [1, 2])
    assert rows == [(3,)] and sent == ["SELECT 1 + 2"]


def test_the_parameters_must_match_the_placeholders():
    _postgresql()
    with connection.cursor() as cursor, pytest.raises(ValueError, match="takes 2 parameters"):
        prepared.execute(cursor, SQL, [1])


def test_every_bearer_request_reads_its_token_with_the_prepared_statement(pipeline):
    _postgresql()
    _, text = ApiToken.issue(pipeline, "prepared", allowed_scopes(pipeline))
    assert ApiToken.authenticate(text) is not None
    with CaptureQueriesContext(connection) as queries:
        token = ApiToken.authenticate(text)
    assert token is not None and token.user.username == "pipeline"
    [sent] = [q["sql"] for q in queries.captured_queries]
    assert sent.startswith("EXECUTE rsp_hot_")
