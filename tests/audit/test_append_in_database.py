"""PostgreSQL's ``audit_append`` (ADR 0057) chains exactly what Python and the verifier do.

The database appends ``prev``, ``seq``, ``ts`` and ``v`` to each body and hashes it under the
head's lock. Its bytes must be the canonical body the offline verifier rebuilds
(``entry_body``) and the one the Python writer assembles (SQLite's path), for any data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit
from audit.models import AuditEntry, LogHead
from audit.services import _prepare, assemble_body
from audit.verify_bundle import entry_body, rfc3339_utc

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's append"),
]

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
# What is copied into a text column too (PostgreSQL's text holds no NUL, in any writer).
_COLUMN_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_ENTRY = st.tuples(
    _COLUMN_TEXT.filter(bool),  # action
    _COLUMN_TEXT,  # the system actor's name
    _COLUMN_TEXT,  # the object's id
    st.dictionaries(_TEXT, _JSON, max_size=4),  # data
    st.none() | _COLUMN_TEXT,  # the AI model's slug in the data
)


def _stored_equals_the_verifiers(row: AuditEntry, entry: tuple[Any, ...]) -> None:
    action, actor, object_id, data = entry
    ts = rfc3339_utc(row.ts)
    expected = entry_body(
        origin=django_settings.AUDIT_ORIGIN,
        seq=row.seq,
        prev=bytes.fromhex(row.prev),
        ts=ts,
        actor={"system": actor or "system"},
        action=action,
        obj={"type": "test.thing", "id": object_id},
        data=data,
    )
    assert bytes(row.body) == expected
    assert row.leaf_hash == hashlib.sha256(b"\x00" + expected).hexdigest()
    prepared = _prepare(action, ("test.thing", object_id), data, actor, None)
    origin = json.dumps(django_settings.AUDIT_ORIGIN, ensure_ascii=False)
    assert assemble_body(prepared, origin_json=origin, seq=row.seq, prev=row.prev, ts=ts) == (
        expected
    )


@given(batch=st.lists(_ENTRY, min_size=1, max_size=4))
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_databases_bodies_are_the_verifiers(batch: list[tuple[Any, ...]]) -> None:
    entries = [
        (action, actor, object_id, data if model is None else {**data, "model": model})
        for action, actor, object_id, data, model in batch
    ]
    with transaction.atomic():
        with audit.batch():
            returned = [
                audit.record(action, ("test.thing", object_id), data, actor)
                for action, actor, object_id, data in entries
            ]
        rows = list(AuditEntry.objects.order_by("-seq")[: len(batch)])[::-1]
        head = LogHead.objects.get(pk=1)
        assert (head.size, head.head_hash) == (rows[-1].seq + 1, rows[-1].leaf_hash)
        for previous, row in zip([None, *rows], rows, strict=False):
            if previous is not None:
                assert (row.seq, row.prev) == (previous.seq + 1, previous.leaf_hash)
        for row, entry, instance in zip(rows, entries, returned, strict=True):
            _stored_equals_the_verifiers(row, entry)
            # The instance the caller got is the stored row, field for field.
            for field in ("seq", "prev", "leaf_hash", "ts", "actor", "action", "model_slug"):
                assert getattr(instance, field) == getattr(row, field), field
            assert bytes(instance.body) == bytes(row.body)
        transaction.set_rollback(True)  # the trail does not grow from example to example


def test_the_head_is_created_on_first_use() -> None:
    """A flushed database has no head row: the append creates it, empty. (The TRUNCATE is
    rolled back with the test's transaction.)"""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditentry, audit_loghead")
    with transaction.atomic():
        audit.record("test.first", ("test.thing", "1"), {}, "worker")
    [row] = AuditEntry.objects.all()
    assert (row.seq, row.prev) == (0, "0" * 64)
    assert LogHead.objects.get(pk=1).size == 1
