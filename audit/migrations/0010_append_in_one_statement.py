"""The log head's read, the chain, the entries and the head's advance in one statement.

``audit_append`` (PostgreSQL only; SQLite's writer chains in Python, ``audit.services``) is
given each entry's canonical body up to its ``prev`` member, its filter columns and the
writer's time (its value and its RFC 3339 text). Under the head's lock, which it takes
itself, it appends to each body ``prev``, ``seq``, ``ts`` and ``v`` as
``audit.services.assemble_body`` does, hashes it (RFC 6962's leaf hash), inserts the entries
in one statement, advances the head (whose guard trigger still checks the advance) and
returns the first ``seq`` and ``prev`` and the leaf hashes. A writer thus holds the
head's lock through no round trip of its own before its commit (ADR 0057). A test holds its
bodies byte for byte equal to the Python ones and to ``entry_body``.
"""

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append(
    prefixes bytea[], actors text[], actions text[], object_types text[], object_ids text[],
    model_slugs text[], version integer, at timestamptz, ts_text text
) RETURNS TABLE (first_seq bigint, first_prev text, hashes text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    size_ bigint;
    hash_ text;
    body bytea;
    seqs bigint[] := '{}';
    prevs text[] := '{}';
    bodies bytea[] := '{}';
BEGIN
    SELECT h.size, h.head_hash INTO size_, hash_
      FROM audit_loghead h WHERE h.id = 1 FOR NO KEY UPDATE;
    IF NOT FOUND THEN  -- a new or flushed database: the head starts empty
        INSERT INTO audit_loghead (id, size, head_hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.size, h.head_hash INTO size_, hash_
          FROM audit_loghead h WHERE h.id = 1 FOR NO KEY UPDATE;
    END IF;
    first_seq := size_;
    first_prev := hash_;
    hashes := '{}';
    FOR i IN 1 .. cardinality(prefixes) LOOP
        body := prefixes[i] || convert_to(
            '"prev":"' || hash_ || '","seq":' || size_ || ',"ts":"' || ts_text || '","v":'
            || version || '}', 'UTF8');
        seqs := seqs || size_;
        prevs := prevs || hash_;
        bodies := bodies || body;
        hash_ := encode(sha256('\\x00'::bytea || body), 'hex');
        hashes := hashes || hash_;
        size_ := size_ + 1;
    END LOOP;
    INSERT INTO audit_auditentry
        (seq, prev, leaf_hash, body, ts, actor, action, object_type, object_id, model_slug)
    SELECT s, p, l, b, at, a, c, t, o, m
      FROM unnest(seqs, prevs, hashes, bodies, actors, actions, object_types, object_ids,
                  model_slugs) AS u(s, p, l, b, a, c, t, o, m);
    UPDATE audit_loghead SET size = size_, head_hash = hash_ WHERE id = 1;
    RETURN NEXT;
END
$fn$;
"""

PG_DROP = (
    "DROP FUNCTION IF EXISTS audit_append(bytea[], text[], text[], text[], text[], text[], "
    "integer, timestamptz, text)"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_head_guard_counts_only_batches")]

    operations = [migrations.RunPython(forwards, backwards)]
