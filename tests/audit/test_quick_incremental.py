"""The minute's quick verification resumes from the last signed passing run (ADR 0042).

It re-hashes only the entries after its anchor (the same work for a trail of 10 entries as
for one of 2,000), checks that the anchor entry still has the hash the run signed, resumes the
Merkle tree from the run's signed frontier to check a new checkpoint, and trusts no anchor it
cannot verify. Tampering after the anchor fails the quick check; tampering before it is left
to the hourly full verification, which fails.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import audit
from audit.checkpoints import make_checkpoint, signing_key
from audit.models import AuditEntry, LogHead, VerificationRun
from audit.runs import run_message, sign_run, signature_valid
from audit.verification import run_verification, verify_log, verify_quick
from audit.verify_bundle import MerkleAccumulator, leaf_hash, merkle_root
from tests.audit_support import (  # noqa: F401  (fixture)
    append,
    attacker,
    audit_keys,
    restore_guards,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("audit_keys")]


def _anchor(quick: bool = True) -> VerificationRun:
    outcome, run = run_verification("worker (quick)" if quick else "worker", quick=quick)
    assert outcome.ok, outcome.message
    assert run.signature and signature_valid(run) and run.frontier
    return run


def _grow(n: int) -> None:
    with transaction.atomic(), audit.batch():
        for i in range(n):
            audit.record("test.event", ("test.thing", i), {"i": i})


def _edit_body(cursor: Any, seq: int) -> None:
    """Rewrite one entry's stored body (its stored hash and links left as they were)."""
    cursor.execute(
        "UPDATE audit_auditentry SET body = %s WHERE seq = %s", [b'{"forged":true}', seq]
    )


def test_the_quick_check_rehashes_only_the_entries_since_its_anchor():
    """The same 5 entries re-hashed, and the same statements, over 15 entries and 2,020."""
    statements = []
    for grown, total in ((10, 15), (2_000, 2_020)):
        _grow(grown)
        _anchor()
        append(5, start=total)
        with CaptureQueriesContext(connection) as queries:
            outcome = verify_quick()
        assert outcome.ok, outcome.message
        assert (outcome.entries, outcome.rehashed) == (total, 5)
        statements.append(len(queries))
    assert statements[0] == statements[1]


def test_without_a_signed_anchor_the_quick_check_chains_everything():
    append(12)
    outcome = verify_quick()
    assert outcome.ok and outcome.rehashed == 12
    # A run recorded by a process without the key (unsigned) is no anchor.
    run = VerificationRun(ok=True, entries=12, head_hash=outcome.head_hash, kind="quick")
    run.frontier = outcome.frontier
    run.save()
    assert verify_quick().rehashed == 12


def test_the_frontier_resumes_the_tree_to_check_a_new_checkpoint():
    append(7)
    make_checkpoint()
    run = _anchor()
    leaves = [
        bytes.fromhex(h)
        for h in AuditEntry.objects.order_by("seq").values_list("leaf_hash", flat=True)
    ]
    nodes = bytes.fromhex(run.frontier)
    resumed = MerkleAccumulator.resume(7, [nodes[i : i + 32] for i in range(0, len(nodes), 32)])
    assert resumed.root() == merkle_root(leaves)

    append(6, start=7)
    make_checkpoint()  # size 13: checked against the tree resumed at 7
    outcome = verify_quick()
    assert outcome.ok and outcome.rehashed == 6, outcome.message


def test_an_entry_rewritten_and_rechained_after_the_anchor_fails_the_new_checkpoint():
    """The owner rewrites the newest entry, gives it a matching hash and moves the log head:
    the chain holds, but the checkpoint signed before does not match the resumed tree."""
    append(6)
    _anchor()
    append(3, start=6)
    make_checkpoint()
    last = AuditEntry.objects.get(seq=8)
    body = bytes(last.body).replace(b'"i":8', b'"i":80')
    digest = leaf_hash(body).hex()
    with attacker() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET body = %s, leaf_hash = %s WHERE seq = 8", [body, digest]
        )
        cursor.execute("UPDATE audit_loghead SET head_hash = %s WHERE id = 1", [digest])
        restore_guards(cursor)
    outcome = verify_quick()
    assert not outcome.ok
    assert "checkpoint #0 (size 9): root does not match the entries" in outcome.message


@pytest.mark.parametrize(
    ("edited", "reason"),
    [
        (12, "leaf hash does not match"),  # after the anchor (entries 0..9)
        (9, "changed since the last signed verification"),  # the anchor entry itself
    ],
)
def test_tampering_from_the_anchor_entry_on_is_caught_by_the_quick_check(edited: int, reason: str):
    append(10)
    _anchor()
    append(5, start=10)
    with attacker() as cursor:
        _edit_body(cursor, edited)
        restore_guards(cursor)
    outcome = verify_quick()
    assert not outcome.ok and outcome.first_bad_seq == edited
    assert reason in outcome.message


def test_tampering_below_the_anchor_is_left_to_the_full_verification():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's dropped triggers stay dropped, which the quick check reports")
    append(10)
    _anchor()
    with attacker() as cursor:
        _edit_body(cursor, 3)
        restore_guards(cursor)
    assert verify_quick().ok  # the minute's check starts after entry 9
    full = verify_log()
    assert not full.ok and full.first_bad_seq == 3
    # The failed full run is decisive, so the next quick check has no anchor and fails too.
    run_verification("worker")
    quick = verify_quick()
    assert not quick.ok and quick.first_bad_seq == 3


def test_a_forged_anchor_is_not_trusted():
    """An owner inserts a passing run that claims the tampered trail as verified: unsigned, it
    is no anchor; with a signature over other fields, it is a forgery."""
    append(10)
    _anchor()
    append(5, start=10)
    with attacker() as cursor:
        _edit_body(cursor, 12)
        head = LogHead.objects.get(pk=1).head_hash
        real = VerificationRun.objects.order_by("-pk").first()
        assert real is not None
        cursor.execute(
            "INSERT INTO audit_verificationrun (kind, started_at, ok, entries, checkpoints, "
            "message, triggered_by, head_hash, frontier, signature) "
            "VALUES ('quick', %s, true, 15, 0, 'OK', 'worker (quick)', %s, %s, '')",
            [timezone.now(), head, real.frontier],
        )
        restore_guards(cursor)
    outcome = verify_quick()
    assert not outcome.ok and outcome.first_bad_seq == 12


def test_the_signature_covers_the_frontier():
    run = VerificationRun(
        ok=True,
        entries=3,
        head_hash="ab" * 32,
        kind="quick",
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        frontier="cd" * 64,
    )
    sign_run(run, signing_key())
    assert signature_valid(run)
    for frontier in ("", "ce" * 64):
        moved = copy.copy(run)
        moved.frontier = frontier
        assert not signature_valid(moved)
    # A run without a frontier signs the message it always did.
    run.frontier = ""
    assert b"frontier" not in run_message(run)
