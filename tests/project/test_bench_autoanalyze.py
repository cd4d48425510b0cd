"""``make bench`` analyzes the tables a running server's autovacuum would, before each run."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.db import connection

from tests.bench_support import bench_module


@pytest.fixture(scope="module")
def servers() -> Any:
    with bench_module("servers") as module:
        yield module


@pytest.fixture
def probe_table() -> Any:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_probe (id integer PRIMARY KEY)")
        cursor.execute("ANALYZE bench_probe")  # analyzed while empty, as the seed does
    yield "bench_probe"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_probe")


def _server(cursor: Any) -> tuple[bool, float]:
    cursor.execute(
        "SELECT current_setting('autovacuum')::bool, "
        "current_setting('autovacuum_analyze_threshold')::float"
    )
    running, threshold = cursor.fetchone()
    return bool(running), float(threshold)


@pytest.mark.django_db(transaction=True)
def test_a_table_grown_past_autovacuums_threshold_is_analyzed(
    servers: ModuleType, probe_table: str, tmp_path: Path
) -> None:
    """Analyzed while empty, a table keeps plans made for an empty table (a unique-key lookup
    kept as a sequential scan over thousands of keys) until it is analyzed again."""
    if connection.vendor != "postgresql":
        pytest.skip("ANALYZE and autovacuum are PostgreSQL's")
    # DATABASE_URL names the server; the test database is the one this run made on it.
    dbs = servers.Databases(tmp_path, name=connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        running, threshold = _server(cursor)
        cursor.execute(
            "INSERT INTO bench_probe SELECT generate_series(1, %s)", [int(threshold) + 100]
        )
        cursor.execute("SELECT pg_stat_force_next_flush()")  # the counters, now
    assert (probe_table in dbs.autoanalyze()) is not running  # a running one does it itself
    if running:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
            [probe_table],
        )
        tuples, changed = cursor.fetchone()
    assert tuples == threshold + 100
    assert changed == 0
    assert probe_table not in dbs.autoanalyze()  # nothing changed since


def test_sqlite_has_nothing_to_analyze(
    servers: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert servers.Databases(tmp_path).autoanalyze() == []
