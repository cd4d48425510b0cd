"""The tamper-evident audit trail: hash-chained entries, the log head, signed checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NoReturn, TypeVar

from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised by the ORM guard; the database triggers refuse the same operations."""


_M = TypeVar("_M", bound=models.Model)


class AppendOnlyQuerySet(models.QuerySet[_M]):
    """Reading is allowed; changing or deleting stored rows is not, through any queryset."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; update() is refused.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; delete() is refused.")

    def bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None
    ) -> NoReturn:
        raise AppendOnlyError(
            f"{self.model.__name__} rows are append-only; bulk_update() is refused."
        )


class AppendOnlyModel(models.Model):
    """Base for facts: a row can be inserted once and never changed or deleted."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(
                f"{type(self).__name__} rows are append-only; save() of an existing row is refused."
            )
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only; delete() is refused.")


class AuditEntry(AppendOnlyModel):
    """One leaf of the log: the exact canonical body bytes and their hash, chained by ``prev``.

    Everything an auditor relies on (time, actor, action, object, data) is inside ``body``. The
    columns after ``body`` are copies kept only for filtering; ``verify_audit`` checks that they
    still equal the body, so editing them is detected like any other change.
    """

    seq = models.BigIntegerField(unique=True)
    prev = models.CharField(max_length=64, unique=True)  # a fork cannot be committed
    leaf_hash = models.CharField(max_length=64, unique=True)
    body = models.BinaryField()
    # Filter copies (see above).
    ts = models.DateTimeField()
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=200)
    model_slug = models.CharField(max_length=100, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=0), name="audit_seq_non_negative"),
        ]
        indexes = [
            # Timeline filters: by action, by object (an object's history), by AI model, by actor.
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_seq"),
            models.Index(fields=["model_slug", "seq"], name="audit_model_seq"),
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    @property
    def body_bytes(self) -> bytes:
        return bytes(self.body)

    @property
    def parsed(self) -> dict[str, Any]:
        """The body as a dict (for display; verification always hashes the stored bytes)."""
        return json.loads(self.body_bytes)  # type: ignore[no-any-return]


class LogHead(models.Model):
    """The one-row sequencer: locked by every writer so sequence order equals commit order."""

    size = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"log head: {self.size} entries, head {self.head_hash[:12]}…"


class AuditCheckpoint(AppendOnlyModel):
    """A signed statement of the log's size and Merkle root (a C2SP signed note)."""

    size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    key_id = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["size"]

    def __str__(self) -> str:
        return f"checkpoint @{self.size} root {self.root_hash[:12]}…"


class VerificationRun(AppendOnlyModel):
    """The outcome of one ``verify_audit`` run, shown on the auditors' status page.

    A run counts for the gate only when ``signature`` is the audit signing key's Ed25519
    signature over (origin, kind, time, outcome, size, head hash, frontier) and its time is not
    in the future (``audit.runs``); the worker holds that key, web processes do not. Rows are
    append-only (triggers), so a recorded outcome cannot be rewritten.
    """

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        QUICK = "quick", "Quick"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FULL)
    started_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    entries = models.BigIntegerField(default=0)
    checkpoints = models.IntegerField(default=0)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)
    # The chain head the run verified (hex leaf hash of entry ``entries - 1``).
    head_hash = models.CharField(max_length=64, blank=True)
    # The Merkle frontier of the ``entries`` leaves the run verified (hex, largest subtree
    # first, one node per set bit of ``entries``): where the next quick check resumes the
    # tree. Signed with the rest; empty on runs that failed or predate it (and, by the
    # database default, on rows inserted by SQL that does not name it).
    frontier = models.TextField(blank=True, default="", db_default="")
    # Base64 Ed25519 signature (audit.runs.run_message); empty: recorded by a process without
    # the signing key, informational only.
    signature = models.CharField(max_length=100, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The status page reads the latest run.
            models.Index(fields=["-started_at"], name="audit_verify_latest"),
        ]

    def __str__(self) -> str:
        return f"verification {'ok' if self.ok else 'FAILED'} at {self.started_at}"


class CheckpointPublication(AppendOnlyModel):
    """How far the external checkpoint log (AUDIT_CHECKPOINT_LOG) had got after a publication:
    its newest checkpoint size, its length in bytes and the SHA-256 of those bytes.

    Verification refuses a log that is missing, shorter, or whose recorded prefix changed (a
    deleted file, a rolled-back copy, an edited line), even when the database's checkpoints
    agree with it.
    """

    size = models.BigIntegerField()
    log_bytes = models.BigIntegerField()
    log_sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=500)
    published_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-log_bytes"]

    def __str__(self) -> str:
        return f"checkpoint log at {self.size} ({self.log_bytes} bytes)"


class WitnessCosignature(AppendOnlyModel):
    """A witness's cosignature of one of this log's checkpoints (C2SP cosignature/v1).

    Stored only after it verified with the witness's key (AUDIT_WITNESS_COSIGNER_KEYS); the
    public view shows those of the latest checkpoint beside the log head. It names the
    checkpoint by its size and root, not by a row: it stands on its own signature.
    """

    size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    witness = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8)
    timestamp = models.BigIntegerField()  # Unix seconds, as the witness signed it
    signature = models.TextField()  # the signature line, as the witness returned it
    received_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["size", "witness"]
        constraints = [
            # Also serves the public view's query: the cosignatures of one checkpoint.
            models.UniqueConstraint(fields=["size", "witness"], name="one_cosignature_per_witness"),
        ]

    def __str__(self) -> str:
        return f"{self.witness} cosigned @{self.size}"


class WitnessedCheckpoint(AppendOnlyModel):
    """A checkpoint of *another* portal's log that this portal witnessed (AUDIT_WITNESS_KEYS).

    Stored once per (origin, size); a second note for the same size with another root is a
    split view and is refused, so the other log's operator cannot show auditors two histories.
    """

    origin = models.CharField(max_length=200)
    size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["origin", "size"], name="witnessed_once_per_size"),
        ]
        indexes = [
            # The latest witnessed checkpoint of an origin.
            models.Index(fields=["origin", "-size"], name="audit_witnessed_latest"),
        ]

    def __str__(self) -> str:
        return f"witnessed {self.origin} @{self.size}"
