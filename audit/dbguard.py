"""Database-level append-only guards, usable from any app's migrations.

PostgreSQL: row triggers refuse UPDATE and DELETE, a statement trigger refuses TRUNCATE.
SQLite: row triggers refuse UPDATE and DELETE (SQLite has no TRUNCATE).

Django's TransactionTestCase empties every table between tests (TRUNCATE on PostgreSQL, DELETE
on SQLite). The guard installed by migrations has no escape at all on PostgreSQL: a session
setting that anyone connected can ``SET`` is no guard. The test runner, and only the test
runner, replaces the trigger function in its own throwaway database with one that honours a
session setting for TRUNCATE; that function and its installer live in the test suite
(``tests/dbguard_escape.py``), so no code the product ships can install it (docs/adr/0010, "No
test escape in production").

SQLite (development and tests only): the DELETE triggers consult the connection function
``rsp_test_flush_allowed()``, which the application registers returning 0 and only the test
fixtures replace. UPDATE is refused in every case.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# What migrations install: no switch, no exception.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION rsp_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '42501';
END $$;
"""
_PG_FUNCTION = PG_FUNCTION


def _pg_statements(table: str, allow_update: bool) -> list[str]:
    ops = "DELETE" if allow_update else "UPDATE OR DELETE"
    return [
        _PG_FUNCTION,
        f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}";',
        f'CREATE TRIGGER "{table}_append_only" BEFORE {ops} ON "{table}" '
        "FOR EACH ROW EXECUTE FUNCTION rsp_append_only();",
        f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}";',
        f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
        "FOR EACH STATEMENT EXECUTE FUNCTION rsp_append_only();",
    ]


def _sqlite_statements(table: str, allow_update: bool) -> list[str]:
    statements = [
        f'DROP TRIGGER IF EXISTS "{table}_no_delete";',
        f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}" '
        "WHEN coalesce(rsp_test_flush_allowed(), 0) != 1 "
        f"BEGIN SELECT RAISE(ABORT, 'append-only: DELETE on {table} is not allowed'); END;",
    ]
    if not allow_update:
        statements += [
            f'DROP TRIGGER IF EXISTS "{table}_no_update";',
            f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'append-only: UPDATE on {table} is not allowed'); END;",
        ]
    return statements


def _drop_statements(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}";',
            f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}";',
        ]
    return [
        f'DROP TRIGGER IF EXISTS "{table}_no_delete";',
        f'DROP TRIGGER IF EXISTS "{table}_no_update";',
    ]


def append_only(table: str, *, allow_update: bool = False) -> migrations.RunPython:
    """A migration operation that makes ``table`` append-only on PostgreSQL and SQLite.

    ``allow_update=True`` still refuses DELETE and TRUNCATE but lets rows change; it is for
    sequencer rows such as the audit log head, which carry their own UPDATE trigger.
    """

    def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            statements = _pg_statements(table, allow_update)
        elif vendor == "sqlite":
            statements = _sqlite_statements(table, allow_update)
        else:  # pragma: no cover - only the two supported databases
            raise RuntimeError(f"append-only guard: unsupported database {vendor}")
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in _drop_statements(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards)


def strict_function() -> migrations.RunPython:
    """A migration operation replacing the PostgreSQL trigger function with ``PG_FUNCTION``.

    Databases migrated before the test escape was removed still carry a function that honours
    the old test switch; this removes it. Reverting restores nothing: the escape was a flaw.
    """

    def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(PG_FUNCTION, params=None)

    return migrations.RunPython(forwards, migrations.RunPython.noop)


def register_sqlite_functions(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: object
) -> None:
    """``connection_created`` hook: the SQLite triggers call ``rsp_test_flush_allowed()``.

    The application registers it returning 0 (flush refused); only test fixtures replace it.
    """
    if connection.vendor == "sqlite":
        connection.connection.create_function("rsp_test_flush_allowed", 0, lambda: 0)
