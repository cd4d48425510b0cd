"""Database triggers that keep a report's frozen content frozen.

The service writes a report's content once (``accountability.reports``): its kind, title,
sections, the snapshot of the record and its hash. Afterwards only the status moves, and only
forward: a draft is signed, rejected or superseded by a new version; a signed report is
published, which writes its public edition once. These triggers refuse every other change for
every client (raw SQL, ``QuerySet.update``, a DBA's console), on PostgreSQL and SQLite alike,
and refuse deleting a report. Signatures and redactions are append-only tables
(``audit.dbguard``).

Django's TransactionTestCase empties tables with TRUNCATE on PostgreSQL (which fires no row
trigger) and DELETE on SQLite, where the DELETE trigger honours the test-only switch of the
audit guards (``rsp_test_flush_allowed()``, see ``audit.dbguard``).
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

TABLE = "accountability_report"
#: Written once by the service; never changed afterwards.
CONTENT_COLUMNS = (
    "id",
    "kind",
    "kind_name",
    "model_id",
    "policy_version_id",
    "title",
    "sections",
    "snapshot",
    "snapshot_sha256",
    "required_titles",
    "version",
    "supersedes_id",
    "created_by_id",
    "created_at",
)
#: Written once, when the report is published.
EDITION_COLUMNS = ("public_sections", "published_at", "published_by_id")
#: (from, to) status moves the service makes; staying put is always allowed.
MOVES = (
    ("draft", "signed"),
    ("draft", "rejected"),
    ("draft", "superseded"),
    ("signed", "published"),
)


def _changed(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f'NEW."{c}" {distinct} OLD."{c}"' for c in columns)


def _moves() -> str:
    return " OR ".join(f"(OLD.status = '{a}' AND NEW.status = '{b}')" for a, b in MOVES)


def _pg() -> list[str]:
    return [
        f"""
CREATE OR REPLACE FUNCTION rsp_report_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'report %: reports are never deleted', OLD.id USING ERRCODE = '42501';
  END IF;
  IF {_changed(CONTENT_COLUMNS, "IS DISTINCT FROM")} THEN
    RAISE EXCEPTION 'report %: its content and snapshot are frozen', OLD.id
      USING ERRCODE = '42501';
  END IF;
  IF NEW.status <> OLD.status AND NOT ({_moves()}) THEN
    RAISE EXCEPTION 'report %: status % cannot become %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = '42501';
  END IF;
  IF NEW.signed_at IS DISTINCT FROM OLD.signed_at
     AND NOT (OLD.status = 'draft' AND NEW.status = 'signed') THEN
    RAISE EXCEPTION 'report %: signed_at is set once, on signing', OLD.id
      USING ERRCODE = '42501';
  END IF;
  IF ({_changed(EDITION_COLUMNS, "IS DISTINCT FROM")})
     AND NOT (OLD.status = 'signed' AND NEW.status = 'published') THEN
    RAISE EXCEPTION 'report %: the public edition is written once, on publishing', OLD.id
      USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
""",
        f'DROP TRIGGER IF EXISTS "{TABLE}_frozen" ON "{TABLE}";',
        f'CREATE TRIGGER "{TABLE}_frozen" BEFORE UPDATE OR DELETE ON "{TABLE}" '
        "FOR EACH ROW EXECUTE FUNCTION rsp_report_frozen();",
    ]


def _sqlite() -> list[str]:
    refused = (
        f"({_changed(CONTENT_COLUMNS, 'IS NOT')})"
        f" OR (NEW.status != OLD.status AND NOT ({_moves()}))"
        " OR (NEW.signed_at IS NOT OLD.signed_at"
        " AND NOT (OLD.status = 'draft' AND NEW.status = 'signed'))"
        f" OR (({_changed(EDITION_COLUMNS, 'IS NOT')})"
        " AND NOT (OLD.status = 'signed' AND NEW.status = 'published'))"
    )
    return [
        f'DROP TRIGGER IF EXISTS "{TABLE}_frozen_update";',
        f'CREATE TRIGGER "{TABLE}_frozen_update" BEFORE UPDATE ON "{TABLE}" WHEN {refused} '
        "BEGIN SELECT RAISE(ABORT, 'report: its content, snapshot and edition are frozen'); END;",
        f'DROP TRIGGER IF EXISTS "{TABLE}_frozen_delete";',
        f'CREATE TRIGGER "{TABLE}_frozen_delete" BEFORE DELETE ON "{TABLE}" '
        "WHEN coalesce(rsp_test_flush_allowed(), 0) != 1 "
        "BEGIN SELECT RAISE(ABORT, 'report: reports are never deleted'); END;",
    ]


def _drop(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{TABLE}_frozen" ON "{TABLE}";']
    return [
        f'DROP TRIGGER IF EXISTS "{TABLE}_frozen_update";',
        f'DROP TRIGGER IF EXISTS "{TABLE}_frozen_delete";',
    ]


def freeze_reports() -> migrations.RunPython:
    """Migration operation installing the report triggers."""

    def forwards(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            statements = _pg()
        elif vendor == "sqlite":
            statements = _sqlite()
        else:  # pragma: no cover - only the two supported databases
            raise RuntimeError(f"report freeze guard: unsupported database {vendor}")
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def backwards(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for statement in _drop(schema_editor.connection.vendor):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards)
