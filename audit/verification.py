"""Checking the stored log and exporting it as an offline-verifiable bundle.

Verification reuses the standalone verifier (``audit.verify_bundle``) for the chain and the
signed checkpoints, then adds what only the database has: the filter-copy columns must equal the
hashed body, checkpoint columns must equal their notes, and the log head must match the last entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
import zipfile
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.checkpoints import (
    CheckpointError,
    external_notes,
    public_key,
    public_key_pem,
    signing_key,
)
from audit.models import AuditCheckpoint, AuditEntry, LogHead, VerificationRun
from audit.preconditions import check_preconditions
from audit.reconcile import reconcile
from audit.runs import check_runs, decisive, recent_runs, sign_run, trusted_run
from audit.services import filter_columns
from audit.verify_bundle import (
    GENESIS_PREV,
    MerkleAccumulator,
    NoteError,
    VerificationError,
    leaf_hash,
    parse_and_verify_note,
    rfc3339_utc,
    verify_checkpoints,
    verify_entries,
    verify_external_checkpoints,
    write_bundle,
)
from core.events import Event, emit

_ENTRY_COLUMNS = (
    "seq",
    "body",
    "leaf_hash",
    "prev",
    "ts",
    "actor",
    "action",
    "object_type",
    "object_id",
    "model_slug",
)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The verdict of one verification (also the API's response)."""

    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    message: str
    checked_at: dt.datetime
    head_hash: str = ""
    #: The Merkle frontier of the verified entries (hex, ``VerificationRun.frontier``), from
    #: which the next quick check resumes the tree; empty after a failure.
    frontier: str = ""
    #: Entries whose hash and link this check recomputed: the quick check's since its anchor
    #: (``_quick_chain``); None for the full verification, which recomputes every one.
    rehashed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@contextmanager
def snapshot() -> Iterator[None]:
    """Read entries, checkpoints and head as of one moment.

    PostgreSQL: a read-only REPEATABLE READ transaction (when not already inside one), so
    appends committed meanwhile are not half-seen. SQLite: the IMMEDIATE transaction holds the
    write lock for the duration.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _hex_bytes(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return b""  # a non-hex stored hash cannot match any body


def _check_columns(row: tuple[Any, ...]) -> None:
    """The filter copies of an entry must equal what its (already verified) body says."""
    seq, body, _, prev, ts, actor, action, object_type, object_id, model_slug = row
    expected = filter_columns(json.loads(bytes(body)))
    stored = {
        "prev": prev,
        "ts": rfc3339_utc(ts),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "model_slug": model_slug,
    }
    for column, value in stored.items():
        if value != expected[column]:
            raise VerificationError(
                seq, f"column {column} is {value!r} but the hashed body says {expected[column]!r}"
            )


def _entries() -> Generator[tuple[int, bytes, bytes], None, None]:
    """Stored entries in seq order for ``verify_entries``.

    Each row's columns are checked after the verifier has accepted its body (when the next row
    is requested), so a broken chain is reported before a column that disagrees with it.
    """
    rows = cast(
        Generator[tuple[Any, ...], None, None],
        AuditEntry.objects.order_by("seq").values_list(*_ENTRY_COLUMNS).iterator(2000),
    )
    # Closed explicitly: a PostgreSQL server-side cursor must go before its transaction does,
    # even when verification stops half-way (a traceback would otherwise keep it open).
    with closing(rows):
        pending = None
        for row in rows:
            if pending is not None:
                _check_columns(pending)
            pending = row
            yield row[0], bytes(row[1]), _hex_bytes(row[2])
        if pending is not None:
            _check_columns(pending)


def _check_head(leaves: list[bytes]) -> None:
    _check_head_at(len(leaves), leaves[-1] if leaves else GENESIS_PREV)


def _check_head_at(count: int, last_leaf: bytes) -> None:
    """The log head row must count ``count`` entries ending at ``last_leaf``."""
    head = LogHead.objects.filter(pk=1).first()
    size = head.size if head else 0
    head_hash = head.head_hash if head else GENESIS_PREV.hex()
    if size != count:
        raise VerificationError(
            min(size, count), f"the log head counts {size} entries but {count} are stored"
        )
    last = last_leaf.hex()
    if head_hash != last:
        raise VerificationError(
            count - 1 if count else None, "the log head hash is not the last entry's hash"
        )


def _check_checkpoints(leaves: list[bytes], *, latest_only: bool = False) -> int:
    """Stored checkpoints against the leaves (only the newest for the quick check: its Merkle
    root covers every older entry, and the hourly full check verifies the rest)."""
    stored = AuditCheckpoint.objects.values_list("size", "root_hash", "note")
    rows = list(stored.order_by("-size")[:1] if latest_only else stored.order_by("size"))
    if not rows:
        return 0
    key = public_key()
    if key is None:
        raise VerificationError(
            None,
            f"{len(rows)} checkpoints are stored but there is no public key at "
            f"{settings.AUDIT_PUBLIC_KEY_FILE} to check them with",
        )
    verified = verify_checkpoints(leaves, [note for _, _, note in rows], key, settings.AUDIT_ORIGIN)
    for index, ((size, root_hash, _), (signed_size, root)) in enumerate(
        zip(rows, verified, strict=True)
    ):
        if size != signed_size or root_hash != root.hex():
            raise VerificationError(
                None, f"checkpoint #{index}: stored size or root differs from its signed note"
            )
    return AuditCheckpoint.objects.count() if latest_only else len(verified)


def _check_external(leaves: list[bytes], *, latest_only: bool = False) -> int:
    """The log must extend every checkpoint published outside the database (AUDIT_CHECKPOINT_LOG):
    a truncated or shrunk log, or one rewritten under a re-signed history, fails here even when
    the database's own checkpoints were removed with it. Returns the size vouched for."""
    try:
        notes = external_notes()
    except CheckpointError as exc:
        raise VerificationError(None, str(exc)) from None
    if not notes:
        return 0
    if latest_only:
        notes = notes[-1:]
    key = public_key()
    if key is None:
        raise VerificationError(None, "the external checkpoint log cannot be checked: no key")
    return verify_external_checkpoints(leaves, notes, key, settings.AUDIT_ORIGIN)


def verify_log() -> Outcome:
    """Check the whole stored log; never raises for a bad log, it reports the first fault."""

    entries = checkpoints = 0
    try:
        with snapshot(), closing(_entries()) as rows:
            leaves = verify_entries(rows, settings.AUDIT_ORIGIN)
            entries = len(leaves)
            checkpoints = _check_checkpoints(leaves)
            _check_external(leaves)
            _check_head(leaves)
            reconcile()
            check_preconditions(len(leaves))
            check_runs()
    except VerificationError as exc:
        return Outcome(False, entries, checkpoints, exc.seq, str(exc), timezone.now(), _head())
    tree = MerkleAccumulator()
    for leaf in leaves:
        tree.append(leaf)
    head = leaves[-1] if leaves else GENESIS_PREV
    return _passed(f"OK: {entries} entries, {checkpoints} checkpoints", checkpoints, tree, head)


def _passed(
    message: str,
    checkpoints: int,
    tree: MerkleAccumulator,
    head: bytes,
    rehashed: int | None = None,
) -> Outcome:
    """A passing outcome over the ``tree.size`` entries verified, ending at leaf ``head``,
    with the frontier the run records for the next quick check."""
    return Outcome(
        True,
        tree.size,
        checkpoints,
        None,
        message,
        timezone.now(),
        head.hex(),
        frontier="".join(node.hex() for node in tree.frontier()),
        rehashed=rehashed,
    )


@dataclasses.dataclass(frozen=True)
class _Tail:
    """The chain as the quick check verified it: ``size`` entries ending at ``head``, the
    Merkle ``tree`` over all of them, the first ``anchor`` taken from the anchor run, and the
    roots at the sizes asked for (those at or above the anchor)."""

    size: int
    head: bytes
    tree: MerkleAccumulator
    anchor: int
    roots: dict[int, bytes]
    rehashed: int


def _anchor(
    recent: list[VerificationRun], now: dt.datetime
) -> tuple[int, bytes, MerkleAccumulator]:
    """Where the quick check resumes: the entry count, head hash and Merkle frontier of the
    decisive run among ``recent`` (``audit.runs``) when it is a validly signed success that
    recorded a frontier; otherwise the genesis, and the whole chain is checked.

    Only a signature by the audit key makes a run decisive, and the signature covers the
    count, the head and the frontier, so a table owner can neither forge an anchor nor move
    one. A failure, an unsigned run, a run from before frontiers, or anything malformed gives
    no anchor (fail closed: the whole chain)."""
    genesis = (0, GENESIS_PREV, MerkleAccumulator())
    run = decisive(recent, now)
    if run is None or not run.ok or not run.signature or run.entries <= 0:
        return genesis
    try:
        head = bytes.fromhex(run.head_hash)
        nodes = bytes.fromhex(run.frontier)
        tree = MerkleAccumulator.resume(
            run.entries, [nodes[i : i + 32] for i in range(0, len(nodes), 32)]
        )
    except ValueError:
        return genesis
    if len(head) != 32:
        return genesis
    return run.entries, head, tree


def _quick_chain(
    recent: list[VerificationRun], now: dt.datetime, sizes: Iterable[int] = ()
) -> _Tail:
    """The chain after the anchor (``_anchor``): the anchor entry must still hash to what the
    anchor run recorded, and every later entry must recompute from its body, link to the one
    before and follow it in seq; the Merkle tree resumes from the anchor's frontier, and its
    root is taken at each of ``sizes`` it passes. The work is the entries since the anchor,
    whatever the trail's length; the hourly full verification covers those before it."""
    anchor, head, tree = _anchor(recent, now)
    wanted = {size for size in sizes if size >= anchor}
    roots = {anchor: tree.root()} if anchor in wanted else {}
    rows = cast(
        Generator[tuple[int, str, str, bytes | memoryview], None, None],
        AuditEntry.objects.filter(seq__gte=max(anchor - 1, 0))
        .order_by("seq")
        .values_list("seq", "prev", "leaf_hash", "body")
        .iterator(2000),
    )
    expected, prev, rehashed = anchor, GENESIS_PREV.hex(), 0
    with closing(rows):
        if anchor:
            first = next(rows, None)
            if first is None or first[0] != anchor - 1:
                raise VerificationError(
                    anchor - 1, "missing: the last signed verification ended at this entry"
                )
            if first[2] != head.hex() or leaf_hash(bytes(first[3])) != head:
                raise VerificationError(
                    anchor - 1,
                    "changed since the last signed verification, which ended at it",
                )
            prev = first[2]
        for seq, entry_prev, digest, body in rows:
            if seq != expected or entry_prev != prev:
                raise VerificationError(expected, "seq or prev link broken")
            computed = leaf_hash(bytes(body))
            if computed.hex() != digest:
                raise VerificationError(seq, "leaf hash does not match the stored body")
            tree.append(computed)
            expected += 1
            rehashed += 1
            prev = digest
            if expected in wanted:
                roots[expected] = tree.root()
    return _Tail(expected, _hex_bytes(prev), tree, anchor, roots, rehashed)


def _claimed_size(note: str) -> int:
    """The size a checkpoint note states, before its signature is checked (after the chain,
    so that a broken chain is reported first)."""
    lines = note.split("\n") if isinstance(note, str) else []
    return int(lines[1]) if len(lines) > 1 and lines[1].isdecimal() else -1


def _check_note(tail: _Tail, note: str, where: str) -> tuple[int, bytes]:
    """A signed checkpoint against the quick check's chain: its signature, a size the log
    reaches, and (at or above the anchor) its Merkle root."""
    key = public_key()
    if key is None:
        raise VerificationError(None, f"{where} cannot be checked: there is no public key")
    try:
        size, root = parse_and_verify_note(note, key, settings.AUDIT_ORIGIN)
    except NoteError as exc:
        raise VerificationError(None, f"{where}: {exc}") from None
    if size > tail.size:
        raise VerificationError(
            tail.size,
            f"missing: {where} is signed for {size} entries but the log has only {tail.size}",
        )
    computed = tail.roots.get(size)
    if computed is not None and computed != root:
        raise VerificationError(
            None,
            f"{where} (size {size}): root does not match the entries; the difference lies in "
            f"entries {tail.anchor}..{size - 1} or in the anchor's frontier",
        )
    return size, root


def verify_quick() -> Outcome:
    """The cheap check run every minute, resuming from the last signed passing run
    (``_quick_chain``): the entries since it, the log head, the newest signed checkpoint and
    the external checkpoint log's newest against the resumed Merkle tree, and the gate-input
    rows against their entries. It does not re-parse bodies or compare filter columns, nor
    re-read the entries before its anchor; the hourly full verification does."""

    entries = checkpoints = 0
    now = timezone.now()
    try:
        with snapshot():
            # Read once: the anchor is the decisive run among them, and check_runs looks for
            # forgeries newer than the newest valid one.
            recent = recent_runs(now)
            latest = (
                AuditCheckpoint.objects.values_list("size", "root_hash", "note")
                .order_by("-size")
                .first()
            )
            try:
                external = external_notes()[-1:]
            except CheckpointError as exc:
                raise VerificationError(None, str(exc)) from None
            notes = [note for note in (latest[2] if latest else None, *external) if note]
            tail = _quick_chain(recent, now, (_claimed_size(note) for note in notes))
            entries = tail.size
            if latest is not None:
                if public_key() is None:
                    raise VerificationError(
                        None,
                        f"checkpoints are stored but there is no public key at "
                        f"{settings.AUDIT_PUBLIC_KEY_FILE} to check them with",
                    )
                size, root = _check_note(tail, latest[2], "checkpoint #0")
                if latest[0] != size or latest[1] != root.hex():
                    raise VerificationError(
                        None, "checkpoint #0: stored size or root differs from its signed note"
                    )
                checkpoints = AuditCheckpoint.objects.count()
            for note in external:
                _check_note(tail, note, "external checkpoint log: checkpoint #0")
            _check_head_at(tail.size, tail.head)
            reconcile()
            check_preconditions(tail.size)
            check_runs(now, recent)
    except VerificationError as exc:
        return Outcome(False, entries, checkpoints, exc.seq, str(exc), timezone.now(), _head())
    message = f"OK: {entries} entries, {checkpoints} checkpoints (quick)"
    return _passed(message, checkpoints, tail.tree, tail.head, tail.rehashed)


def _head(leaves: list[bytes] | None = None) -> str:
    """The verified chain head, or (after a failure) what the log head row claims."""
    if leaves is not None:
        return (leaves[-1] if leaves else GENESIS_PREV).hex()
    try:
        return str(LogHead.objects.filter(pk=1).values_list("head_hash", flat=True).first() or "")
    except Exception:  # a broken table must not stop the failure being recorded
        return ""


#: Emitted with each stored VerificationRun whose outcome differs from the trust before it,
#: the actor being what triggered the run (the gate's handler: a trail that fails
#: verification pauses every model).
OUTCOME_CHANGED: Event[VerificationRun] = Event(
    "audit.outcome_changed", "the audit trail's verification outcome changed"
)


def run_verification(triggered_by: str, *, quick: bool = False) -> tuple[Outcome, VerificationRun]:
    """``verify_log`` (or ``verify_quick``) and store its outcome for the status page.

    The run is signed with the audit signing key when this process holds it (the worker);
    otherwise it is recorded unsigned and never counts for the gate (``audit.runs``). Runs are
    not appended to the trail: a failing run would change the very log under investigation;
    the signature and the append-only guard protect them instead (docs/adr/0023).
    """

    # Trusted before this run: the decisive run passed and, with a bound, recently enough.
    previous = trail_trusted() if VerificationRun.objects.exists() else None
    started = timezone.now()
    outcome = verify_quick() if quick else verify_log()
    run = VerificationRun(
        started_at=started,
        ok=outcome.ok,
        entries=outcome.entries,
        checkpoints=outcome.checkpoints,
        first_bad_seq=outcome.first_bad_seq,
        message=outcome.message,
        triggered_by=triggered_by[:150],
        kind=VerificationRun.Kind.QUICK if quick else VerificationRun.Kind.FULL,
        head_hash=outcome.head_hash,
        frontier=outcome.frontier if outcome.ok else "",
    )
    # No key in this process (a web process): recorded, but it never counts.
    with suppress(CheckpointError):
        sign_run(run, signing_key())
    run.save()
    if previous is None or previous != run.ok:
        emit(OUTCOME_CHANGED, run, triggered_by[:150])
    return outcome, run


def latest_run() -> VerificationRun | None:
    """The run the gate relies on: the newest validly signed run (or an unsigned failure);
    forged, unsigned successful and future-dated runs are ignored (``audit.runs``)."""
    return trusted_run()


def trail_trusted(now: dt.datetime | None = None) -> bool:
    """Whether gates may rely on the trail: the decisive verification passed and, with
    AUDIT_VERIFY_MAX_AGE_SECONDS set, it passed within that bound (a log that was never
    verified is trusted only while it is empty)."""
    return trust_of(latest_run(), now)[0]


def trust_state(now: dt.datetime | None = None) -> tuple[bool, dt.datetime | None]:
    """``trail_trusted`` and ``trust_expires_at`` from one read of the decisive run."""
    return trust_of(latest_run(), now)


def trust_of(
    latest: VerificationRun | None, now: dt.datetime | None = None
) -> tuple[bool, dt.datetime | None]:
    """:func:`trust_state` given the decisive run (its ``ok`` and ``started_at``), read by the
    caller, e.g. with the gate's other inputs."""
    if latest is not None and not latest.ok:
        return False, None
    bound = settings.AUDIT_VERIFY_MAX_AGE_SECONDS
    if not bound:
        return True, None
    if latest is None:
        return not AuditEntry.objects.exists(), None
    expires = latest.started_at + dt.timedelta(seconds=bound)
    return (now or timezone.now()) <= expires, expires


#: What to run when the trail is not trusted (the beat's every-minute check, or by hand).
_WHAT_TO_RUN = (
    "Start the worker and beat, which verify every minute (`make run` starts both), or run "
    "`python manage.py verify_audit` where the signing key is."
)


def distrust_reason(now: dt.datetime | None = None) -> str | None:
    """Why gates may not rely on the trail now, and what to run; None while it is trusted.

    Says which case holds: no verification that counts ever ran, the decisive passing one is
    older than AUDIT_VERIFY_MAX_AGE_SECONDS, or the decisive one failed (when, and its fault).
    """
    latest = latest_run()
    if trust_of(latest, now)[0]:
        return None
    if latest is None:
        if VerificationRun.objects.exists():
            return (
                "No signed audit verification has passed yet (runs by a process without the "
                f"signing key do not count), so the audit trail is not trusted. {_WHAT_TO_RUN}"
            )
        return (
            f"No audit verification has run yet, so the audit trail is not trusted. {_WHAT_TO_RUN}"
        )
    at = rfc3339_utc(latest.started_at)
    if not latest.ok:
        return (
            f"The audit trail failed its last verification at {at}: {latest.message} Every gate "
            "stays paused until an auditor resolves the fault and `python manage.py verify_audit` "
            "passes again."
        )
    bound = settings.AUDIT_VERIFY_MAX_AGE_SECONDS
    return (
        f"The last audit verification passed at {at}, more than {bound} s ago (the bound), so "
        f"the audit trail is no longer trusted. {_WHAT_TO_RUN}"
    )


def trust_expires_at() -> dt.datetime | None:
    """When ``trail_trusted`` turns false by time alone (None: no bound, or already false)."""
    bound = settings.AUDIT_VERIFY_MAX_AGE_SECONDS
    latest = latest_run()
    if not bound or latest is None or not latest.ok:
        return None
    return latest.started_at + dt.timedelta(seconds=bound)


class ExportError(RuntimeError):
    """The bundle cannot be written (no public key, or the target already holds a bundle)."""


def export_bundle(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every stored entry and checkpoint, the public key and the verifier to ``directory``.

    The bundle records what the database holds, unjudged: the verifier inside it judges it.
    Returns the manifest.
    """
    pem = public_key_pem()
    if pem is None:
        raise ExportError(
            f"No public key at {settings.AUDIT_PUBLIC_KEY_FILE}; the bundle would be unverifiable."
        )
    with snapshot():
        entries = (
            (seq, bytes(body), _hex_bytes(digest))
            for seq, body, digest in AuditEntry.objects.order_by("seq")
            .values_list("seq", "body", "leaf_hash")
            .iterator(2000)
        )
        notes = AuditCheckpoint.objects.order_by("size").values_list("note", flat=True)
        try:
            return write_bundle(
                directory, settings.AUDIT_ORIGIN, entries, list(notes), pem, timezone.now()
            )
        except FileExistsError as exc:
            raise ExportError(str(exc)) from None


def export_zip() -> tuple[IO[bytes], str]:
    """The bundle as a zip in a temporary file (deleted on close) and its download name.

    Every member sits under one folder named like the file, so unpacking gives one directory.
    """
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    folder = f"audit-bundle-{stamp}"
    archive = tempfile.TemporaryFile(suffix=".zip")  # noqa: SIM115 (closed by the response)
    with tempfile.TemporaryDirectory(prefix="audit-export-") as tmp:
        export_bundle(tmp)
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).iterdir()):
                zf.write(path, f"{folder}/{path.name}")
    archive.seek(0)
    return archive, f"{folder}.zip"
