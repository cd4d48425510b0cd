"""The log head's guard counts the entries only when the head advances by more than one.

The guard of migration 0005 checks an advance of the head in four steps: the head moves
forward; the entry at the old size continues the old head; the entry before the new size has
the new head's hash; and every ``seq`` between them is there (a ``count(*)``). When the head
advances by one entry, as a single write does, the second and third steps name the same row,
which therefore exists, so the count can only be 1: it is skipped. That count took most of the
guard's time (about 70 of 120 µs), inside the section in which every audited write holds the
head's lock (ADR 0056). What the guard accepts and refuses is unchanged.

The entries' ``prev`` and ``leaf_hash`` also lose the ``varchar_pattern_ops`` indexes that
Django adds beside a unique ``CharField`` on PostgreSQL, for ``LIKE 'abc%'``: nothing
searches a hash by prefix, and every entry paid for both. Their unique indexes stay.
"""

from importlib import import_module

from django.db import migrations

# What the guard of 0005 says and how it is installed, and the guard this one replaces.
BEFORE = import_module("audit.migrations.0005_head_advances_to_an_entry")
MESSAGE = BEFORE.MESSAGE

PG_FUNCTION = (
    """
CREATE OR REPLACE FUNCTION rsp_log_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size <= OLD.size
     OR NOT EXISTS (SELECT 1 FROM audit_auditentry
                    WHERE seq = OLD.size AND prev = OLD.head_hash)
     OR NOT EXISTS (SELECT 1 FROM audit_auditentry
                    WHERE seq = NEW.size - 1 AND leaf_hash = NEW.head_hash) THEN
    RAISE EXCEPTION '%(message)s' USING ERRCODE = '42501';
  END IF;
  -- One entry: the two rows above are that entry. Several: none may be missing between them.
  IF NEW.size - OLD.size > 1 THEN
    IF (SELECT count(*) FROM audit_auditentry
        WHERE seq >= OLD.size AND seq < NEW.size) <> NEW.size - OLD.size THEN
      RAISE EXCEPTION '%(message)s' USING ERRCODE = '42501';
    END IF;
  END IF;
  RETURN NEW;
END $$;
"""
    % {"message": MESSAGE}
)

SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_loghead_advance BEFORE UPDATE ON audit_loghead "
    "WHEN NEW.size <= OLD.size "
    "OR NOT EXISTS (SELECT 1 FROM audit_auditentry WHERE seq = OLD.size AND prev = OLD.head_hash) "
    "OR NOT EXISTS (SELECT 1 FROM audit_auditentry "
    "WHERE seq = NEW.size - 1 AND leaf_hash = NEW.head_hash) "
    "OR (NEW.size - OLD.size > 1 AND (SELECT count(*) FROM audit_auditentry "
    "WHERE seq >= OLD.size AND seq < NEW.size) != NEW.size - OLD.size) "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;"
)

#: The entries' columns whose prefix-search index goes (PostgreSQL only).
HASH_COLUMNS = ("prev", "leaf_hash")


def _like_index(schema_editor, column: str) -> str:
    # The name Django gave it (``BaseDatabaseSchemaEditor._create_index_name``).
    return schema_editor._create_index_name("audit_auditentry", [column], suffix="_like")


def forwards(apps, schema_editor):
    BEFORE._install(schema_editor, PG_FUNCTION, SQLITE_TRIGGER)
    if schema_editor.connection.vendor == "postgresql":
        for column in HASH_COLUMNS:
            name = schema_editor.quote_name(_like_index(schema_editor, column))
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


def backwards(apps, schema_editor):
    BEFORE._install(schema_editor, BEFORE.PG_FUNCTION, BEFORE.SQLITE_TRIGGER)
    if schema_editor.connection.vendor == "postgresql":
        for column in HASH_COLUMNS:
            name = schema_editor.quote_name(_like_index(schema_editor, column))
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON audit_auditentry "
                f"({schema_editor.quote_name(column)} varchar_pattern_ops)",
                params=None,
            )


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_verification_run_frontier")]

    operations = [migrations.RunPython(forwards, backwards)]
