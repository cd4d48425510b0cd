"""The audit log's cryptographic core: entry bodies and canonical JSON, the RFC 6962 Merkle
tree and C2SP signed notes. No Django, no database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import verify_bundle as vb
from tests.bundle_fixtures import (
    ORIGIN,
    Entry,
    make_body,
)

#: The fixtures ``key``, ``log`` and ``bundle``.
pytest_plugins = ["tests.bundle_plugin"]

# --------------------------------------------------------------------------
# Entry bodies
# --------------------------------------------------------------------------


def rechained(bodies: list[bytes]) -> list[Entry]:
    return [(seq, body, vb.leaf_hash(body)) for seq, body in enumerate(bodies)]


def test_verify_entries_returns_the_leaf_hashes(log: list[Entry]):
    assert vb.verify_entries(log, ORIGIN) == [leaf for _, _, leaf in log]
    assert vb.verify_entries([], ORIGIN) == []


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda obj: obj.update(origin="other.example/log"), "body origin"),
        (lambda obj: obj.update(seq=4), "body says seq 4"),
        (lambda obj: obj.update(prev="00" * 32), "prev does not match hash of entry 4"),
        (lambda obj: obj.update(v=2), "version"),
        (lambda obj: obj.update(ts="2025-03-01 12:00:00"), "RFC 3339"),
        (lambda obj: obj.pop("actor"), "actor is not an object"),
        (lambda obj: obj["object"].pop("id"), "object lacks type or id"),
    ],
)
def test_it_rejects_a_rehashed_body_with_bad_fields(
    log: list[Entry], tamper: Callable[[dict[str, Any]], None], reason: str
):
    bodies = [body for _, body, _ in log[:10]]
    obj = json.loads(bodies[5])
    tamper(obj)
    bodies[5] = vb.canonical_json(obj)

    with pytest.raises(vb.VerificationError) as info:
        vb.verify_entries(rechained(bodies), ORIGIN)
    assert info.value.seq == 5
    assert reason in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"v": 1}',  # whitespace
        b'{"v":1.0}',  # a float
        b'{"v":1,"v":1}',  # duplicate key
        b"[1,2]",
        b"\xff",
    ],
)
def test_it_rejects_bodies_that_are_not_canonical_json_objects(log: list[Entry], body: bytes):
    bodies = [b for _, b, _ in log[:3]] + [body]

    with pytest.raises(vb.VerificationError) as info:
        vb.verify_entries(rechained(bodies), ORIGIN)
    assert info.value.seq == 3


def test_genesis_prev_must_be_zero():
    body = make_body(0, b"\x01" * 32)
    with pytest.raises(vb.VerificationError, match="entry 0: prev is not the genesis"):
        vb.verify_entries(rechained([body]), ORIGIN)


def test_canonical_json_is_sorted_compact_utf8():
    encoded = vb.canonical_json({"b": [1, True, None], "a": "é✓", "c": {"z": "1.5", "y": -3}})
    assert encoded == '{"a":"é✓","b":[1,true,null],"c":{"y":-3,"z":"1.5"}}'.encode()


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": [0.1]}, {1: "x"}, {"a": b"bytes"}, {"a": float("nan")}, {"a": {1.0, 2.0}}],
)
def test_canonical_json_refuses_floats_and_non_json_values(value: object):
    with pytest.raises((TypeError, ValueError)):
        vb.canonical_json(value)


def test_canonical_json_refuses_lone_surrogates_and_cycles():
    cycle: list[object] = []
    cycle.append(cycle)
    for value in ("\ud800", cycle):
        with pytest.raises(ValueError):
            vb.canonical_json(value)


def test_entry_body_validates_its_arguments():
    with pytest.raises(ValueError):
        make_body(0, b"short")
    with pytest.raises(ValueError):
        vb.entry_body(
            origin=ORIGIN,
            seq=0,
            prev=vb.GENESIS_PREV,
            ts="yesterday",
            actor={},
            action="x",
            obj={"type": "t", "id": "1"},
            data={},
        )


# --------------------------------------------------------------------------
# RFC 6962 Merkle tree
# --------------------------------------------------------------------------

# Reference inputs and tree heads published with Certificate Transparency's
# RFC 6962 test suite: root of the first n leaves, n = 0..8.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out literally (recursive), as an independent oracle."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    return sha(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


@pytest.mark.parametrize("n", range(len(CT_ROOTS)))
def test_merkle_root_matches_the_rfc6962_reference_vectors(n: int):
    leaves = [vb.leaf_hash(data) for data in CT_LEAVES[:n]]
    assert vb.merkle_root(leaves).hex() == CT_ROOTS[n]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_merkle_root_matches_hand_built_trees(n: int):
    lf = [sha(b"\x00", bytes([i])) for i in range(n)]

    def node(a: bytes, b: bytes) -> bytes:
        return sha(b"\x01", a, b)

    expected = {
        1: lambda: lf[0],
        2: lambda: node(lf[0], lf[1]),
        3: lambda: node(node(lf[0], lf[1]), lf[2]),
        5: lambda: node(node(node(lf[0], lf[1]), node(lf[2], lf[3])), lf[4]),
        8: lambda: node(
            node(node(lf[0], lf[1]), node(lf[2], lf[3])),
            node(node(lf[4], lf[5]), node(lf[6], lf[7])),
        ),
    }[n]()
    assert vb.merkle_root(lf) == expected


def test_merkle_root_agrees_with_the_recursive_definition_for_every_small_size():
    leaves = [vb.leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
    for n in range(len(leaves) + 1):
        assert vb.merkle_root(leaves[:n]) == mth(leaves[:n]), n


def test_merkle_root_handles_a_hundred_thousand_leaves_quickly():
    leaves = [vb.leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    started = time.perf_counter()
    vb.merkle_root(leaves)
    assert time.perf_counter() - started < 5


def test_merkle_root_refuses_leaves_that_are_not_hashes():
    with pytest.raises(ValueError):
        vb.merkle_root([b"short"])


# --------------------------------------------------------------------------
# C2SP signed notes
# --------------------------------------------------------------------------

ROOT = hashlib.sha256(b"root").digest()


def test_key_id_follows_the_signed_note_spec(key: Ed25519PrivateKey):
    raw = key.public_key().public_bytes_raw()
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert vb.key_id(ORIGIN, key.public_key()) == expected
    encoded = base64.b64encode(b"\x01" + raw).decode()
    assert vb.verifier_key(ORIGIN, key.public_key()) == f"{ORIGIN}+{expected.hex()}+{encoded}"


def test_a_signed_checkpoint_has_the_c2sp_layout_and_round_trips(key: Ed25519PrivateKey):
    note = vb.sign_checkpoint(key, ORIGIN, 7, ROOT)
    text, signature_line = note.split("\n\n")

    assert text + "\n" == vb.checkpoint_text(ORIGIN, 7, ROOT)
    assert text == f"{ORIGIN}\n7\n{base64.b64encode(ROOT).decode()}"
    prefix = f"\u2014 {ORIGIN} "
    assert signature_line.startswith(prefix) and signature_line.endswith("\n")
    blob = base64.b64decode(signature_line[len(prefix) : -1])
    assert blob[:4] == vb.key_id(ORIGIN, key.public_key()) and len(blob) == 68
    assert vb.parse_and_verify_note(note, key.public_key(), ORIGIN) == (7, ROOT)


def witness_line(name: str) -> str:
    other = Ed25519PrivateKey.generate()
    signature = other.sign(b"whatever")
    blob = vb.key_id(name, other.public_key()) + signature
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


def test_unknown_key_signature_lines_are_ignored(key: Ed25519PrivateKey):
    note = vb.sign_checkpoint(key, ORIGIN, 7, ROOT)
    text, ours = note.split("\n\n")
    witnesses = "".join(witness_line(f"witness{i}.example") for i in range(16))
    cosigned = f"{text}\n\n{witnesses}{witness_line(ORIGIN)}{ours}"

    assert vb.parse_and_verify_note(cosigned, key.public_key(), ORIGIN) == (7, ROOT)


def test_a_note_signed_only_by_unknown_keys_is_rejected(key: Ed25519PrivateKey):
    text = vb.checkpoint_text(ORIGIN, 7, ROOT)
    note = f"{text}\n{witness_line('witness.example')}{witness_line(ORIGIN)}"

    with pytest.raises(vb.NoteError, match="no valid signature"):
        vb.parse_and_verify_note(note, key.public_key(), ORIGIN)


def test_a_bad_signature_from_the_pinned_key_rejects_the_note(key: Ed25519PrivateKey):
    note = vb.sign_checkpoint(key, ORIGIN, 7, ROOT)
    forged = note.replace("\n7\n", "\n8\n", 1)

    with pytest.raises(vb.NoteError, match="does not verify"):
        vb.parse_and_verify_note(forged, key.public_key(), ORIGIN)


def test_a_note_for_another_origin_is_rejected(key: Ed25519PrivateKey):
    other_origin = vb.sign_checkpoint(key, "other.example/log", 7, ROOT)
    with pytest.raises(vb.NoteError):
        vb.parse_and_verify_note(other_origin, key.public_key(), ORIGIN)

    # Even signed under our key name, a text naming another origin is refused.
    text = "other.example/log\n7\n" + base64.b64encode(ROOT).decode() + "\n"
    blob = vb.key_id(ORIGIN, key.public_key()) + key.sign(text.encode())
    note = f"{text}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(vb.NoteError, match="origin"):
        vb.parse_and_verify_note(note, key.public_key(), ORIGIN)


def signed(key: Ed25519PrivateKey, text: str) -> str:
    blob = vb.key_id(ORIGIN, key.public_key()) + key.sign(text.encode())
    return f"{text}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n"


B64_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n007\n{B64_ROOT}\n",  # leading zeros
        f"{ORIGIN}\n-7\n{B64_ROOT}\n",
        f"{ORIGIN}\n7\n{B64_ROOT}\nextension line\n",
        f"{ORIGIN}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"{ORIGIN}\n7\n{B64_ROOT.rstrip('=')}\n",  # unpadded base64
    ],
)
def test_a_signed_but_malformed_checkpoint_text_is_rejected(key: Ed25519PrivateKey, text: str):
    with pytest.raises(vb.NoteError):
        vb.parse_and_verify_note(signed(key, text), key.public_key(), ORIGIN)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda note: note.replace("\n\n", "\n"),  # no blank line
        lambda note: note + "\n",  # trailing blank line
        lambda note: note.rstrip("\n"),  # unterminated signature line
        lambda note: note.replace("\u2014", "-"),  # not an em dash
        lambda note: note.replace("\n", "\r\n"),  # control characters
        lambda note: note[:-5] + "!!!!\n",  # broken base64
        lambda note: note + "garbage\n",
    ],
)
def test_a_malformed_note_is_rejected(key: Ed25519PrivateKey, mangle: Callable[[str], str]):
    note = vb.sign_checkpoint(key, ORIGIN, 7, ROOT)
    with pytest.raises(vb.NoteError):
        vb.parse_and_verify_note(mangle(note), key.public_key(), ORIGIN)


def test_key_helpers_round_trip_pem(tmp_path: Path):
    pem = vb.generate_private_key_pem()
    (tmp_path / "signing.pem").write_bytes(pem)
    private = vb.load_private_key(tmp_path / "signing.pem")
    public = vb.public_key_from_pem(vb.public_key_pem(private).decode())

    note = vb.sign_checkpoint(private, ORIGIN, 1, ROOT)
    assert vb.parse_and_verify_note(note, public, ORIGIN) == (1, ROOT)
    with pytest.raises(ValueError):
        vb.public_key_from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
