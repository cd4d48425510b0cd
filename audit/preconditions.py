"""What verification relies on, checked by verification itself.

The chain proves the entries unchanged; it cannot see that the protections around it were
switched off. So every verification (quick and full) also checks:

* the append-only guards: every trigger on the fact tables exists and is enabled (PostgreSQL
  ``pg_trigger.tgenabled``; SQLite: the trigger exists), and the PostgreSQL trigger function
  still refuses (it was not replaced by one that lets changes through);
* the external checkpoint log (AUDIT_CHECKPOINT_LOG) has neither vanished, shrunk, been rolled
  back to an older copy, nor been edited: the database records how far it got
  (``CheckpointPublication``) each time the signer appends to it;
* entries do not stay uncovered by a signed checkpoint for longer than
  AUDIT_CHECKPOINT_MAX_AGE_SECONDS (the signer or its periodic task stopped);
* the periodic tasks that sign and verify (``audit-checkpoint``, ``audit-verify-quick``,
  ``audit-verify``) are not disabled or pointed at another task in the beat admin.

Each fault is a VerificationError whose message says what to do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.dbguard import PG_FUNCTION
from audit.models import AppendOnlyModel, AuditCheckpoint, AuditEntry, CheckpointPublication
from audit.verify_bundle import VerificationError

#: Periodic tasks verification depends on (names as in CELERY_BEAT_SCHEDULE).
CRITICAL_TASKS = ("audit-checkpoint", "audit-verify-quick", "audit-verify")
#: Tables guarded beside the AppendOnlyModel ones (the log head refuses DELETE and TRUNCATE
#: and only advances, by its own trigger).
_EXTRA_GUARDED = {"audit_loghead": ("audit_loghead_advance",)}
#: Other definitions of ``rsp_append_only`` accepted, and only in a database named ``test_*``:
#: the test suite registers its flush escape here when it installs it (tests/dbguard_escape.py).
TEST_DATABASE_FUNCTIONS: set[str] = set()


def check_preconditions(size: int) -> None:
    """Raise VerificationError for the first precondition that does not hold (``size``: the
    verified number of entries)."""
    check_guards()
    check_checkpoint_log()
    check_checkpoint_age(size)
    check_periodic_tasks()


# --- The append-only guards -----------------------------------------------------------------


def guarded_tables() -> dict[str, tuple[str, ...]]:
    """Table → the triggers that must guard it, for the connection's database."""
    tables = sorted(
        m._meta.db_table
        for m in apps.get_models()
        if issubclass(m, AppendOnlyModel) and not m._meta.proxy and m._meta.managed
    )
    expected: dict[str, tuple[str, ...]] = {}
    postgres = connection.vendor == "postgresql"
    for table in [*tables, *_EXTRA_GUARDED]:
        names: tuple[str, ...]
        if postgres:
            names = (f"{table}_append_only", f"{table}_no_truncate")
        elif table in _EXTRA_GUARDED:
            names = (f"{table}_no_delete",)
        else:
            names = (f"{table}_no_delete", f"{table}_no_update")
        expected[table] = names + _EXTRA_GUARDED.get(table, ())
    return expected


def _normalised(body: str) -> str:
    return " ".join(body.split())


def _function_body(definition: str) -> str:
    return _normalised(definition.split("$$")[1])


def check_guards() -> None:
    expected = guarded_tables()
    wanted = {name: table for table, names in expected.items() for name in names}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.tgname, t.tgenabled, c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace",
            )
            rows = cursor.fetchall()
            cursor.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'rsp_append_only' "
                "AND pronamespace = current_schema()::regnamespace"
            )
            functions = [row[0] for row in cursor.fetchall()]
        present = {name for name, _, _ in rows}
        for name, enabled, table in rows:
            if enabled not in ("O", "A"):
                raise VerificationError(
                    None,
                    f"the append-only trigger {name} on {table} is disabled; re-enable it "
                    f"(ALTER TABLE {table} ENABLE TRIGGER {name}) and find out who disabled it",
                )
        allowed = {_function_body(PG_FUNCTION)}
        if str(connection.settings_dict["NAME"]).startswith("test_"):
            allowed |= {_function_body(f) for f in TEST_DATABASE_FUNCTIONS}
        if len(functions) != 1 or _normalised(functions[0]) not in allowed:
            raise VerificationError(
                None,
                "the append-only trigger function rsp_append_only was replaced; run "
                "`manage.py migrate audit` after restoring it and find out who changed it",
            )
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            present = {row[0] for row in cursor.fetchall()}
    for name, table in sorted(wanted.items()):
        if name not in present:
            raise VerificationError(
                None,
                f"the append-only trigger {name} on {table} is missing; restore it (the "
                "migration that installs it) and find out who dropped it",
            )


# --- The external checkpoint log ------------------------------------------------------------


def log_digest(path: Path, length: int) -> str | None:
    """SHA-256 of the first ``length`` bytes of ``path`` (None if it is shorter or unreadable)."""
    digest = hashlib.sha256()
    remaining = length
    try:
        with path.open("rb") as handle:
            while remaining > 0:
                chunk = handle.read(min(remaining, 1 << 20))
                if not chunk:
                    return None
                digest.update(chunk)
                remaining -= len(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def record_publication(path: Path, size: int) -> CheckpointPublication | None:
    """Record how far the external log has got (called by the signer after appending)."""
    try:
        length = path.stat().st_size
    except OSError:
        return None
    digest = log_digest(path, length)
    if digest is None:
        return None
    last = CheckpointPublication.objects.order_by("-log_bytes").first()
    if last is not None and last.log_bytes == length and last.log_sha256 == digest:
        return last
    return CheckpointPublication.objects.create(
        size=size, log_bytes=length, log_sha256=digest, path=str(path)[:500]
    )


def check_checkpoint_log() -> None:
    last = CheckpointPublication.objects.order_by("-log_bytes", "-pk").first()
    if last is None:
        return
    configured = settings.AUDIT_CHECKPOINT_LOG
    path = Path(configured) if configured else None
    if path is None or str(path) != last.path:
        raise VerificationError(
            None,
            f"the external checkpoint log was {last.path} (it held checkpoints up to size "
            f"{last.size}) but AUDIT_CHECKPOINT_LOG is now {configured or 'unset'}; restore "
            "the setting or the file",
        )
    if not path.exists():
        raise VerificationError(
            None,
            f"the external checkpoint log {path} has vanished (it held checkpoints up to size "
            f"{last.size}, {last.log_bytes} bytes); restore it from its backup or witness",
        )
    length = path.stat().st_size
    if length < last.log_bytes:
        raise VerificationError(
            None,
            f"the external checkpoint log {path} has shrunk to {length} bytes (it had reached "
            f"{last.log_bytes} bytes, checkpoints up to size {last.size}): it was cut or rolled "
            "back to an older copy; restore it from its backup or witness",
        )
    if log_digest(path, last.log_bytes) != last.log_sha256:
        raise VerificationError(
            None,
            f"the external checkpoint log {path} was edited: its first {last.log_bytes} bytes "
            "are not what the signer wrote; restore it from its backup or witness",
        )


# --- Checkpoints keep up --------------------------------------------------------------------


def check_checkpoint_age(size: int, now: dt.datetime | None = None) -> None:
    bound = settings.AUDIT_CHECKPOINT_MAX_AGE_SECONDS
    if not bound or size == 0:
        return
    covered = AuditCheckpoint.objects.order_by("-size").values_list("size", flat=True).first()
    covered = covered or 0
    if covered >= size:
        return
    oldest = AuditEntry.objects.filter(seq=covered).values_list("ts", flat=True).first()
    if oldest is None:
        return
    now = now or timezone.now()
    if now - oldest > dt.timedelta(seconds=bound):
        raise VerificationError(
            covered,
            f"entries from #{covered} on ({size - covered} entries, the oldest recorded "
            f"{oldest.isoformat()}) are not covered by a signed checkpoint after {bound} s: "
            "check that the audit-checkpoint periodic task is enabled and that the worker holds "
            "the signing key",
        )


# --- The periodic tasks ---------------------------------------------------------------------


def check_periodic_tasks() -> None:
    if not apps.is_installed("django_celery_beat"):
        return
    from django_celery_beat.models import PeriodicTask

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {})
    for name, enabled, task in PeriodicTask.objects.filter(name__in=CRITICAL_TASKS).values_list(
        "name", "enabled", "task"
    ):
        if not enabled:
            raise VerificationError(
                None,
                f"the periodic task {name} is disabled in the beat admin; enable it again "
                "(Admin → Periodic tasks) and find out who disabled it (the trail records it)",
            )
        wanted = schedule.get(name, {}).get("task")
        if wanted and task != wanted:
            raise VerificationError(
                None,
                f"the periodic task {name} runs {task!r} instead of {wanted!r}; restore it in "
                "the beat admin",
            )
