"""The log head may advance by several entries in one UPDATE, but only onto the chain.

Before, the guard accepted exactly ``size + 1`` and looked at nothing else, so a batch of n
entries cost n UPDATEs of the head. Now an UPDATE is accepted when the head moves forward,
the entries it covers are all there, the first of them continues the old head
(``prev = old head_hash``) and the new ``head_hash`` is the leaf hash of the last one. A skip,
a rewind or a head naming a hash that is not the last entry's is refused, as before or more
strictly: the old guard accepted any ``head_hash``.
"""

from django.db import migrations

MESSAGE = "audit log head may only advance, onto the entries that continue it"

PG_FUNCTION = (
    """
CREATE OR REPLACE FUNCTION rsp_log_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size <= OLD.size
     OR NOT EXISTS (SELECT 1 FROM audit_auditentry
                    WHERE seq = OLD.size AND prev = OLD.head_hash)
     OR NOT EXISTS (SELECT 1 FROM audit_auditentry
                    WHERE seq = NEW.size - 1 AND leaf_hash = NEW.head_hash)
     OR (SELECT count(*) FROM audit_auditentry
         WHERE seq >= OLD.size AND seq < NEW.size) <> NEW.size - OLD.size THEN
    RAISE EXCEPTION '%s' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
"""
    % MESSAGE
)

PG_FUNCTION_BEFORE = """
CREATE OR REPLACE FUNCTION rsp_log_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size <> OLD.size + 1 THEN
    RAISE EXCEPTION 'audit log head may only advance by one entry' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
"""

SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_loghead_advance BEFORE UPDATE ON audit_loghead "
    "WHEN NEW.size <= OLD.size "
    "OR NOT EXISTS (SELECT 1 FROM audit_auditentry WHERE seq = OLD.size AND prev = OLD.head_hash) "
    "OR NOT EXISTS (SELECT 1 FROM audit_auditentry "
    "WHERE seq = NEW.size - 1 AND leaf_hash = NEW.head_hash) "
    "OR (SELECT count(*) FROM audit_auditentry WHERE seq >= OLD.size AND seq < NEW.size) "
    "!= NEW.size - OLD.size "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;"
)

SQLITE_TRIGGER_BEFORE = (
    "CREATE TRIGGER audit_loghead_advance BEFORE UPDATE ON audit_loghead "
    "WHEN NEW.size != OLD.size + 1 "
    "BEGIN SELECT RAISE(ABORT, 'audit log head may only advance by one entry'); END;"
)


def _install(schema_editor, pg: str, sqlite: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(pg, params=None)
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_loghead_advance", params=None)
        schema_editor.execute(sqlite, params=None)


def forwards(apps, schema_editor):
    _install(schema_editor, PG_FUNCTION, SQLITE_TRIGGER)


def backwards(apps, schema_editor):
    _install(schema_editor, PG_FUNCTION_BEFORE, SQLITE_TRIGGER_BEFORE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_witnessed_checkpoints")]

    operations = [migrations.RunPython(forwards, backwards)]
