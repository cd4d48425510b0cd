"""This portal as a witness of other portals' logs (C2SP signed notes).

Another portal lists this portal's ``/api/v1/audit/witness/`` in its AUDIT_WITNESS_URLS and
POSTs every checkpoint it signs. This portal verifies the note with the key configured for that
origin (AUDIT_WITNESS_KEYS, note verifier keys) and keeps it. An operator who later shows its
auditors a shorter or rewritten log contradicts a checkpoint held here; one who signs two
different roots for the same size is refused on the spot (a split view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction

import audit
from audit.models import WitnessedCheckpoint
from audit.verify_bundle import NoteError, parse_and_verify_note, parse_verifier_key

if TYPE_CHECKING:
    from rsp_portal.types import Actor


class WitnessError(ValueError):
    """The note is refused; ``conflict`` when it contradicts one already witnessed."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def witnessed_keys() -> dict[str, Ed25519PublicKey]:
    keys = {}
    for vkey in settings.AUDIT_WITNESS_KEYS:
        name, key = parse_verifier_key(vkey)
        keys[name] = key
    return keys


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
