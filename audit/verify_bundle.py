"""Tamper-evident audit log: hashing, signed checkpoints and the offline verifier.

This one file is the cryptographic core of the audit trail. The Django app imports
it (``from audit.verify_bundle import ...``) to build entry bodies, hash leaves
and sign checkpoints, and auditors run a copy of it on an exported bundle
(``python verify_bundle.py BUNDLE_DIR``). Because both use the same code, the
verifier cannot drift from the writer. It therefore depends only on the Python
standard library and ``cryptography``, and must never import Django. ``msgspec``,
when installed, is used only to parse bodies faster, with the same verdicts.

Log model
---------
* Each entry ``seq`` (0, 1, 2, ...) has a *body*: canonical JSON bytes (sorted
  keys, no whitespace, UTF-8, no floats) of an object with at least
  ``v`` (1), ``origin``, ``seq``, ``prev`` (hex of the previous entry's leaf
  hash; 64 zeros for entry 0), ``ts`` (RFC 3339 UTC), ``actor`` (object),
  ``action`` (str), ``object`` (``{"type", "id", ...}``) and ``data`` (object).
* ``leaf_hash = SHA-256(0x00 || body)``; interior Merkle nodes are
  ``SHA-256(0x01 || left || right)``; the tree head is the RFC 6962 §2.1 root.
* A *checkpoint* is a C2SP signed note (https://c2sp.org/signed-note) whose
  text is ``"<origin>\\n<size>\\n<base64 root>\\n"``, signed with Ed25519 under
  the key name ``<origin>``. The signature line is
  ``"— <origin> <base64(key ID (4 bytes) || signature (64 bytes))>"`` with
  ``key ID = SHA-256(origin || 0x0A || 0x01 || raw public key)[:4]``.

Bundle format (a directory)
---------------------------
``entries.jsonl``
    One JSON object per line, in ``seq`` order:
    ``{"seq": int, "body_b64": str, "leaf_hash": str}``, where ``body_b64`` is
    the standard base64 of the exact body bytes and ``leaf_hash`` is the stored
    leaf hash as 64 lowercase hex digits.
``checkpoints.jsonl``
    One JSON object per line, oldest first: ``{"size": int, "note": str}``,
    where ``note`` is the full signed note and ``size`` repeats its tree size.
``public_key.pem``
    The log's Ed25519 public key (SubjectPublicKeyInfo PEM). It is a
    convenience copy: an auditor should pin the key published out of band
    (``--public-key``) or compare the printed verifier key with it.
``manifest.json``
    ``{"origin": str, "exported_at": str, "entries": N, "checkpoints": K}``.
``verify_bundle.py``, ``VERIFY.md``
    This program and the instructions for running it.

What the verifier proves
------------------------
Every leaf hash recomputes from its body; ``seq`` runs 0..N-1 without gaps or
duplicates; every body names its own ``seq``, the right origin and the previous
leaf hash; every checkpoint carries a valid signature from the pinned key, sizes
never decrease, no checkpoint covers more entries than the bundle holds, and
each checkpoint's root equals the RFC 6962 root over the first ``size`` leaves.
It cannot detect a consistently re-signed fork or a tail cut back to exactly a
checkpoint boundary by a key holder: comparing checkpoints with the copies held
by witnesses is what catches those.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import json
import json.scanner
import operator
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

#: A JSON object as parsed (an entry body, a manifest).
JsonObject = dict[str, Any]

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
except ImportError as _exc:  # pragma: no cover - depends on the auditor's machine
    if __name__ == "__main__":
        # An auditor without the dependency should get instructions, not a traceback.
        print(f"FAIL: verify_bundle.py needs the 'cryptography' package ({_exc}).")
        print("Install it with: python3 -m pip install cryptography")
        raise SystemExit(2) from None
    raise

__all__ = [
    "EMPTY_ROOT",
    "GENESIS_PREV",
    "VERIFY_MD",
    "BundleError",
    "MerkleAccumulator",
    "NoteError",
    "VerificationError",
    "VerifyReport",
    "canonical_json",
    "checkpoint_text",
    "cosign_checkpoint",
    "cosigner_key_id",
    "cosigner_verifier_key",
    "entry_body",
    "generate_private_key_pem",
    "key_id",
    "leaf_hash",
    "load_private_key",
    "main",
    "merkle_root",
    "node_hash",
    "note_text",
    "parse_and_verify_note",
    "parse_cosigner_key",
    "public_key_from_pem",
    "public_key_pem",
    "rfc3339_utc",
    "sign_checkpoint",
    "verifier_key",
    "verify_bundle",
    "verify_checkpoints",
    "verify_cosignature",
    "verify_entries",
    "write_bundle",
]

#: ``prev`` of entry 0: 32 zero bytes.
GENESIS_PREV = bytes(32)
#: RFC 6962 root of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

ENTRIES_FILE = "entries.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
PUBLIC_KEY_FILE = "public_key.pem"
MANIFEST_FILE = "manifest.json"
VERIFIER_FILE = "verify_bundle.py"
VERIFY_MD_FILE = "VERIFY.md"

BODY_VERSION = 1
# C2SP signed-note: signature type byte for Ed25519, and the em dash that starts
# every signature line.
_ED25519_TYPE = b"\x01"
# C2SP tlog-cosignature: signature type byte of a witness's cosignature/v1 key.
_COSIGNATURE_TYPE = b"\x04"
_SIG_PREFIX = "\u2014 "
# The spec asks verifiers to accept at least 16 signature lines and to bound the
# total; a generous bound stops a hostile bundle from making us do unbounded work.
_MAX_SIGNATURE_LINES = 100
_MAX_NOTE_CHARS = 1 << 20

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
# RFC 3339 UTC as the writer spells it, every field's range included: a year from 0001, a day
# that exists in its month (29 February in leap years only), hours 00-23, minutes and seconds
# 00-59, 1 to 9 digits of fraction. The same set as the field pattern followed by strptime's
# (or fromisoformat's) range check, in one match (tests/audit/test_verify_fast_path.py checks
# every year, every month and day, every time of day against that).
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_RFC3339_UTC = re.compile(
    r"(?:(?!0000)[0-9]{4}-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"  # days 1-28 of every month
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"  # 29 and 30, all months but February
    r"|(?:0[13578]|1[02])-31)"  # 31 in the long months
    rf"|{_LEAP_YEAR}-02-29)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z"
)

VERIFY_MD = """\
# Verifying an RSP Portal audit-log bundle

This directory is an export of the RSP Portal tamper-evident audit log. You can
check it offline with `verify_bundle.py`, a single-file program that needs only
Python 3.11+ and the `cryptography` package.

## What is in the bundle

* `entries.jsonl`: one line per audit entry, `{"seq", "body_b64", "leaf_hash"}`.
  `body_b64` is the exact canonical-JSON body that was hashed (base64);
  `leaf_hash` is SHA-256(0x00 || body) in hex.
* `checkpoints.jsonl`: one line per signed checkpoint, oldest first,
  `{"size", "note"}`. `note` is a C2SP signed note stating the origin, the tree
  size and the RFC 6962 Merkle root, signed with Ed25519.
* `public_key.pem`: a copy of the log's Ed25519 public key.
* `manifest.json`: origin, export time, number of entries and checkpoints.
* `verify_bundle.py`: the verifier (the same code the portal uses to write the log).

## How to run it

    python3 -m pip install cryptography
    python3 verify_bundle.py .

With the `msgspec` package installed too (`python3 -m pip install msgspec`), the
verifier checks the entries about 40 % faster. The verdicts are the same without
it: any body its parse refuses is checked again with Python's own `json`.

Pin the key you obtained independently (for example from the organisation's
published policy or from your own witness records) instead of trusting the copy
in the bundle:

    python3 verify_bundle.py --public-key published_key.pem --origin <origin> .

The program prints `OK: N entries, K checkpoints, head <hash>` and exits 0 when
everything verifies. Otherwise it prints `FAIL: entry S: reason` (naming the first
bad sequence number when there is one) and exits 1. It exits 2 if the bundle
cannot be read or the command line is wrong.

## What a pass means

* every entry's hash recomputes from its body, sequence numbers run 0..N-1 with
  no gap or duplicate, and each entry names the hash of the one before it;
* every checkpoint is signed by the pinned key, checkpoint sizes never
  decrease, and each checkpoint's Merkle root matches the entries it covers;
* no signed checkpoint covers more entries than the bundle contains.

Entries after the latest checkpoint are chained but not yet signed; the verifier
reports how many.

A log head the portal published (its public view, `/api/v1/transparency/`, saved
as JSON) is checked with `--published-head transparency.json`: the bundle must hold
the entries it was signed for, with the same Merkle root, and each witness
cosignature it lists (C2SP cosignature/v1) must verify. Pin a witness's key with
`--witness-key name+keyid+base64` (repeatable): its cosignature must then be there.

Finally, compare the latest checkpoint in this bundle with the copy you (or
another witness) received earlier: it must be the same or cover a larger size
with the same earlier entries. Only that comparison can reveal a
history rewritten and re-signed by whoever holds the signing key.
"""


class VerificationError(Exception):
    """The log or bundle content is inconsistent.

    ``seq`` is the first bad sequence number when one can be named (``None`` for
    faults that belong to a checkpoint rather than an entry); ``message`` says
    what is wrong. ``str(error)`` is ``"entry <seq>: <message>"`` or ``message``.
    """

    def __init__(self, seq: int | None, message: str) -> None:
        self.seq = seq
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.seq is None:
            return self.message
        return f"entry {self.seq}: {self.message}"


class NoteError(ValueError):
    """A signed note is malformed, for another origin, or lacks a valid signature."""


class BundleError(Exception):
    """The bundle cannot be read at all (missing file, unreadable manifest or key)."""


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """Summary of a bundle that verified.

    ``head`` is the hex leaf hash of the last entry (64 zeros for an empty log);
    ``latest_checkpoint_size`` is ``None`` when the bundle has no checkpoint.
    """

    origin: str
    entries: int
    checkpoints: int
    head: str
    latest_checkpoint_size: int | None
    verifier_key: str
    #: Witnesses whose cosignatures of the published heads verified.
    cosigned_by: tuple[str, ...] = ()

    @property
    def unsigned_entries(self) -> int:
        """Entries after the latest checkpoint: chained but not yet signed."""
        return self.entries - (self.latest_checkpoint_size or 0)


# --------------------------------------------------------------------------
# Canonical JSON and entry bodies
# --------------------------------------------------------------------------


def _check_json_value(obj: object) -> None:
    """Raise TypeError unless ``obj`` holds only dict/list/str/int/bool/None.

    Iterative and cycle-safe, so a hostile structure cannot exhaust the stack
    here (json.dumps then reports the cycle itself).
    """
    stack: list[object] = [obj]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if value is None or isinstance(value, (str, int)):
            # bool is an int subclass and is fine: it serialises as true/false.
            continue
        if isinstance(value, float):
            raise TypeError(
                "floats are not allowed in audit bodies; use an int or a decimal string"
            )
        if isinstance(value, (dict, list, tuple)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        # json.dumps would silently turn 1 into "1": ambiguous.
                        raise TypeError(f"object keys must be str, not {key!r}")
                    stack.append(item)
            else:
                stack.extend(value)
            continue
        raise TypeError(f"{type(value).__name__} is not allowed in canonical JSON")


def canonical_json(obj: object) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``obj``.

    Sorted keys, ``","``/``":"`` separators, non-ASCII kept as UTF-8. Floats,
    non-str keys and non-JSON types raise TypeError; NaN, cycles and strings
    that are not valid Unicode (lone surrogates) raise ValueError. Floats are
    refused because their text form is not stable across languages; audit
    bodies carry ints or decimal strings.
    """
    _check_json_value(obj)
    text = json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def rfc3339_utc(moment: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds, e.g.
    ``2025-01-02T03:04:05.000006Z``. Naive datetimes raise ValueError."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _is_rfc3339_utc(value: object) -> bool:
    return isinstance(value, str) and _RFC3339_UTC.fullmatch(value) is not None


def _check_origin(origin: str) -> None:
    """The origin is also the note key name: non-empty, no spaces, no '+'."""
    if (
        not isinstance(origin, str)
        or not origin
        or "+" in origin
        or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in origin)
    ):
        raise ValueError(f"invalid origin {origin!r}")


def entry_body(
    *,
    origin: str,
    seq: int,
    prev: bytes,
    ts: str,
    actor: Mapping[str, Any],
    action: str,
    obj: Mapping[str, Any],
    data: Mapping[str, Any],
) -> bytes:
    """Build the canonical body bytes of entry ``seq``.

    ``prev`` is the previous entry's leaf hash (``GENESIS_PREV`` for seq 0) and
    ``ts`` an RFC 3339 UTC string (see ``rfc3339_utc``). ``obj`` must contain
    ``type`` and ``id``. Raises ValueError/TypeError on malformed input. Store
    the returned bytes verbatim: verification hashes them, never a re-encoding.
    """
    _check_origin(origin)
    if type(seq) is not int or seq < 0:
        raise ValueError("seq must be a non-negative int")
    if not isinstance(prev, bytes) or len(prev) != 32:
        raise ValueError("prev must be 32 bytes")
    if not _is_rfc3339_utc(ts):
        raise ValueError(f"ts must be RFC 3339 UTC, got {ts!r}")
    if not isinstance(action, str) or not action:
        raise ValueError("action must be a non-empty str")
    if "type" not in obj or "id" not in obj:
        raise ValueError("obj must contain 'type' and 'id'")
    return canonical_json(
        {
            "v": BODY_VERSION,
            "origin": origin,
            "seq": seq,
            "prev": prev.hex(),
            "ts": ts,
            "actor": dict(actor),
            "action": action,
            "object": dict(obj),
            "data": dict(data),
        }
    )


# --------------------------------------------------------------------------
# RFC 6962 Merkle tree
# --------------------------------------------------------------------------


def leaf_hash(body: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || body)."""
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """Streaming RFC 6962 tree head over leaves appended in order.

    Keeps only the roots of the maximal perfect subtrees (one per set bit of the
    size, largest first), so appending is amortised O(1) and ``root()`` is
    O(log n). Folding those roots right to left yields exactly the RFC 6962
    §2.1 split-at-the-largest-power-of-two root, which lets the verifier check
    every checkpoint in a single pass over the leaves.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self._size
        while size & 1:  # merge equal-height subtrees, like a binary carry
            node = node_hash(self._stack.pop(), node)
            size >>= 1
        self._stack.append(node)
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node

    def frontier(self) -> list[bytes]:
        """The roots of the maximal perfect subtrees, largest first: all that is needed to
        go on appending (one per set bit of the size)."""
        return list(self._stack)

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> MerkleAccumulator:
        """The accumulator of ``size`` leaves from its ``frontier``; ValueError unless the
        frontier has one 32-byte node per set bit of ``size``."""
        if size < 0 or len(frontier) != size.bit_count() or any(len(n) != 32 for n in frontier):
            raise ValueError(f"not the Merkle frontier of {size} leaves")
        acc = cls()
        acc._size = size
        acc._stack = [bytes(n) for n in frontier]
        return acc


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle tree hash over already-hashed leaves.

    The empty tree's root is SHA-256(""). O(n) time, O(log n) memory.
    Raises ValueError if a leaf hash is not 32 bytes.
    """
    acc = MerkleAccumulator()
    for leaf in leaf_hashes:
        if len(leaf) != 32:
            raise ValueError("leaf hashes must be 32 bytes")
        acc.append(bytes(leaf))
    return acc.root()


# --------------------------------------------------------------------------
# Keys and C2SP signed-note checkpoints
# --------------------------------------------------------------------------


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_private_key_pem() -> bytes:
    """Generate a new Ed25519 signing key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an unencrypted Ed25519 private key from a PEM file.

    Raises OSError if unreadable and ValueError if it is not an Ed25519 key.
    """
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def public_key_from_pem(pem: bytes | str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key from SubjectPublicKeyInfo PEM.

    Raises ValueError if the PEM is malformed or holds another key type.
    """
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the public half of ``key``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """C2SP note key ID: SHA-256(name || 0x0A || 0x01 || pubkey32)[:4]."""
    material = name.encode("utf-8") + b"\n" + _ED25519_TYPE + _raw_public(public_key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The note verifier key string ``name+<hex key ID>+<base64(0x01||pubkey)>``.

    This is the form in which the key is published and compared by humans.
    """
    encoded = base64.b64encode(_ED25519_TYPE + _raw_public(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """``(name, public key)`` from a note verifier key ``name+<hex key ID>+<base64>``.

    Raises ValueError when malformed or when the key ID does not match the key.
    """
    return _parse_key(vkey, _ED25519_TYPE, key_id)


def _parse_key(
    vkey: str, type_byte: bytes, identify: Callable[[str, Ed25519PublicKey], bytes]
) -> tuple[str, Ed25519PublicKey]:
    kind = "an Ed25519 note verifier" if type_byte == _ED25519_TYPE else "a cosignature/v1"
    try:
        name, hex_id, encoded = vkey.strip().split("+", 2)  # names never contain "+"
        blob = _b64decode_strict(encoded)
    except ValueError:
        raise ValueError("not a note verifier key (name+keyid+base64)") from None
    if len(blob) != 33 or blob[:1] != type_byte:
        raise ValueError(f"not {kind} key")
    public_key = Ed25519PublicKey.from_public_bytes(blob[1:])
    if identify(name, public_key).hex() != hex_id:
        raise ValueError("the key ID does not match the key")
    return name, public_key


# --------------------------------------------------------------------------
# Witnesses' cosignatures (C2SP tlog-cosignature, cosignature/v1)
# --------------------------------------------------------------------------


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """Key ID of a witness's cosignature key: SHA-256(name || 0x0A || 0x04 || pubkey32)[:4]."""
    material = name.encode("utf-8") + b"\n" + _COSIGNATURE_TYPE + _raw_public(public_key)
    return hashlib.sha256(material).digest()[:4]


def cosigner_verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """A witness's published key: ``name+<hex key ID>+<base64(0x04||pubkey)>``."""
    encoded = base64.b64encode(_COSIGNATURE_TYPE + _raw_public(public_key)).decode()
    return f"{name}+{cosigner_key_id(name, public_key).hex()}+{encoded}"


def parse_cosigner_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """``(witness name, public key)`` from a cosignature verifier key; ValueError otherwise."""
    return _parse_key(vkey, _COSIGNATURE_TYPE, cosigner_key_id)


def note_text(note: str) -> str:
    """The signed text of a note (everything before the blank line), or NoteError."""
    split = note.rfind("\n\n") if isinstance(note, str) else -1
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    return note[: split + 1]


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign_checkpoint(private_key: Ed25519PrivateKey, name: str, text: str, timestamp: int) -> str:
    """A witness's signature line over a checkpoint's text at ``timestamp`` (Unix seconds).

    Sign only a checkpoint that verified with the log's key and is consistent with every
    checkpoint of that log witnessed before.
    """
    _check_origin(name)
    signature = private_key.sign(_cosigned_message(text, timestamp))
    blob = cosigner_key_id(name, private_key.public_key()) + timestamp.to_bytes(8, "big")
    return f"{_SIG_PREFIX}{name} {base64.b64encode(blob + signature).decode()}"


def cosignature_name(line: str) -> str:
    """The witness named by a signature line, or NoteError."""
    if not isinstance(line, str) or not line.startswith(_SIG_PREFIX):
        raise NoteError("a cosignature is a signature line starting with an em dash")
    parts = line.strip()[len(_SIG_PREFIX) :].split(" ")
    if len(parts) != 2 or not parts[0] or "+" in parts[0]:
        raise NoteError("malformed cosignature line")
    return parts[0]


def verify_cosignature(line: str, text: str, public_key: Ed25519PublicKey, name: str) -> int:
    """Check a witness's cosignature line over checkpoint ``text``; returns its timestamp.

    Raises NoteError when the line is malformed, names another witness or key, or does not
    verify (the witness did not sign this size and root).
    """
    if cosignature_name(line) != name:
        raise NoteError(f"the cosignature is not by {name!r}")
    try:
        blob = _b64decode_strict(line.strip().rsplit(" ", 1)[1])
    except ValueError:
        raise NoteError("cosignature is not valid base64") from None
    if len(blob) != 4 + 8 + 64:
        raise NoteError("cosignature has the wrong length")
    if blob[:4] != cosigner_key_id(name, public_key):
        raise NoteError(f"the cosignature is not by the pinned key of {name!r}")
    timestamp = int.from_bytes(blob[4:12], "big")
    try:
        public_key.verify(blob[12:], _cosigned_message(text, timestamp))
    except InvalidSignature:
        raise NoteError(f"the cosignature of {name!r} does not verify") from None
    return timestamp


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """C2SP checkpoint body: ``"<origin>\\n<size>\\n<base64 root>\\n"``.

    Raises ValueError for an invalid origin, a negative size or a root that is
    not 32 bytes.
    """
    _check_origin(origin)
    if type(size) is not int or size < 0:
        raise ValueError("size must be a non-negative int")
    if len(root) != 32:
        raise ValueError("root must be 32 bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(private_key: Ed25519PrivateKey, origin: str, size: int, root: bytes) -> str:
    """Return the complete signed note for checkpoint (origin, size, root).

    The key name is ``origin``. The caller must only sign a root it computed
    over its own stored leaves, consistent with every earlier checkpoint.
    """
    text = checkpoint_text(origin, size, root)
    signature = private_key.sign(text.encode("utf-8"))
    blob = key_id(origin, private_key.public_key()) + signature
    return f"{text}\n{_SIG_PREFIX}{origin} {base64.b64encode(blob).decode()}\n"


def _b64decode_strict(value: str) -> bytes:
    """Decode standard base64, refusing stray characters and non-canonical forms."""
    decoded = base64.b64decode(value, validate=True)
    # validate=True still accepts non-zero padding bits; re-encoding catches that,
    # so each value has exactly one accepted spelling.
    if base64.b64encode(decoded).decode("ascii") != value:
        raise ValueError("non-canonical base64")
    return decoded


def parse_and_verify_note(
    note: str, public_key: Ed25519PublicKey, origin: str
) -> tuple[int, bytes]:
    """Verify a signed checkpoint note and return its ``(size, root)``.

    Accepts the note only if it is well formed, at least one signature line is
    by the pinned key (key name ``origin`` and matching key ID) and verifies,
    and its text is exactly ``origin``, a canonical decimal size and a base64
    32-byte root. Signature lines from other keys are ignored (C2SP: verifiers
    MUST ignore unknown keys); a failing signature from the pinned key rejects
    the whole note. Raises NoteError otherwise.
    """
    _check_origin(origin)
    if not isinstance(note, str) or len(note) > _MAX_NOTE_CHARS:
        raise NoteError("note is not a string of reasonable size")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise NoteError("note contains control characters")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    if not sig_block.endswith("\n"):
        raise NoteError("note does not end with a signature line")
    sig_lines = sig_block[:-1].split("\n")
    if len(sig_lines) > _MAX_SIGNATURE_LINES:
        raise NoteError("note has too many signature lines")

    expected_id = key_id(origin, public_key)
    message = text.encode("utf-8")
    verified = False
    for line in sig_lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        parts = line[len(_SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise NoteError("malformed signature line")
        name, encoded = parts
        if not name or "+" in name or any(ch.isspace() for ch in name):
            raise NoteError("malformed key name in signature line")
        try:
            blob = _b64decode_strict(encoded)
        except ValueError:
            raise NoteError("signature is not valid base64") from None
        if len(blob) < 5:
            raise NoteError("signature too short")
        if name != origin or blob[:4] != expected_id:
            continue  # someone else's key (a witness, or a rotated-out key)
        try:
            public_key.verify(blob[4:], message)
        except InvalidSignature:
            raise NoteError("signature by the pinned key does not verify") from None
        verified = True
    if not verified:
        raise NoteError("no valid signature from the pinned key")

    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise NoteError("checkpoint text must have exactly 3 lines")
    note_origin, size_text, root_text = lines
    if note_origin != origin:
        raise NoteError(f"checkpoint origin {note_origin!r} is not {origin!r}")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError("checkpoint size is not a canonical decimal")
    try:
        root = _b64decode_strict(root_text)
    except ValueError:
        raise NoteError("checkpoint root is not valid base64") from None
    if len(root) != 32:
        raise NoteError("checkpoint root is not 32 bytes")
    return int(size_text), root


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def _reject_float(text: str) -> Any:
    raise ValueError(f"float {text} in body")


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} in body")


# Built once: json.loads and json.dumps build a decoder or an encoder on every call when given
# options, which cost as much as the parse of a small body.
_BODY_DECODER = json.JSONDecoder(parse_float=_reject_float, parse_constant=_reject_constant)
# Its scanner, called directly: one JSON value from a position, and where it ends. (The cast:
# typeshed types the scanner's context as a scanner, where any decoder serves.)
_SCAN_BODY = json.scanner.make_scanner(cast("json.scanner.make_scanner", _BODY_DECODER))


def _parse_with_json(body: bytes, text: str) -> object:
    """``text`` (``body`` decoded) as one JSON value, by the standard library's scanner with
    the float and constant hooks; ValueError when a value does not end the text."""
    obj, end = _SCAN_BODY(text, 0)
    if end != len(text):
        raise ValueError("data after the JSON value")
    return obj


# The fast path's parse (ADR 0058). msgspec, when installed, parses a body in about a third of
# the time of the standard library's scanner and builds the same objects: dicts, lists, str,
# int of any size, bool and None; a float is refused by the same hook. Where the two parsers
# differ, msgspec refuses what the standard library accepts (a lone surrogate escape).
# Whitespace around the value both accept, and the canonical check after the parse refuses
# it. A refusal only sends the body to ``_check_body``, which parses with the standard
# library and decides. Without msgspec the verifier runs as it is, with the same verdicts.
_parse_body: Callable[[bytes, str], object] = _parse_with_json
_PARSE_ERRORS: tuple[type[BaseException], ...] = (ValueError, RecursionError, StopIteration)
try:
    import msgspec
except ImportError:  # pragma: no cover - depends on the auditor's machine
    pass
else:
    _MSGSPEC_DECODE = msgspec.json.Decoder(float_hook=_reject_float).decode

    def _parse_with_msgspec(body: bytes, text: str) -> object:
        """``body`` as one JSON value, by msgspec (``text`` is not read)."""
        return _MSGSPEC_DECODE(body)

    _parse_body = _parse_with_msgspec
# A parsed body has no cycles, so the encoder need not look for them.
_BODY_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
)


# --------------------------------------------------------------------------
# Who may sign, as the trail itself records it
# --------------------------------------------------------------------------

#: Entries that grant, revoke or suspend a sign-off title (the object is the account).
AUTHORITY_ACTIONS = ("user.create", "title.grant", "title.revoke", "user.credential")
#: Entries that sign with a title (``data.title``, the actor is the signer).
SIGNING_ACTIONS = (
    "decision.approve",
    "decision.reject",
    "policy.activation.approve",
    "policy.activation.reject",
    "policy.activation_approve",
)


class SignerCheck:
    """Each signature must name a title its signer held, per the entries before it.

    Fed every entry body in order: titles come from ``user.create`` (``titles``),
    ``title.grant`` and ``title.revoke`` of the account; a ``user.credential`` entry
    suspends the account's signing for its ``cooling_off_hours``. A signature by someone
    the trail never made a holder of that title, or during a cooling-off, is a forgery
    (a title row edited in the database does not reach the trail).
    """

    def __init__(self) -> None:
        self.titles: dict[str, set[str]] = {}
        self.suspended_until: dict[str, dt.datetime] = {}

    def feed(self, seq: int, obj: JsonObject) -> None:
        action = obj.get("action")
        data = obj.get("data") or {}
        if action in AUTHORITY_ACTIONS and obj["object"].get("type") == "core.user":
            user = str(obj["object"]["id"])
            held = self.titles.setdefault(user, set())
            if action == "user.create":
                held.update(str(t) for t in data.get("titles") or [])
            elif action == "title.grant":
                held.add(str(data.get("title")))
            elif action == "title.revoke":
                held.discard(str(data.get("title")))
            else:
                hours = data.get("cooling_off_hours") or 0
                if isinstance(hours, int) and hours > 0:
                    until = _parse_ts(obj["ts"]) + dt.timedelta(hours=hours)
                    self.suspended_until[user] = until
        elif action in SIGNING_ACTIONS and "title" in data:
            signer = str((obj.get("actor") or {}).get("id"))
            title = data.get("title")
            name = (obj.get("actor") or {}).get("username", signer)
            if title not in self.titles.get(signer, set()):
                raise VerificationError(
                    seq,
                    f"{action} signed as {title} by {name}, who does not hold {title} in the "
                    "trail (a forged title)",
                )
            suspended = self.suspended_until.get(signer)
            if suspended is not None and _parse_ts(obj["ts"]) < suspended:
                raise VerificationError(
                    seq,
                    f"{action} signed by {name} during the cooling-off after a credential change",
                )


def _parse_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# A body's required members in one lookup (a missing one raises KeyError), and the types the
# checks want of them: ``action`` a str, ``actor``, ``data`` and ``object`` objects, ``seq``
# and ``v`` ints (a bool is not), ``ts`` a str.
_BODY_MEMBERS = operator.itemgetter(
    "action", "actor", "data", "object", "origin", "prev", "seq", "ts", "v"
)
_BODY_MEMBER_TYPES = (str, dict, dict, dict, int, str, int)
# Where a number -0 could be: JSON has no -01, the parse refuses -0.5 and -0e1, and the
# whitespace that could follow it is refused apart.
_MINUS_ZERO = re.compile(r"-0[,\]}]")
#: The key orders of the four objects (the body, ``actor``, ``data``, ``object``) found sorted,
#: each as a tuple of four tuples of keys: looking one up costs less than sorting four lists.
#: Bounded, so a bundle with a new order in every entry costs its sorts but no memory.
_SORTED_SHAPES: set[tuple[tuple[str, ...], ...]] = set()
_MAX_SHAPES = 4096


def _accepted_body(seq: int, body: bytes, prev_hex: str, origin: str) -> JsonObject | None:
    """The parsed body when it passes every check of ``_check_body``, else None.

    The fast path, run on every entry: one decode, one parse, the field checks on the parsed
    object, and the proof that the body is canonical: ``_plainly_canonical`` when it applies,
    else the canonical re-encoding compared as text (``body`` is the UTF-8 of ``text``, and the
    encoding of a canonical re-encoding equal to ``text`` is ``body``). It accepts exactly what
    ``_check_body`` accepts (a property test holds it to that); whenever it does not accept,
    ``_check_body`` runs and says why.
    """
    try:
        text = body.decode("utf-8")
        obj = _parse_body(body, text)
    except _PARSE_ERRORS:  # StopIteration: no value at all (msgspec's errors are ValueErrors)
        return None
    if type(obj) is not dict:
        return None
    try:
        action, actor, data, object_, body_origin, prev, body_seq, ts, v = _BODY_MEMBERS(obj)
    except KeyError:  # every member is required
        return None
    if (
        (type(action), type(actor), type(data), type(object_), type(body_seq), type(ts), type(v))
        == _BODY_MEMBER_TYPES
        and v == BODY_VERSION
        and body_seq == seq
        and body_origin == origin
        and prev == prev_hex
        and action
        and "type" in object_
        and "id" in object_
        and _RFC3339_UTC.fullmatch(ts) is not None
        and (
            _plainly_canonical(text, obj, actor, data, object_) or _BODY_ENCODER.encode(obj) == text
        )
    ):
        return obj
    return None


def _plainly_canonical(
    text: str, obj: JsonObject, actor: JsonObject, data: JsonObject, object_: JsonObject
) -> bool:
    """True only if ``text`` is the canonical encoding of ``obj``, its parse, proved without
    re-encoding it; False says nothing (the caller then re-encodes).

    ``obj``'s members ``actor``, ``data`` and ``object`` are objects. It applies when ``text``
    has no backslash, no tab, line feed or carriage return, no ``-0`` before ``,``, ``]`` or
    ``}``, and no space outside its strings. Then, the parse being strict JSON without floats
    or constants: without a backslash every ``"`` delimits a string (so the even pieces of a
    split on ``"`` are what lies outside the strings), and no string holds an escape or a
    control character, so each is spelled as the encoder spells it (``ensure_ascii=False``
    escapes only ``"``, ``\\`` and controls); no whitespace lies between tokens; every
    integer is spelled as its ``repr`` (JSON allows no leading zero or ``+``, and ``-0`` is
    excluded); true, false and null are spelled one way. What is left is the order and
    uniqueness of every object's keys. The ``":`` in the text are each key's end (in any
    object) plus each string that starts with ``:``; they number exactly the keys the four
    objects kept only if no key was repeated and no other object has a key (another object is
    then ``{}``, spelled one way). With each of the four listing its keys sorted, the encoder
    (sorted keys, ``,`` and ``:``) would write exactly ``text``. Whether the four list their
    keys sorted depends on their keys alone, so a key order found sorted is remembered
    (``_SORTED_SHAPES``; a log has a few dozen). The property tests in
    tests/audit/test_verify_fast_path.py hold the verdict to the original check's.
    """
    if (
        "\\" in text
        or "\t" in text
        or "\n" in text
        or "\r" in text
        or _MINUS_ZERO.search(text)
        or (" " in text and " " in "".join(text.split('"')[::2]))
    ):
        return False
    shape = (tuple(obj), tuple(actor), tuple(data), tuple(object_))
    if shape not in _SORTED_SHAPES:
        for keys in shape:
            if list(keys) != sorted(keys):
                return False
        if len(_SORTED_SHAPES) < _MAX_SHAPES:
            _SORTED_SHAPES.add(shape)
    return text.count('":') == len(obj) + len(actor) + len(data) + len(object_)


def _check_body(seq: int, body: bytes, prev: bytes, origin: str) -> JsonObject:
    """Raise VerificationError(seq, ...) unless ``body`` is a valid entry body; return it."""
    try:
        obj = json.loads(
            body.decode("utf-8"),
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise VerificationError(seq, f"body is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise VerificationError(seq, "body is not a JSON object")
    try:
        canonical = canonical_json(obj) == body
    except (TypeError, ValueError):
        canonical = False
    if not canonical:
        # Non-canonical bytes (whitespace, key order, duplicate keys) could be read
        # differently by different parsers; the writer never produces them.
        raise VerificationError(seq, "body is not canonical JSON")
    if obj.get("v") != BODY_VERSION or type(obj.get("v")) is not int:
        raise VerificationError(seq, f"body version is not {BODY_VERSION}")
    if obj.get("origin") != origin:
        raise VerificationError(seq, f"body origin {obj.get('origin')!r} is not {origin!r}")
    body_seq = obj.get("seq")
    if type(body_seq) is not int or body_seq != seq:
        raise VerificationError(seq, f"body says seq {body_seq!r}")
    if obj.get("prev") != prev.hex():
        if seq == 0:
            raise VerificationError(seq, "prev is not the genesis value (64 zeros)")
        raise VerificationError(seq, f"prev does not match hash of entry {seq - 1}")
    if not _is_rfc3339_utc(obj.get("ts")):
        raise VerificationError(seq, "ts is not an RFC 3339 UTC timestamp")
    action = obj.get("action")
    if not isinstance(action, str) or not action:
        raise VerificationError(seq, "action is missing")
    for key in ("actor", "object", "data"):
        if not isinstance(obj.get(key), dict):
            raise VerificationError(seq, f"{key} is not an object")
    if "type" not in obj["object"] or "id" not in obj["object"]:
        raise VerificationError(seq, "object lacks type or id")
    return obj


def verify_entries(entries: Iterable[tuple[int, bytes, bytes]], origin: str) -> list[bytes]:
    """Check a log's entries in order and return their leaf hashes.

    ``entries`` yields ``(seq, body, stored_leaf_hash)``. The i-th item must
    have seq i, a stored hash equal to SHA-256(0x00 || body), and a canonical
    body whose ``seq``, ``origin`` and ``prev`` (hex leaf hash of entry i-1,
    or of ``GENESIS_PREV``) match. Raises VerificationError at the first bad
    entry, naming its position; the iterable is consumed lazily, so a reader
    may itself raise VerificationError for a line it cannot parse.
    """
    _check_origin(origin)
    leaves: list[bytes] = []
    prev = GENESIS_PREV
    prev_hex = prev.hex()
    for expected, (seq, body, stored) in enumerate(entries):
        if seq != expected:
            if seq < expected:
                reason = f"sequence out of order: found seq {seq} again"
            else:
                reason = f"missing: next entry present is seq {seq}"
            raise VerificationError(expected, reason)
        if type(body) is not bytes:
            body = bytes(body)  # tolerate memoryview from database drivers
        computed = hashlib.sha256(b"\x00" + body).digest()  # leaf_hash, inlined
        if stored != computed:  # bytes or a memoryview: compared by content
            raise VerificationError(seq, "leaf hash does not match body")
        if _accepted_body(seq, body, prev_hex, origin) is None:
            _check_body(seq, body, prev, origin)  # raises, saying why
        leaves.append(computed)
        prev = computed
        prev_hex = computed.hex()
    return leaves


def verify_checkpoints(
    leaf_hashes: Sequence[bytes],
    notes: Iterable[str],
    public_key: Ed25519PublicKey,
    origin: str,
) -> list[tuple[int, bytes]]:
    """Check signed checkpoints (oldest first) against verified leaf hashes.

    Every note must verify with the pinned key (``parse_and_verify_note``);
    sizes must never decrease; a size beyond ``len(leaf_hashes)`` means
    entries were removed below a signed checkpoint (VerificationError naming
    the first missing seq); and each root must equal the RFC 6962 root of the
    first ``size`` leaves. Checkpoints are numbered from 0 in messages.
    Returns the verified ``(size, root)`` pairs. One pass over the leaves.
    """
    results: list[tuple[int, bytes]] = []
    acc = MerkleAccumulator()
    last_size = 0
    for index, note in enumerate(notes):
        try:
            size, root = parse_and_verify_note(note, public_key, origin)
        except NoteError as exc:
            raise VerificationError(None, f"checkpoint #{index}: {exc}") from None
        if size < last_size:
            raise VerificationError(
                None,
                f"checkpoint #{index}: size {size} is smaller than the previous "
                f"checkpoint's {last_size}",
            )
        if size > len(leaf_hashes):
            raise VerificationError(
                len(leaf_hashes),
                f"missing: checkpoint #{index} is signed for {size} entries but the "
                f"log has only {len(leaf_hashes)}",
            )
        first_unchecked = acc.size
        while acc.size < size:
            acc.append(leaf_hashes[acc.size])
        if acc.root() != root:
            # The chain verified, so either this root was never the log's, or
            # the entries it covers were rewritten and re-chained. Which entry is
            # unknowable here; every earlier checkpoint matched, so name the range.
            covered = f"entries {first_unchecked}..{size - 1}" if size else "no entries"
            raise VerificationError(
                None,
                f"checkpoint #{index} (size {size}): root does not match the "
                f"entries; the difference lies in {covered}",
            )
        results.append((size, root))
        last_size = size
    return results


def _entry_lines(path: Path) -> Iterator[tuple[int, bytes, bytes]]:
    """Parse entries.jsonl lazily; a bad line raises VerificationError naming
    the seq expected at that line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read {path.name}: {exc.strerror}") from None
    with handle:
        for index, raw in enumerate(handle):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            where = f"line {index + 1} of {ENTRIES_FILE}"
            try:
                record = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError):
                raise VerificationError(index, f"{where} is not valid JSON") from None
            if not isinstance(record, dict):
                raise VerificationError(index, f"{where} is not a JSON object")
            seq = record.get("seq")
            body_b64 = record.get("body_b64")
            stored = record.get("leaf_hash")
            if type(seq) is not int:
                raise VerificationError(index, f"{where} has no integer seq")
            if not isinstance(body_b64, str):
                raise VerificationError(index, f"{where} has no body_b64")
            if not isinstance(stored, str) or not _HEX64.fullmatch(stored):
                raise VerificationError(index, f"{where} has a malformed leaf_hash")
            try:
                body = base64.b64decode(body_b64, validate=True)
            except (binascii.Error, ValueError):
                raise VerificationError(index, f"{where} has invalid base64 in body_b64") from None
            yield seq, body, bytes.fromhex(stored)


def _checkpoint_lines(path: Path) -> list[tuple[int, str]]:
    try:
        raw_lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise BundleError(f"cannot read {path.name}: {exc.strerror}") from None
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    records: list[tuple[int, str]] = []
    for index, raw in enumerate(raw_lines):
        where = f"line {index + 1} of {CHECKPOINTS_FILE}"
        try:
            record = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise VerificationError(None, f"{where} is not valid JSON") from None
        if (
            not isinstance(record, dict)
            or type(record.get("size")) is not int
            or not isinstance(record.get("note"), str)
        ):
            raise VerificationError(None, f"{where} lacks an integer size and a note")
        records.append((record["size"], record["note"]))
    return records


def read_checkpoint_log(path: str | os.PathLike[str]) -> list[str]:
    """The signed notes of a checkpoint log file (``{"size", "note"}`` per line, oldest first).

    A missing file reads as empty only to the caller who allows it; here it is a BundleError.
    """
    return [note for _, note in _checkpoint_lines(Path(path))]


def verify_external_checkpoints(
    leaf_hashes: Sequence[bytes],
    notes: Sequence[str],
    public_key: Ed25519PublicKey,
    origin: str,
    where: str = "external checkpoint log",
) -> int:
    """Check checkpoints held outside the log against its verified leaf hashes.

    Each must verify with the pinned key and its root must equal the root over the first
    ``size`` leaves; a log shorter than any of them has lost entries (VerificationError naming
    the first missing seq). Returns the largest size vouched for (0 without notes).
    """
    try:
        verified = verify_checkpoints(leaf_hashes, notes, public_key, origin)
    except VerificationError as exc:
        raise VerificationError(exc.seq, f"{where}: {exc.message}") from None
    return verified[-1][0] if verified else 0


def _published_head(path: str | os.PathLike[str]) -> JsonObject:
    try:
        document = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        raise BundleError(f"{path} is not valid JSON") from None
    head = document.get("log_head", document) if isinstance(document, dict) else None
    note = head.get("signature") if isinstance(head, dict) else None
    if not isinstance(head, dict) or not isinstance(note, str) or not note:
        raise BundleError(f"{path} holds no signed log head (log_head.signature)")
    return head


def read_published_head(path: str | os.PathLike[str]) -> str:
    """The signed note of a published log head: the portal's public view
    (``GET /api/v1/transparency/``, its ``log_head.signature``) or a bare ``{"signature"}``."""
    return str(_published_head(path)["signature"])


def read_published_cosignatures(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """``(witness, cosignature line, verifier key the view lists)`` per cosignature of a
    published head (``log_head.witnesses``); [] when it lists none."""
    listed = _published_head(path).get("witnesses") or []
    if not isinstance(listed, list):
        raise BundleError(f"{path}: log_head.witnesses is not a list")
    found: list[tuple[str, str, str]] = []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("cosignature"), str):
            raise BundleError(f"{path}: each of log_head.witnesses needs its cosignature")
        found.append(
            (str(item.get("name", "")), item["cosignature"], str(item.get("verifier_key", "")))
        )
    return found


def verify_published_cosignatures(
    path: str | os.PathLike[str], witness_keys: Mapping[str, Ed25519PublicKey]
) -> list[str]:
    """Check the witnesses' cosignatures of a published head; returns the witnesses' names.

    A cosignature is checked with the key pinned for its witness (``witness_keys``) or, for a
    witness not pinned, with the key the published view lists beside it (then the caller
    must compare that key with the witness's own publication). A pinned witness whose
    cosignature is missing, or any cosignature that does not verify, is a VerificationError.
    """
    text = note_text(read_published_head(path))
    names: list[str] = []
    for name, line, listed in read_published_cosignatures(path):
        key = witness_keys.get(name)
        if key is None:
            try:
                listed_name, key = parse_cosigner_key(listed)
            except ValueError as exc:
                raise VerificationError(
                    None, f"{path}: witness {name!r} is listed without a usable key ({exc})"
                ) from None
            if listed_name != name:
                raise VerificationError(None, f"{path}: witness {name!r} lists another's key")
        try:
            verify_cosignature(line, text, key, name)
        except NoteError as exc:
            raise VerificationError(None, f"{path}: {exc}") from None
        names.append(name)
    missing = sorted(set(witness_keys) - set(names))
    if missing:
        raise VerificationError(
            None, f"{path}: the head lacks the cosignature of pinned witness {', '.join(missing)}"
        )
    return names


def _read_manifest(path: Path) -> JsonObject:
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise BundleError(f"cannot read {path.name}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        raise BundleError(f"{path.name} is not valid JSON") from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("origin"), str)
        or type(manifest.get("entries")) is not int
        or type(manifest.get("checkpoints")) is not int
    ):
        raise BundleError(f"{path.name} lacks origin, entries or checkpoints")
    return manifest


def verify_bundle(
    path: str | os.PathLike[str],
    *,
    public_key: Ed25519PublicKey | None = None,
    origin: str | None = None,
    checkpoint_logs: Sequence[str | os.PathLike[str]] = (),
    published_heads: Sequence[str | os.PathLike[str]] = (),
    witness_keys: Mapping[str, Ed25519PublicKey] | None = None,
) -> VerifyReport:
    """Verify an exported bundle directory and summarise it.

    ``checkpoint_logs`` are checkpoint logs held outside the database (the portal's
    AUDIT_CHECKPOINT_LOG file, a witness's copy): the bundle must hold every entry they
    were signed for, with the same Merkle roots. A bundle cut short after a checkpoint was
    published (a truncated or shrunk database) fails here even if its own checkpoints agree.

    ``public_key`` and ``origin`` pin the expected key and log name; when left
    out, the bundle's own ``public_key.pem`` and manifest origin are used (an
    auditor must then compare the reported verifier key with the published
    one). Raises BundleError if the bundle cannot be read and
    VerificationError at the first inconsistency.
    """
    root_dir = Path(path)
    if not root_dir.is_dir():
        raise BundleError(f"{root_dir} is not a directory")
    manifest = _read_manifest(root_dir / MANIFEST_FILE)
    bundle_origin: str = manifest["origin"]
    if origin is not None and origin != bundle_origin:
        raise VerificationError(
            None, f"bundle origin {bundle_origin!r} is not the pinned {origin!r}"
        )
    try:
        _check_origin(bundle_origin)
    except ValueError:
        raise BundleError(f"{MANIFEST_FILE} has an invalid origin") from None
    if public_key is None:
        try:
            pem = (root_dir / PUBLIC_KEY_FILE).read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read {PUBLIC_KEY_FILE}: {exc.strerror}") from None
        try:
            public_key = public_key_from_pem(pem)
        except ValueError:
            raise BundleError(f"{PUBLIC_KEY_FILE} is not an Ed25519 key") from None

    leaves = verify_entries(_entry_lines(root_dir / ENTRIES_FILE), bundle_origin)
    signers = SignerCheck()  # every signature names a title its signer held in the trail
    for seq, body, _ in _entry_lines(root_dir / ENTRIES_FILE):
        signers.feed(seq, json.loads(bytes(body)))
    records = _checkpoint_lines(root_dir / CHECKPOINTS_FILE)
    verified = verify_checkpoints(leaves, [note for _, note in records], public_key, bundle_origin)
    for index, ((declared, _), (size, _)) in enumerate(zip(records, verified, strict=True)):
        if declared != size:
            raise VerificationError(
                None,
                f"checkpoint #{index}: listed with size {declared} but signed for {size}",
            )
    for log_path in checkpoint_logs:
        verify_external_checkpoints(
            leaves, read_checkpoint_log(log_path), public_key, bundle_origin, str(log_path)
        )
    cosigned_by: set[str] = set()
    for head_path in published_heads:
        verify_external_checkpoints(
            leaves, [read_published_head(head_path)], public_key, bundle_origin, str(head_path)
        )
        cosigned_by.update(verify_published_cosignatures(head_path, witness_keys or {}))
    if manifest["entries"] != len(leaves):
        raise VerificationError(
            min(manifest["entries"], len(leaves)),
            f"manifest lists {manifest['entries']} entries but the bundle has {len(leaves)}",
        )
    if manifest["checkpoints"] != len(verified):
        raise VerificationError(
            None,
            f"manifest lists {manifest['checkpoints']} checkpoints but the bundle "
            f"has {len(verified)}",
        )
    return VerifyReport(
        origin=bundle_origin,
        entries=len(leaves),
        checkpoints=len(verified),
        head=(leaves[-1] if leaves else GENESIS_PREV).hex(),
        latest_checkpoint_size=verified[-1][0] if verified else None,
        verifier_key=verifier_key(bundle_origin, public_key),
        cosigned_by=tuple(sorted(cosigned_by)),
    )


# --------------------------------------------------------------------------
# Writing bundles
# --------------------------------------------------------------------------


def _unverified_note_size(note: str) -> int:
    """Tree size stated in a note's text, without checking its signature.

    Only for filling checkpoints.jsonl; the verifier re-checks it against the
    signed text.
    """
    lines = note.split("\n")
    if len(lines) < 2 or not _DECIMAL.fullmatch(lines[1]):
        raise ValueError("note does not look like a checkpoint")
    return int(lines[1])


def write_bundle(
    path: str | os.PathLike[str],
    origin: str,
    entries: Iterable[tuple[int, bytes, bytes]],
    checkpoint_notes: Iterable[str],
    public_key_pem: bytes,
    exported_at: str | dt.datetime,
) -> JsonObject:
    """Write an export bundle into directory ``path`` and return its manifest.

    ``entries`` yields ``(seq, body, stored_leaf_hash)`` exactly as stored
    (streamed, so it may be a database iterator); ``checkpoint_notes`` are
    signed notes, oldest first. Nothing is verified here: the bundle records
    what the database holds and the verifier judges it. The directory is
    created if needed and must not already contain bundle files. This program
    and VERIFY.md are copied in so the bundle is self-contained.
    """
    _check_origin(origin)
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    names = (ENTRIES_FILE, CHECKPOINTS_FILE, PUBLIC_KEY_FILE, MANIFEST_FILE)
    if any((target / name).exists() for name in names):
        raise FileExistsError(f"{target} already contains a bundle")
    if isinstance(exported_at, dt.datetime):
        exported_at = rfc3339_utc(exported_at)

    entry_count = 0
    with (target / ENTRIES_FILE).open("w", encoding="utf-8", newline="\n") as out:
        for seq, body, stored in entries:
            record = {
                "seq": seq,
                "body_b64": base64.b64encode(bytes(body)).decode("ascii"),
                "leaf_hash": bytes(stored).hex(),
            }
            out.write(json.dumps(record, sort_keys=True, separators=(",", ":")))
            out.write("\n")
            entry_count += 1

    checkpoint_count = 0
    with (target / CHECKPOINTS_FILE).open("w", encoding="utf-8", newline="\n") as out:
        for note in checkpoint_notes:
            record_cp = {"size": _unverified_note_size(note), "note": note}
            out.write(
                json.dumps(
                    record_cp,
                    sort_keys=True,
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
            )
            out.write("\n")
            checkpoint_count += 1

    (target / PUBLIC_KEY_FILE).write_bytes(public_key_pem)
    shutil.copyfile(Path(__file__), target / VERIFIER_FILE)
    (target / VERIFY_MD_FILE).write_text(VERIFY_MD, encoding="utf-8")
    manifest: JsonObject = {
        "origin": origin,
        "exported_at": exported_at,
        "entries": entry_count,
        "checkpoints": checkpoint_count,
    }
    # Written last: a bundle without a manifest is visibly incomplete.
    (target / MANIFEST_FILE).write_text(
        json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    return manifest


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Verify a bundle from the command line and return the exit status.

    Prints ``OK: N entries, K checkpoints, head <hex>`` (then details) and
    returns 0, or prints ``FAIL: ...`` and returns 1 for a bundle that does not
    verify and 2 for an unreadable bundle or bad usage.
    """
    parser = argparse.ArgumentParser(
        prog="verify_bundle.py",
        description="Verify an RSP Portal audit-log export bundle offline.",
    )
    parser.add_argument("bundle", metavar="BUNDLE_DIR", help="the bundle directory")
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        help="pinned Ed25519 public key (default: the bundle's public_key.pem)",
    )
    parser.add_argument("--origin", help="pinned log origin (default: the bundle manifest's)")
    parser.add_argument(
        "--checkpoint-log",
        metavar="FILE",
        action="append",
        default=[],
        help="a checkpoint log kept outside the database (the portal's AUDIT_CHECKPOINT_LOG "
        "or a witness's copy); the bundle must extend every checkpoint in it (repeatable)",
    )
    parser.add_argument(
        "--published-head",
        metavar="FILE",
        action="append",
        default=[],
        help="a log head the portal published (its /api/v1/transparency/ answer saved as JSON, "
        "or a witness's copy); the bundle must hold the entries it was signed for, with the "
        "same Merkle root (repeatable)",
    )
    parser.add_argument(
        "--witness-key",
        metavar="VKEY",
        action="append",
        default=[],
        help="a witness's published cosignature key (name+keyid+base64); each published head "
        "must carry a valid cosignature by it (repeatable)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2

    pinned_key: Ed25519PublicKey | None = None
    if args.public_key is not None:
        try:
            pinned_key = public_key_from_pem(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as exc:
            print(f"FAIL: cannot load pinned public key {args.public_key}: {exc}")
            return 2
    pinned_witnesses: dict[str, Ed25519PublicKey] = {}
    for vkey in args.witness_key:
        try:
            name, witness_key = parse_cosigner_key(vkey)
        except ValueError as exc:
            print(f"FAIL: cannot read witness key {vkey!r}: {exc}")
            return 2
        pinned_witnesses[name] = witness_key
    try:
        report = verify_bundle(
            args.bundle,
            public_key=pinned_key,
            origin=args.origin,
            checkpoint_logs=args.checkpoint_log,
            published_heads=args.published_head,
            witness_keys=pinned_witnesses,
        )
    except BundleError as exc:
        print(f"FAIL: unreadable bundle: {exc}")
        return 2
    except VerificationError as exc:
        print(f"FAIL: {exc}")
        return 1
    except Exception as exc:
        # Every known malformation is reported above; anything else is still a
        # failed verification, and an auditor should see a verdict, not a traceback.
        print(f"FAIL: could not verify bundle ({type(exc).__name__}: {exc})")
        return 1

    print(f"OK: {report.entries} entries, {report.checkpoints} checkpoints, head {report.head}")
    print(f"origin: {report.origin}")
    source = "pinned" if pinned_key is not None else "from the bundle; compare it"
    print(f"verifier key ({source}): {report.verifier_key}")
    if report.cosigned_by:
        listed = [n for n in report.cosigned_by if n not in pinned_witnesses]
        print(f"published head cosigned by: {', '.join(report.cosigned_by)}")
        if listed:
            print(f"witness keys as the view lists them (compare them): {', '.join(listed)}")
    if report.latest_checkpoint_size is None:
        print("warning: no signed checkpoint; nothing here is signed")
    elif report.unsigned_entries:
        print(
            f"note: entries {report.latest_checkpoint_size}..{report.entries - 1} "
            "are not yet covered by a signed checkpoint"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
