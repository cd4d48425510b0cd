"""Database triggers that freeze active and superseded policy versions.

The ORM already refuses such writes (``PolicyVersion.save``, ``PolicyChild.save``); these
triggers refuse them for every other client too (raw SQL, ``QuerySet.update``, a DBA's
console), on PostgreSQL and SQLite alike:

* ``policies_policyversion``: once a row is not a draft, no column may change except
  ``status`` going from ``active`` to ``superseded``; a non-draft row cannot be deleted.
* each child table (it has a ``version_id``): no INSERT, UPDATE or DELETE of a row whose
  version (old or new) is not a draft.

Django's TransactionTestCase empties tables between tests: TRUNCATE on PostgreSQL (which
fires no row trigger) and DELETE on SQLite, where the DELETE triggers honour the same
test-only switch as the audit guards (``rsp_test_flush_allowed()``, see ``audit.dbguard``).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

VERSION_TABLE = "policies_policyversion"


def _pg_version(columns: list[str]) -> list[str]:
    frozen = " OR ".join(f'NEW."{c}" IS DISTINCT FROM OLD."{c}"' for c in columns)
    return [
        f"""
CREATE OR REPLACE FUNCTION rsp_policy_version_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'draft' THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'policy version % is %: it cannot be deleted', OLD.id, OLD.status
      USING ERRCODE = '42501';
  END IF;
  IF ({frozen})
     OR (NEW.status <> OLD.status AND NOT (OLD.status = 'active' AND NEW.status = 'superseded'))
  THEN
    RAISE EXCEPTION 'policy version % is % and immutable', OLD.id, OLD.status
      USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
""",
        f'DROP TRIGGER IF EXISTS "{VERSION_TABLE}_frozen" ON "{VERSION_TABLE}";',
        f'CREATE TRIGGER "{VERSION_TABLE}_frozen" BEFORE UPDATE OR DELETE ON "{VERSION_TABLE}" '
        "FOR EACH ROW EXECUTE FUNCTION rsp_policy_version_frozen();",
    ]


_PG_CHILD_FUNCTION = """
CREATE OR REPLACE FUNCTION rsp_policy_child_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  frozen_status text;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT status INTO frozen_status FROM "policies_policyversion" WHERE id = OLD.version_id;
    IF frozen_status IS NOT NULL AND frozen_status <> 'draft' THEN
      RAISE EXCEPTION 'policy version % is % and immutable: % on % refused',
        OLD.version_id, frozen_status, TG_OP, TG_TABLE_NAME USING ERRCODE = '42501';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT status INTO frozen_status FROM "policies_policyversion" WHERE id = NEW.version_id;
    IF frozen_status IS NOT NULL AND frozen_status <> 'draft' THEN
      RAISE EXCEPTION 'policy version % is % and immutable: % on % refused',
        NEW.version_id, frozen_status, TG_OP, TG_TABLE_NAME USING ERRCODE = '42501';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
"""


def _pg_child(table: str) -> list[str]:
    return [
        _PG_CHILD_FUNCTION,
        f'DROP TRIGGER IF EXISTS "{table}_frozen" ON "{table}";',
        f'CREATE TRIGGER "{table}_frozen" BEFORE INSERT OR UPDATE OR DELETE ON "{table}" '
        "FOR EACH ROW EXECUTE FUNCTION rsp_policy_child_frozen();",
    ]


def _sqlite_version(columns: list[str]) -> list[str]:
    frozen = " OR ".join(f'NEW."{c}" IS NOT OLD."{c}"' for c in columns)
    return [
        f'DROP TRIGGER IF EXISTS "{VERSION_TABLE}_frozen_update";',
        f'CREATE TRIGGER "{VERSION_TABLE}_frozen_update" BEFORE UPDATE ON "{VERSION_TABLE}" '
        f"WHEN OLD.status != 'draft' AND (({frozen}) OR (NEW.status != OLD.status AND NOT "
        "(OLD.status = 'active' AND NEW.status = 'superseded'))) "
        "BEGIN SELECT RAISE(ABORT, 'policy version is not a draft and immutable'); END;",
        f'DROP TRIGGER IF EXISTS "{VERSION_TABLE}_frozen_delete";',
        f'CREATE TRIGGER "{VERSION_TABLE}_frozen_delete" BEFORE DELETE ON "{VERSION_TABLE}" '
        "WHEN OLD.status != 'draft' AND coalesce(rsp_test_flush_allowed(), 0) != 1 "
        "BEGIN SELECT RAISE(ABORT, 'policy version is not a draft: it cannot be deleted'); END;",
    ]


def _sqlite_child(table: str) -> list[str]:
    def status_of(ref: str) -> str:
        return f"coalesce((SELECT status FROM \"{VERSION_TABLE}\" WHERE id = {ref}), 'draft')"  # noqa: S608

    message = f"policy version is not a draft and immutable: write to {table} refused"
    return [
        f'DROP TRIGGER IF EXISTS "{table}_frozen_insert";',
        f'CREATE TRIGGER "{table}_frozen_insert" BEFORE INSERT ON "{table}" '
        f"WHEN {status_of('NEW.version_id')} != 'draft' "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END;",
        f'DROP TRIGGER IF EXISTS "{table}_frozen_update";',
        f'CREATE TRIGGER "{table}_frozen_update" BEFORE UPDATE ON "{table}" '
        f"WHEN {status_of('OLD.version_id')} != 'draft' "
        f"OR {status_of('NEW.version_id')} != 'draft' "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END;",
        f'DROP TRIGGER IF EXISTS "{table}_frozen_delete";',
        f'CREATE TRIGGER "{table}_frozen_delete" BEFORE DELETE ON "{table}" '
        f"WHEN {status_of('OLD.version_id')} != 'draft' "
        "AND coalesce(rsp_test_flush_allowed(), 0) != 1 "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END;",
    ]


def _drop(vendor: str, child_tables: list[str]) -> list[str]:
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{t}_frozen" ON "{t}";' for t in [VERSION_TABLE, *child_tables]
        ]
    names = [f"{VERSION_TABLE}_frozen_update", f"{VERSION_TABLE}_frozen_delete"]
    for table in child_tables:
        names += [f"{table}_frozen_{op}" for op in ("insert", "update", "delete")]
    return [f'DROP TRIGGER IF EXISTS "{name}";' for name in names]


def freeze_policy_versions(
    version_columns: list[str], child_tables: list[str]
) -> migrations.RunPython:
    """Migration operation installing the triggers; ``version_columns`` are every column of
    the version table except ``status`` (listed explicitly so the migration stays fixed)."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            statements = _pg_version(version_columns)
            for table in child_tables:
                statements += _pg_child(table)
        elif vendor == "sqlite":
            statements = _sqlite_version(version_columns)
            for table in child_tables:
                statements += _sqlite_child(table)
        else:  # pragma: no cover - only the two supported databases
            raise RuntimeError(f"policy freeze guard: unsupported database {vendor}")
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        for statement in _drop(schema_editor.connection.vendor, child_tables):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards)
