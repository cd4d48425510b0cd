"""Signed checkpoints: the log's size and Merkle root, signed with the log's Ed25519 key.

Only the signer (a Celery worker) reads the private key file; web processes read just the public
key. ``make_checkpoint`` is safe to run concurrently and repeatedly: it signs only when the log
has grown past the latest checkpoint and never signs a size smaller than it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import urllib.request
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from audit.models import AuditCheckpoint, AuditEntry, LogHead
from audit.verify_bundle import (
    GENESIS_PREV,
    BundleError,
    NoteError,
    key_id,
    load_private_key,
    merkle_root,
    parse_and_verify_note,
    public_key_from_pem,
    read_checkpoint_log,
    sign_checkpoint,
    verifier_key,
)
from audit.witness import MAX_ANSWER_BYTES, collect_cosignatures
from core import outbox

logger = logging.getLogger(__name__)

# The Celery task that signs (audit.tasks.sign_checkpoint).
SIGN_TASK = "audit.sign_checkpoint"
# Any constant works; it only has to be the same in every signer process.
_SIGNER_LOCK_ID = 0x525350_4155_4454  # "RSP" "AU" "DT"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be signed: no key, or the stored log contradicts an earlier one."""


def signing_key() -> Ed25519PrivateKey:
    """The private key from AUDIT_SIGNING_KEY_FILE, or a CheckpointError that says what to do."""
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    if not path.exists():
        raise CheckpointError(
            f"The audit signing key {path} does not exist. Only the checkpoint signer needs it: "
            "generate one with `manage.py audit_keys` (development) or mount the key file and "
            "set AUDIT_SIGNING_KEY_FILE (production)."
        )
    try:
        return load_private_key(path)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"Cannot load the audit signing key {path}: {exc}") from None


def public_key_pem() -> bytes | None:
    """The published public key (PEM) from AUDIT_PUBLIC_KEY_FILE, or None if there is none."""
    path = Path(settings.AUDIT_PUBLIC_KEY_FILE)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def public_key() -> Ed25519PublicKey | None:
    pem = public_key_pem()
    return public_key_from_pem(pem) if pem is not None else None


def key_description() -> dict[str, str] | None:
    """What a pipeline or auditor pins: origin, key ID, note verifier key and PEM."""
    pem = public_key_pem()
    if pem is None:
        return None
    key = public_key_from_pem(pem)
    origin = settings.AUDIT_ORIGIN
    return {
        "origin": origin,
        "key_id": key_id(origin, key).hex(),
        "verifier_key": verifier_key(origin, key),
        "public_key_pem": pem.decode("ascii"),
    }


@contextmanager
def _signer_lock() -> Iterator[None]:
    """One signer at a time decides and stores a checkpoint.

    PostgreSQL: a transaction-level advisory lock. SQLite: the IMMEDIATE transaction already
    holds the database's write lock.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SIGNER_LOCK_ID])
        yield


def _leaf_hashes(size: int) -> list[bytes]:
    """Leaf hashes of entries 0..size-1, checking that seq and the prev links are contiguous.

    Streams the rows; only the 32-byte hashes stay in memory. Bodies are not re-hashed here
    (``verify_audit`` does that); this guards against signing a log with holes or a fork.
    """
    leaves: list[bytes] = []
    prev = GENESIS_PREV.hex()
    rows = cast(
        Generator[tuple[int, str, str], None, None],
        AuditEntry.objects.filter(seq__lt=size)
        .order_by("seq")
        .values_list("seq", "prev", "leaf_hash")
        .iterator(chunk_size=5000),
    )
    with closing(rows):  # release the server-side cursor even when refusing half-way
        for expected, (seq, entry_prev, digest) in enumerate(rows):
            if seq != expected or entry_prev != prev:
                raise CheckpointError(
                    f"Refusing to sign: the stored log is not contiguous at entry {expected}. "
                    "Run `manage.py verify_audit`."
                )
            leaves.append(bytes.fromhex(digest))
            prev = digest
    if len(leaves) != size:
        raise CheckpointError(
            f"Refusing to sign: the log head says {size} entries but {len(leaves)} are stored."
        )
    return leaves


def make_checkpoint() -> AuditCheckpoint | None:
    """Sign and store a checkpoint of the committed log; None if the log did not grow.

    The root is the RFC 6962 tree head over every leaf hash in seq order. Before signing, the
    new tree must reproduce the latest checkpoint's root over its prefix, so the signer never
    signs a history that contradicts what it signed before. Raises CheckpointError when the
    private key is missing or the log is inconsistent.
    """
    private = signing_key()
    origin = settings.AUDIT_ORIGIN
    # The head is committed together with the entries it counts, so every seq below it is
    # committed and stays readable while we hash (no lock held on the log meanwhile).
    size = LogHead.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    latest = AuditCheckpoint.objects.order_by("-size").first()
    if size == 0 or (latest is not None and latest.size >= size):
        publish_checkpoints()
        return None
    leaves = _leaf_hashes(size)
    if latest is not None and merkle_root(leaves[: latest.size]).hex() != latest.root_hash:
        raise CheckpointError(
            f"Refusing to sign: entries 0..{latest.size - 1} no longer match the signed "
            f"checkpoint of size {latest.size}. Run `manage.py verify_audit`."
        )
    external = latest_external_checkpoint(private.public_key())
    if external is not None:
        external_size, external_root = external
        if external_size > size or merkle_root(leaves[:external_size]) != external_root:
            # The database lost or rewrote entries that a published checkpoint vouches for;
            # signing now would put a second, contradicting history into the world.
            raise CheckpointError(
                f"Refusing to sign: the log ({size} entries) does not extend the checkpoint of "
                f"size {external_size} in the external checkpoint log. Run `manage.py "
                "verify_audit`."
            )
    root = merkle_root(leaves)
    note = sign_checkpoint(private, origin, size, root)
    with _signer_lock():
        # Re-read under the lock: another signer may have stored a checkpoint meanwhile.
        newest = AuditCheckpoint.objects.order_by("-size").values_list("size", flat=True).first()
        if newest is not None and newest >= size:
            return None
        try:
            with transaction.atomic():
                checkpoint = AuditCheckpoint.objects.create(
                    size=size,
                    root_hash=root.hex(),
                    note=note,
                    key_id=key_id(origin, private.public_key()).hex(),
                )
        except IntegrityError:  # same size stored by a signer without the lock (defensive)
            return None
    logger.info("audit checkpoint signed: size %s root %s", size, root.hex())
    publish_checkpoints()
    return checkpoint


# --- Publication: checkpoints leave the database ----------------------------------------------


def latest_external_checkpoint(key: Ed25519PublicKey | None = None) -> tuple[int, bytes] | None:
    """``(size, root)`` of the newest note in the external checkpoint log, verified with the
    log's key; None when no log is configured or it is empty. A note that does not verify
    raises CheckpointError (someone wrote into the log)."""
    notes = external_notes()
    if not notes:
        return None
    key = key or public_key()
    if key is None:
        raise CheckpointError("The external checkpoint log cannot be checked without the key.")
    try:
        return parse_and_verify_note(notes[-1], key, settings.AUDIT_ORIGIN)
    except NoteError as exc:
        raise CheckpointError(f"The external checkpoint log's latest note: {exc}") from None


def external_notes() -> list[str]:
    """Every note in AUDIT_CHECKPOINT_LOG, oldest first ([] when unset or not yet written)."""
    path = settings.AUDIT_CHECKPOINT_LOG
    if not path or not Path(path).exists():
        return []
    try:
        return read_checkpoint_log(path)
    except BundleError as exc:
        raise CheckpointError(f"Cannot read the external checkpoint log {path}: {exc}") from None


def publish_checkpoints() -> int:
    """Append stored checkpoints newer than the external log's latest to it, and POST each to
    every witness URL. Returns how many were published; safe to run repeatedly.

    Failing to reach a witness is logged, not raised: the file log and the next run cover it.
    """
    path = settings.AUDIT_CHECKPOINT_LOG
    if not path:
        return 0
    path = Path(path)
    from audit.preconditions import check_checkpoint_log, record_publication
    from audit.verify_bundle import VerificationError

    try:
        check_checkpoint_log()
    except VerificationError as exc:
        # Never rebuild a log that vanished or was rolled back: that would hide it.
        raise CheckpointError(f"Refusing to publish: {exc.message}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    published: list[AuditCheckpoint] = []
    with path.open("a+", encoding="utf-8", newline="\n") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one appender at a time, across processes
        handle.seek(0)
        last = 0
        for line in handle.read().splitlines():
            if line.strip():
                last = max(last, int(json.loads(line)["size"]))
        for checkpoint in AuditCheckpoint.objects.filter(size__gt=last).order_by("size"):
            handle.write(
                json.dumps(
                    {"size": checkpoint.size, "note": checkpoint.note},
                    sort_keys=True,
                    separators=(",", ":"),
                )
                + "\n"
            )
            published.append(checkpoint)
            last = checkpoint.size
        handle.flush()
        if last:
            record_publication(path, last)
    for checkpoint in published:
        _post_to_witnesses(checkpoint)
    return len(published)


def _post_to_witnesses(checkpoint: AuditCheckpoint) -> None:
    """POST the checkpoint to each witness and keep the cosignatures they answer with."""
    for url in settings.AUDIT_WITNESS_URLS:
        request = urllib.request.Request(  # noqa: S310 (operator-configured https URLs)
            url,
            data=checkpoint.note.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "text/plain; charset=utf-8",
                **(
                    {"Authorization": f"Bearer {settings.AUDIT_WITNESS_TOKEN}"}
                    if settings.AUDIT_WITNESS_TOKEN
                    else {}
                ),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                body = answer.read(MAX_ANSWER_BYTES)
        except OSError as exc:
            logger.error("could not publish the audit checkpoint to witness %s: %s", url, exc)
            continue
        collect_cosignatures(checkpoint, body, url)


def request_checkpoint() -> None:
    """Ask the signer for a checkpoint once the caller's transaction commits.

    Governance calls this after every sign-off. The request is an outbox message written in
    the caller's transaction (:mod:`core.outbox`): if the broker is unreachable the sign-off
    still stands and the relay sends the request when the broker is back.
    """

    outbox.enqueue(SIGN_TASK, {})
