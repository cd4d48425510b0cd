"""Helpers for the audit tests: a throwaway signing key, appends, and the attacker's tools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

import audit
from audit.models import VerificationRun
from audit.verify_bundle import generate_private_key_pem, load_private_key, public_key_pem
from tests.conftest import guards_enforced

APPEND_ONLY_TABLES = (
    "audit_auditentry",
    "audit_auditcheckpoint",
    "audit_loghead",
    "audit_verificationrun",
    "audit_checkpointpublication",
)
SQLITE_TRIGGERS = (
    "audit_auditentry_no_update",
    "audit_auditentry_no_delete",
    "audit_auditcheckpoint_no_update",
    "audit_auditcheckpoint_no_delete",
    "audit_loghead_no_delete",
    "audit_loghead_advance",
    "audit_verificationrun_no_update",
    "audit_verificationrun_no_delete",
    "audit_checkpointpublication_no_update",
    "audit_checkpointpublication_no_delete",
)


@pytest.fixture
def audit_keys(settings: Any, tmp_path: Path) -> Path:
    """A fresh Ed25519 key pair for this test; returns the private key path."""
    keys = tmp_path / "keys"
    keys.mkdir()
    private = keys / "signing.pem"
    private.write_bytes(generate_private_key_pem())
    public = keys / "public.pem"
    public.write_bytes(public_key_pem(load_private_key(private)))
    settings.AUDIT_SIGNING_KEY_FILE = private
    settings.AUDIT_PUBLIC_KEY_FILE = public
    # The checkpoint log outside the database, fresh for this test (and its key).
    settings.AUDIT_CHECKPOINT_LOG = tmp_path / "witness" / "checkpoints.jsonl"
    return private


def verify_trail() -> VerificationRun:
    """Verify the audit trail exactly as the beat does every minute (the ``audit.verify_quick``
    task, run in this process) and fail the test unless it passed.

    The settings keep production's AUDIT_VERIFY_MAX_AGE_SECONDS: without a passing verification
    within that bound, every gate is paused with ``audit_unverified`` (and a decision cannot be
    requested). Call this after writing what the test needs, or request the ``verified_trail``
    fixture (tests/conftest.py), which calls it when the test starts.
    """
    from audit.tasks import verify_quick
    from audit.verification import latest_run

    passed = verify_quick()
    run = latest_run()
    assert passed, f"the audit trail failed verification: {run and run.message}"
    assert run is not None and run.ok, "the run is not signed: the test process has no audit key"
    return run


def append(n: int, start: int = 0, actor: Any = None) -> None:
    """``n`` entries, each in its own transaction; every other one names an AI model."""
    for i in range(start, start + n):
        data: dict[str, Any] = {"i": i}
        if i % 2 == 0:
            data["model"] = "frontier-1"
        with transaction.atomic():
            audit.record("test.event", ("test.thing", i), data, actor=actor)


@contextmanager
def attacker() -> Iterator[Any]:
    """A cursor for someone with owner rights who switches the append-only guards off first.

    The guards are exactly as in production (``guards_enforced``), so the tampering only works
    because the triggers are disabled (PostgreSQL) or dropped (SQLite). Use it only in tests
    that run inside a transaction (plain ``django_db``): the DDL rolls back with the test.
    """
    assert connection.in_atomic_block, "tamper only inside the test's transaction"
    with guards_enforced(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for trigger in SQLITE_TRIGGERS:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{trigger}"')
        yield cursor


def restore_guards(cursor: Any) -> None:
    """Switch the guards :func:`attacker` disabled back on (PostgreSQL), as an attacker who
    covers their tracks would; SQLite triggers dropped by it stay dropped."""
    if connection.vendor == "postgresql":
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


class WitnessAnswer:
    """What ``urllib.request.urlopen`` returns for a witness's answer (a context manager)."""

    def __init__(self, body: bytes = b"{}") -> None:
        self.body = body

    def __enter__(self) -> WitnessAnswer:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def read(self, limit: int = -1) -> bytes:
        return self.body
