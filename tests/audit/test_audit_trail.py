"""The audit trail: one call appends in the caller's transaction; nothing can change it."""

from __future__ import annotations

import itertools

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

import audit
from audit.models import AppendOnlyError, AuditCheckpoint, AuditEntry, LogHead
from audit.services import AuditError
from audit.verify_bundle import verify_entries
from rsp_portal import prepared
from tests.conftest import guards_enforced


def _append(n: int, actor=None) -> None:
    for i in range(n):
        with transaction.atomic():
            audit.record("test.event", ("test.thing", i), {"i": i, "x": 1.5}, actor=actor)


@pytest.mark.django_db
def test_entries_chain_from_genesis_and_verify(safety):
    _append(5, actor=safety)
    entries = list(AuditEntry.objects.order_by("seq"))
    # Entry 0 is the creation of the `safety` user itself.
    assert entries[0].action == "user.create"
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4, 5]
    assert entries[0].prev == "0" * 64
    assert all(b.prev == a.leaf_hash for a, b in itertools.pairwise(entries))
    hashes = verify_entries(
        [(e.seq, e.body_bytes, bytes.fromhex(e.leaf_hash)) for e in entries],
        "rsp-portal.local/audit/v1",
    )
    assert len(hashes) == 6
    body = entries[1].parsed
    assert body["actor"]["username"] == "safety"
    assert body["data"] == {"i": 0, "x": "1.5"}  # floats become decimal strings
    head = LogHead.objects.get(pk=1)
    assert head.size == 6 and head.head_hash == entries[-1].leaf_hash


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused():
    with pytest.raises(AuditError, match=r"inside transaction.atomic"):
        audit.record("test.event", ("test.thing", 1), {})


@pytest.mark.django_db
def test_an_entry_rolls_back_with_its_write():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.event", ("test.thing", 1), {})
        raise RuntimeError("the business write failed")
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db
def test_the_orm_refuses_to_change_entries():
    _append(2)
    entry = AuditEntry.objects.first()
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.all().delete()


RAW_ATTEMPTS = [
    "UPDATE audit_auditentry SET action = 'forged'",
    "DELETE FROM audit_auditentry",
    "UPDATE audit_auditcheckpoint SET note = 'forged'",
    "DELETE FROM audit_auditcheckpoint",
    "UPDATE audit_loghead SET size = 0",
    "DELETE FROM audit_loghead",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql", RAW_ATTEMPTS)
def test_raw_sql_cannot_change_the_trail(sql):
    _append(3)
    with transaction.atomic():
        AuditCheckpoint.objects.create(size=3, root_hash="0" * 64, note="n", key_id="k")
    before = list(AuditEntry.objects.values_list("seq", "leaf_hash", "action"))
    with (
        guards_enforced(),
        pytest.raises(DatabaseError, match=r"append-only|only advance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert list(AuditEntry.objects.values_list("seq", "leaf_hash", "action")) == before
    assert LogHead.objects.get(pk=1).size == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["audit_auditentry", "audit_auditcheckpoint"])
def test_truncate_is_refused_on_postgresql(table):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL (SQLite is covered by the DELETE test)")
    _append(2)
    with (
        guards_enforced(),
        pytest.raises(DatabaseError, match="append-only: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEntry.objects.count() == 2


def _head_update(sql: str, params: list[object]) -> None:
    with guards_enforced(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _leaf(seq: int) -> str:
    return AuditEntry.objects.get(seq=seq).leaf_hash


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "size, which",
    [
        (2, "rewind to an entry"),
        (3, "stand still"),
        (5, "skip past the last entry"),
        (4, "name another entry's hash"),
    ],
)
def test_the_head_moves_only_onto_the_entries_that_continue_it(size, which):
    _append(3)
    head = LogHead.objects.get(pk=1)
    hashes = {"rewind to an entry": _leaf(1), "stand still": head.head_hash}
    named = hashes.get(which, _leaf(1))
    with pytest.raises(DatabaseError, match="only advance"):
        _head_update("UPDATE audit_loghead SET size = %s, head_hash = %s", [size, named])
    assert LogHead.objects.get(pk=1).size == 3


def _loose_entry(seq: int, prev: str) -> str:
    """An entry inserted at ``seq`` without advancing the head (an INSERT is allowed); its
    leaf hash."""
    leaf = f"{seq:064x}"
    base = AuditEntry.objects.get(seq=0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (seq, prev, leaf_hash, body, ts, actor, action, "
            "object_type, object_id, model_slug) SELECT %s, %s, %s, body, ts, actor, action, "
            "object_type, object_id, model_slug FROM audit_auditentry WHERE id = %s",
            [seq, prev, leaf, base.pk],
        )
    return leaf


@pytest.mark.django_db(transaction=True)
def test_the_head_cannot_advance_over_a_missing_entry():
    """Several entries at once: the first continues the head and the last has the new hash,
    but one between them is missing. Only the guard's count sees it."""
    _append(3)
    head = LogHead.objects.get(pk=1)
    _loose_entry(3, head.head_hash)
    last = _loose_entry(5, "f" * 64)  # seq 4 is missing
    with pytest.raises(DatabaseError, match="only advance"):
        _head_update("UPDATE audit_loghead SET size = %s, head_hash = %s", [6, last])
    assert LogHead.objects.get(pk=1).size == 3


@pytest.mark.django_db(transaction=True)
def test_the_head_cannot_advance_by_one_onto_an_entry_that_does_not_continue_it():
    """One entry: it must both continue the head and carry the new hash (the guard skips
    its count here, ADR 0056)."""
    _append(3)
    stray = _loose_entry(3, "e" * 64)
    with pytest.raises(DatabaseError, match="only advance"):
        _head_update("UPDATE audit_loghead SET size = %s, head_hash = %s", [4, stray])
    assert LogHead.objects.get(pk=1).size == 3


@pytest.mark.django_db
def test_a_batch_appends_in_a_constant_number_of_queries():
    """Lock the head, insert the entries, one UPDATE of the head: the same for 2 and 50 (on
    PostgreSQL all of it is one statement, ``audit_append``: ADR 0057)."""
    _append(1)
    counts = []
    for n in (2, 50):  # SQLite splits an INSERT above 999 parameters
        with CaptureQueriesContext(connection) as queries, transaction.atomic(), audit.batch():
            for i in range(n):
                audit.record("test.event", ("test.thing", i), {"i": i})
        sqls = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        if connection.vendor == "postgresql":
            assert len(sqls) == 1 and "audit_append(" in prepared.source(sqls[0]), sqls
        else:
            assert sum(sql.count('UPDATE "audit_loghead"') for sql in sqls) == 1
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    entries = list(AuditEntry.objects.order_by("seq"))
    head = LogHead.objects.get(pk=1)
    assert head.size == 53 and head.head_hash == entries[-1].leaf_hash
    assert all(b.prev == a.leaf_hash for a, b in itertools.pairwise(entries))
