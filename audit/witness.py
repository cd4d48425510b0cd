"""Witnesses, both ways (C2SP signed notes and cosignature/v1).

**This portal as a witness.** Another portal lists this portal's ``/api/v1/audit/witness/`` in
its AUDIT_WITNESS_URLS and POSTs every checkpoint it signs. This portal verifies the note with
the key configured for that origin (AUDIT_WITNESS_KEYS, note verifier keys) and keeps it. An
operator who later shows its auditors a shorter or rewritten log contradicts a checkpoint held
here; one who signs two different roots for the same size is refused on the spot (a split
view). With AUDIT_COSIGNING_KEY_FILE it answers with its cosignature of the checkpoint.

**Our witnesses' cosignatures.** What a witness answers is collected back
(:func:`collect_cosignatures`): a cosignature is kept, append-only and audited, only when it
verifies with that witness's key (AUDIT_WITNESS_COSIGNER_KEYS) over the checkpoint we signed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction

import audit
from audit.models import AuditCheckpoint, WitnessCosignature, WitnessedCheckpoint
from audit.verify_bundle import (
    NoteError,
    cosign_checkpoint,
    cosignature_name,
    cosigner_key_id,
    load_private_key,
    note_text,
    parse_and_verify_note,
    parse_cosigner_key,
    parse_verifier_key,
    verify_cosignature,
)

if TYPE_CHECKING:
    from rsp_portal.types import Actor

logger = logging.getLogger(__name__)
#: The most a witness's answer is read (a few signature lines).
MAX_ANSWER_BYTES = 64 * 1024


class WitnessError(ValueError):
    """The note is refused; ``conflict`` when it contradicts one already witnessed."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def witnessed_keys() -> dict[str, Ed25519PublicKey]:
    """The logs this portal witnesses: their signing keys by origin (AUDIT_WITNESS_KEYS)."""
    return dict(parse_verifier_key(vkey) for vkey in settings.AUDIT_WITNESS_KEYS)


def witness(note: str, actor: Actor = None) -> tuple[WitnessedCheckpoint, bool]:
    """Verify and keep ``note``; returns the stored row and whether it is new."""
    origin = note.split("\n", 1)[0]
    key = witnessed_keys().get(origin)
    if key is None:
        raise WitnessError(f"This portal does not witness the log {origin[:200]!r}.")
    try:
        size, root = parse_and_verify_note(note, key, origin)
    except NoteError as exc:
        raise WitnessError(f"The note does not verify: {exc}.") from None
    existing = WitnessedCheckpoint.objects.filter(origin=origin, size=size).first()
    if existing is not None:
        if existing.root_hash != root.hex():
            raise WitnessError(
                f"Split view: a checkpoint of size {size} with another root was witnessed before.",
                conflict=True,
            )
        return existing, False
    try:
        with transaction.atomic():
            row = WitnessedCheckpoint.objects.create(
                origin=origin, size=size, root_hash=root.hex(), note=note
            )
            audit.record(
                "audit.witness",
                row,
                {"origin": origin, "size": size, "root": root.hex()},
                actor=actor,
            )
    except IntegrityError:
        return witness(note, actor)
    return row, True


def cosignature(note: str) -> str | None:
    """This portal's cosignature of a note it witnessed, or None without a cosigning key."""
    path = settings.AUDIT_COSIGNING_KEY_FILE
    if not path:
        return None
    private = load_private_key(path)
    return cosign_checkpoint(private, settings.AUDIT_ORIGIN, note_text(note), int(time.time()))


# --- Our witnesses' cosignatures, collected back ----------------------------------------------


def cosigner_keys() -> dict[str, Ed25519PublicKey]:
    """Our witnesses' cosignature keys by witness name (AUDIT_WITNESS_COSIGNER_KEYS)."""
    return dict(parse_cosigner_key(vkey) for vkey in settings.AUDIT_WITNESS_COSIGNER_KEYS)


def _answer_lines(answer: bytes) -> list[str]:
    """Signature lines in a witness's answer: ours is JSON with ``cosignature``; a C2SP
    tlog-witness answers with the lines as text."""
    text = answer[:MAX_ANSWER_BYTES].decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return [line for line in text.splitlines() if line.startswith("\u2014 ")]
    found = parsed.get("cosignature") if isinstance(parsed, dict) else None
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [line for line in found if isinstance(line, str)]
    return []


def collect_cosignatures(
    checkpoint: AuditCheckpoint, answer: bytes, source: str
) -> list[WitnessCosignature]:
    """Keep the cosignatures in a witness's ``answer`` that verify over ``checkpoint``.

    One that names an unknown witness or does not verify is logged and dropped: it proves
    nothing, and the public view shows only what verifies. Each kept one is audited.
    """
    kept: list[WitnessCosignature] = []
    try:
        keys = cosigner_keys()
    except ValueError as exc:
        logger.error("AUDIT_WITNESS_COSIGNER_KEYS: %s; no cosignature is kept", exc)
        return kept
    text = note_text(checkpoint.note)
    for line in _answer_lines(answer):
        try:
            name = cosignature_name(line)
            key = keys.get(name)
            if key is None:
                raise NoteError(f"{name!r} is not in AUDIT_WITNESS_COSIGNER_KEYS")
            timestamp = verify_cosignature(line, text, key, name)
        except NoteError as exc:
            logger.error("witness %s: cosignature refused: %s", source, exc)
            continue
        try:
            with transaction.atomic():
                row = WitnessCosignature.objects.create(
                    size=checkpoint.size,
                    root_hash=checkpoint.root_hash,
                    witness=name,
                    key_id=cosigner_key_id(name, key).hex(),
                    timestamp=timestamp,
                    signature=line.strip(),
                )
                audit.record(
                    "audit.cosignature",
                    row,
                    {
                        "witness": name,
                        "size": checkpoint.size,
                        "root": checkpoint.root_hash,
                        "timestamp": timestamp,
                    },
                )
        except IntegrityError:  # this witness cosigned this checkpoint before
            continue
        kept.append(row)
    return kept
