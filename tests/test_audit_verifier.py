"""Tests for the audit log's cryptographic core and offline bundle verifier.

``audit.verify_bundle`` must work without Django and without a database, so
these tests need neither. Run them with
``pytest tests/test_audit_verifier.py -p no:django``.

Every tampering scenario (edited, deleted, reordered or inserted entries, forged or
forked checkpoints) is built here from a fresh key and a synthetic log: the verifier must
reject it and name the first bad sequence number the scenario implies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO),) if p not in sys.path]

from audit import verify_bundle as vb  # noqa: E402

ORIGIN = "rsp.example.org/audit/v1"
Entry = tuple[int, bytes, bytes]


# --------------------------------------------------------------------------
# Synthetic logs and bundles
# --------------------------------------------------------------------------


def ts(seq: int) -> str:
    return f"2025-03-01T{seq // 3600 % 24:02d}:{seq // 60 % 60:02d}:{seq % 60:02d}Z"


def make_body(
    seq: int, prev: bytes, origin: str = ORIGIN, action: str = "decision.approve"
) -> bytes:
    return vb.entry_body(
        origin=origin,
        seq=seq,
        prev=prev,
        ts=ts(seq),
        actor={"id": f"user-{seq % 3}", "role": "rso", "auth": "session"},
        action=action,
        obj={"type": "decision", "id": f"d-{seq}", "sha256": "ab" * 32},
        data={"threshold": "12.50", "n": seq, "note": "évaluation ✓"},
    )


def make_log(n: int) -> list[Entry]:
    entries: list[Entry] = []
    prev = vb.GENESIS_PREV
    for seq in range(n):
        body = make_body(seq, prev)
        leaf = vb.leaf_hash(body)
        entries.append((seq, body, leaf))
        prev = leaf
    return entries


def sign_sizes(key: Ed25519PrivateKey, entries: list[Entry], sizes: list[int]) -> list[str]:
    leaves = [leaf for _, _, leaf in entries]
    return [vb.sign_checkpoint(key, ORIGIN, n, vb.merkle_root(leaves[:n])) for n in sizes]


def write(path: Path, key: Ed25519PrivateKey, entries: list[Entry], notes: list[str]) -> Path:
    vb.write_bundle(
        path,
        ORIGIN,
        entries,
        notes,
        vb.public_key_pem(key),
        exported_at="2025-03-02T00:00:00Z",
    )
    return path


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def edit_entries(bundle: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Apply ``edit`` to the parsed entries.jsonl records and write them back."""
    records = [json.loads(line) for line in read_lines(bundle / vb.ENTRIES_FILE)]
    edit(records)
    write_lines(bundle / vb.ENTRIES_FILE, [json.dumps(r) for r in records])


def record_for(seq: int, body: bytes, leaf: bytes | None = None) -> dict[str, Any]:
    leaf = vb.leaf_hash(body) if leaf is None else leaf
    return {"seq": seq, "body_b64": base64.b64encode(body).decode(), "leaf_hash": leaf.hex()}


def rejection(bundle: Path) -> vb.VerificationError:
    with pytest.raises(vb.VerificationError) as info:
        vb.verify_bundle(bundle)
    return info.value


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log() -> list[Entry]:
    return make_log(40)


@pytest.fixture
def bundle(tmp_path: Path, key: Ed25519PrivateKey, log: list[Entry]) -> Path:
    """40 entries with signed checkpoints at sizes 10, 25 and 40."""
    return write(tmp_path / "bundle", key, log, sign_sizes(key, log, [10, 25, 40]))


# --------------------------------------------------------------------------
# The tampering scenarios
# --------------------------------------------------------------------------


def test_the_original_bundle_verifies(bundle: Path, log: list[Entry], key: Ed25519PrivateKey):
    report = vb.verify_bundle(bundle)

    assert report.entries == 40
    assert report.checkpoints == 3
    assert report.head == log[-1][2].hex()
    assert report.latest_checkpoint_size == 40
    assert report.unsigned_entries == 0
    assert report.verifier_key == vb.verifier_key(ORIGIN, key.public_key())


def test_it_rejects_one_changed_byte_in_a_body(bundle: Path):
    def flip(records: list[dict[str, Any]]) -> None:
        body = base64.b64decode(records[17]["body_b64"])
        body = body.replace(b"decision.approve", b"decision.apprave")
        records[17]["body_b64"] = base64.b64encode(body).decode()

    edit_entries(bundle, flip)

    error = rejection(bundle)
    assert error.seq == 17
    assert str(error) == "entry 17: leaf hash does not match body"


def test_it_rejects_a_deleted_entry(bundle: Path):
    def delete(records: list[dict[str, Any]]) -> None:
        del records[10]

    edit_entries(bundle, delete)

    error = rejection(bundle)
    assert error.seq == 10
    assert "missing" in error.message


def test_it_rejects_two_swapped_entries(bundle: Path):
    def swap(records: list[dict[str, Any]]) -> None:
        records[5], records[12] = records[12], records[5]

    edit_entries(bundle, swap)

    assert rejection(bundle).seq == 5


@pytest.mark.parametrize("renumber", [True, False], ids=["renumbered", "duplicate-seq"])
def test_it_rejects_an_inserted_entry(bundle: Path, log: list[Entry], renumber: bool):
    # The forged entry is internally perfect (right seq, prev and hash), so the
    # chain can only break at the genuine entry that follows it.
    forged = make_body(8, log[7][2], action="decision.forged")

    def insert(records: list[dict[str, Any]]) -> None:
        records.insert(8, record_for(8, forged))
        if renumber:
            for position in range(9, len(records)):
                records[position]["seq"] = position

    edit_entries(bundle, insert)

    error = rejection(bundle)
    assert error.seq == 9
    assert str(error).startswith("entry 9: ")


@pytest.mark.parametrize("cover_tracks", [False, True], ids=["manifest-kept", "manifest-edited"])
def test_it_rejects_a_tail_truncated_below_a_signed_checkpoint(bundle: Path, cover_tracks: bool):
    entries_file = bundle / vb.ENTRIES_FILE
    write_lines(entries_file, read_lines(entries_file)[:30])
    if cover_tracks:
        manifest = json.loads((bundle / vb.MANIFEST_FILE).read_text())
        manifest["entries"] = 30
        (bundle / vb.MANIFEST_FILE).write_text(json.dumps(manifest))

    error = rejection(bundle)
    assert error.seq == 30
    assert "checkpoint #2 is signed for 40 entries" in error.message


def test_it_rejects_a_checkpoint_signed_by_another_key(
    tmp_path: Path, key: Ed25519PrivateKey, log: list[Entry]
):
    impostor = Ed25519PrivateKey.generate()
    notes = sign_sizes(key, log, [10, 25, 40])
    notes[1] = sign_sizes(impostor, log, [25])[0]  # correct root, same name, wrong key

    error = rejection(write(tmp_path / "b", key, log, notes))
    assert error.seq is None
    assert error.message == "checkpoint #1: no valid signature from the pinned key"


def test_it_rejects_a_checkpoint_whose_root_is_wrong(
    tmp_path: Path, key: Ed25519PrivateKey, log: list[Entry]
):
    notes = sign_sizes(key, log, [10, 25, 40])
    notes[1] = vb.sign_checkpoint(key, ORIGIN, 25, hashlib.sha256(b"not the root").digest())

    error = rejection(write(tmp_path / "b", key, log, notes))
    assert error.seq is None
    assert "checkpoint #1 (size 25): root does not match" in error.message
    assert "entries 10..24" in error.message  # checkpoint #0 matched entries 0..9


def test_a_rechained_rewrite_is_caught_by_the_checkpoint_covering_it(
    tmp_path: Path, key: Ed25519PrivateKey
):
    # Whoever can write the database rewrites entry 20 and re-chains everything
    # after it; only the signed checkpoints expose that.
    original = make_log(40)
    notes = sign_sizes(key, original, [10, 25, 40])
    forged = original[:20]
    prev = forged[-1][2]
    for seq in range(20, 40):
        body = make_body(seq, prev, action="decision.reject" if seq == 20 else "decision.approve")
        forged.append((seq, body, vb.leaf_hash(body)))
        prev = forged[-1][2]

    error = rejection(write(tmp_path / "b", key, forged, notes))
    assert "checkpoint #1 (size 25): root does not match" in error.message
    assert "entries 10..24" in error.message


def test_it_rejects_checkpoint_sizes_that_decrease(
    tmp_path: Path, key: Ed25519PrivateKey, log: list[Entry]
):
    error = rejection(write(tmp_path / "b", key, log, sign_sizes(key, log, [25, 10, 40])))
    assert error.message == "checkpoint #1: size 10 is smaller than the previous checkpoint's 25"


def test_it_rejects_a_listed_size_that_differs_from_the_signed_one(bundle: Path):
    lines = read_lines(bundle / vb.CHECKPOINTS_FILE)
    record = json.loads(lines[0])
    record["size"] = 11
    lines[0] = json.dumps(record)
    write_lines(bundle / vb.CHECKPOINTS_FILE, lines)

    assert "listed with size 11 but signed for 10" in rejection(bundle).message


def test_it_rejects_a_manifest_that_disagrees_with_the_entries(bundle: Path):
    manifest = json.loads((bundle / vb.MANIFEST_FILE).read_text())
    manifest["entries"] = 41
    (bundle / vb.MANIFEST_FILE).write_text(json.dumps(manifest))

    error = rejection(bundle)
    assert error.seq == 40
    assert "manifest lists 41 entries" in error.message


def test_unsigned_tail_entries_verify_and_are_reported(tmp_path: Path, key: Ed25519PrivateKey):
    log = make_log(30)
    report = vb.verify_bundle(write(tmp_path / "b", key, log, sign_sizes(key, log, [0, 20])))

    assert (report.entries, report.latest_checkpoint_size, report.unsigned_entries) == (30, 20, 10)


def test_pinned_key_and_origin_override_the_bundle_copies(bundle: Path, key: Ed25519PrivateKey):
    assert vb.verify_bundle(bundle, public_key=key.public_key(), origin=ORIGIN).entries == 40

    other = Ed25519PrivateKey.generate().public_key()
    assert "no valid signature" in str(rejection_with(bundle, public_key=other))
    assert "pinned" in str(rejection_with(bundle, origin="other.example/log"))


def rejection_with(bundle: Path, **pins: Any) -> vb.VerificationError:
    with pytest.raises(vb.VerificationError) as info:
        vb.verify_bundle(bundle, **pins)
    return info.value


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


# --------------------------------------------------------------------------
# Bundle files and the command line
# --------------------------------------------------------------------------


def test_write_bundle_is_self_contained_and_refuses_to_overwrite(
    bundle: Path, key: Ed25519PrivateKey
):
    assert (bundle / vb.VERIFIER_FILE).read_bytes() == Path(vb.__file__).read_bytes()
    assert (bundle / vb.VERIFY_MD_FILE).read_text() == vb.VERIFY_MD
    manifest = json.loads((bundle / vb.MANIFEST_FILE).read_text())
    assert manifest == {
        "origin": ORIGIN,
        "exported_at": "2025-03-02T00:00:00Z",
        "entries": 40,
        "checkpoints": 3,
    }
    with pytest.raises(FileExistsError):
        write(bundle, key, [], [])


def test_main_prints_ok_with_the_head(bundle: Path, log: list[Entry], capsys):
    assert vb.main([str(bundle)]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line == f"OK: 40 entries, 3 checkpoints, head {log[-1][2].hex()}"


@pytest.mark.parametrize(
    ("replacement", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[7]", "not a JSON object"),
        ('{"seq": "7", "body_b64": "", "leaf_hash": ""}', "no integer seq"),
        ('{"seq": 7, "body_b64": "@@@", "leaf_hash": "' + "0" * 64 + '"}', "invalid base64"),
        ('{"seq": 7, "body_b64": "", "leaf_hash": "XYZ"}', "malformed leaf_hash"),
    ],
)
def test_main_reports_a_malformed_entry_line_without_a_traceback(
    bundle: Path, capsys, replacement: str, reason: str
):
    lines = read_lines(bundle / vb.ENTRIES_FILE)
    lines[7] = replacement
    write_lines(bundle / vb.ENTRIES_FILE, lines)

    assert vb.main([str(bundle)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: entry 7: line 8 of entries.jsonl")
    assert reason in out


def test_main_reports_a_malformed_checkpoint_line(bundle: Path, capsys):
    (bundle / vb.CHECKPOINTS_FILE).write_text('{"size": 10}\n')

    assert vb.main([str(bundle)]) == 1
    assert capsys.readouterr().out.startswith("FAIL: line 1 of checkpoints.jsonl")


@pytest.mark.parametrize(
    "missing", [vb.MANIFEST_FILE, vb.ENTRIES_FILE, vb.CHECKPOINTS_FILE, vb.PUBLIC_KEY_FILE]
)
def test_main_exits_2_for_an_unreadable_bundle(bundle: Path, capsys, missing: str):
    (bundle / missing).unlink()

    assert vb.main([str(bundle)]) == 2
    assert capsys.readouterr().out.startswith("FAIL: unreadable bundle")


def test_main_exits_2_for_bad_usage_or_a_missing_directory(tmp_path: Path, capsys):
    assert vb.main([]) == 2
    assert vb.main([str(tmp_path / "nowhere")]) == 2
    (tmp_path / vb.MANIFEST_FILE).write_text("{")
    assert vb.main([str(tmp_path)]) == 2
    assert vb.main([str(tmp_path), "--public-key", str(tmp_path / "absent.pem")]) == 2


# Blocks every `django` import, then runs the given script as __main__. `-I`
# already hides PYTHONPATH, the user site and the current directory.
NO_DJANGO = """
import importlib.abc, runpy, sys

class BlockDjango(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ImportError("django is not available to the verifier")
        return None

sys.meta_path.insert(0, BlockDjango())
try:
    import django  # noqa: F401
except ImportError:
    pass
else:
    sys.exit(99)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_verifier(script: Path, bundle: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", NO_DJANGO, str(script), str(bundle)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_verifier_runs_standalone_without_django(
    bundle: Path, log: list[Entry], tmp_path: Path
):
    for script in (REPO / "audit" / "verify_bundle.py", bundle / vb.VERIFIER_FILE):
        good = run_verifier(script, bundle, tmp_path)
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stdout.startswith(f"OK: 40 entries, 3 checkpoints, head {log[-1][2].hex()}\n")

    lines = read_lines(bundle / vb.ENTRIES_FILE)
    del lines[23]
    write_lines(bundle / vb.ENTRIES_FILE, lines)
    bad = run_verifier(bundle / vb.VERIFIER_FILE, bundle, tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAIL: entry 23: ")
    assert bad.stderr == ""


# --------------------------------------------------------------------------
# Property: every single mutation of an exported bundle is rejected
# --------------------------------------------------------------------------

PROPERTY_KEY = Ed25519PrivateKey.generate()
MUTATIONS = [
    "flip_body",
    "flip_body_and_rehash",
    "change_leaf_hash",
    "drop_line",
    "duplicate_line",
    "swap_lines",
    "note_size",
    "note_root",
    "note_signature",
    "listed_size",
]


def flip_bit(data: bytes, position: int, bit: int) -> bytes:
    return data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1 :]


def mutate(draw: Callable[..., Any], kind: str, bundle: Path, n: int) -> set[int | None]:
    """Apply one random mutation of ``kind``; return the error seqs that may name it."""
    entries_file, checkpoints_file = bundle / vb.ENTRIES_FILE, bundle / vb.CHECKPOINTS_FILE
    lines = read_lines(entries_file)
    i = draw(st.integers(0, n - 1))
    record = json.loads(lines[i])
    body = base64.b64decode(record["body_b64"])
    bit = draw(st.integers(0, 7))

    if kind in ("flip_body", "flip_body_and_rehash"):
        body = flip_bit(body, draw(st.integers(0, len(body) - 1)), bit)
        if kind == "flip_body":
            lines[i] = json.dumps({**record_for(i, body), "leaf_hash": record["leaf_hash"]})
            expected: set[int | None] = {i}
        else:
            lines[i] = json.dumps(record_for(i, body))
            # A self-consistent entry breaks the next entry's prev; the last
            # entry is covered by the final checkpoint's root instead.
            expected = {i, i + 1} if i < n - 1 else {i, None}
    elif kind == "change_leaf_hash":
        leaf = flip_bit(bytes.fromhex(record["leaf_hash"]), draw(st.integers(0, 31)), bit)
        lines[i] = json.dumps({**record, "leaf_hash": leaf.hex()})
        expected = {i}
    elif kind == "drop_line":
        del lines[i]
        expected = {i}  # a gap, or for the last line a cut below the final checkpoint
    elif kind == "duplicate_line":
        lines.insert(i, lines[i])
        expected = {i + 1}
    elif kind == "swap_lines":
        j = draw(st.integers(0, n - 1).filter(lambda j: j != i))
        lines[i], lines[j] = lines[j], lines[i]
        expected = {min(i, j)}
    else:
        cps = read_lines(checkpoints_file)
        c = draw(st.integers(0, len(cps) - 1))
        cp = json.loads(cps[c])
        text, signature_line = cp["note"].split("\n\n")
        origin, size, root = text.split("\n")
        if kind == "note_size":
            new_size = draw(st.integers(0, n + 5).filter(lambda s: s != int(size)))
            cp = {"size": new_size, "note": f"{origin}\n{new_size}\n{root}\n\n{signature_line}"}
        elif kind == "note_root":
            flipped = flip_bit(base64.b64decode(root), draw(st.integers(0, 31)), bit)
            new_root = base64.b64encode(flipped).decode()
            cp["note"] = f"{origin}\n{size}\n{new_root}\n\n{signature_line}"
        elif kind == "note_signature":
            prefix, encoded = signature_line.rstrip("\n").rsplit(" ", 1)
            blob = base64.b64decode(encoded)
            blob = flip_bit(blob, draw(st.integers(0, len(blob) - 1)), bit)
            cp["note"] = f"{text}\n\n{prefix} {base64.b64encode(blob).decode()}\n"
        else:
            cp["size"] = cp["size"] + draw(st.sampled_from([-1, 1, 1000]))
        cps[c] = json.dumps(cp, ensure_ascii=False)
        write_lines(checkpoints_file, cps)
        return {None}

    write_lines(entries_file, lines)
    return expected


# Parametrized by kind so that every kind gets its share: left to itself,
# Hypothesis favours the first entry of a sampled_from list. 10 x 20 = 200.
@pytest.mark.parametrize("kind", MUTATIONS)
@settings(max_examples=20, derandomize=True, deadline=None)
@given(data=st.data())
def test_any_single_mutation_of_a_bundle_is_rejected(kind: str, data: st.DataObject):
    n = data.draw(st.integers(2 if kind == "swap_lines" else 1, 45), label="entries")
    # The last checkpoint always covers the whole log, so a dropped last line is
    # a cut below a signed checkpoint rather than an unsigned-tail change.
    sizes = [*sorted(data.draw(st.lists(st.integers(0, n), max_size=4), label="sizes")), n]
    log = make_log(n)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = write(Path(tmp) / "b", PROPERTY_KEY, log, sign_sizes(PROPERTY_KEY, log, sizes))
        assert vb.verify_bundle(bundle).entries == n

        expected = mutate(data.draw, kind, bundle, n)
        with pytest.raises(vb.VerificationError) as info:
            vb.verify_bundle(bundle)
        assert info.value.seq in expected, str(info.value)
