"""The offline bundle verifier: every tampering scenario is rejected, the command line, and
a property over single mutations. The cryptographic parts are in
``tests/audit/test_audit_crypto.py``; the synthetic logs in ``tests/bundle_fixtures.py``.

Every tampering scenario (edited, deleted, reordered or inserted entries, forged or
forked checkpoints) is built here from a fresh key and a synthetic log: the verifier must
reject it and name the first bad sequence number the scenario implies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import verify_bundle as vb
from tests.bundle_fixtures import (
    ORIGIN,
    REPO,
    Entry,
    edit_entries,
    make_body,
    make_log,
    read_lines,
    record_for,
    rejection,
    rejection_with,
    run_verifier,
    sign_sizes,
    write,
    write_lines,
)

#: The fixtures ``key``, ``log`` and ``bundle``.
pytest_plugins = ["tests.bundle_plugin"]

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


def test_the_fast_path_parses_with_msgspec_installed_with_the_project():
    """requirements.txt pins msgspec: the portal's own verifications take the fast parse."""
    assert vb._parse_body is vb._parse_with_msgspec


@pytest.mark.parametrize("without", [(), ("msgspec",)], ids=["with-msgspec", "without-msgspec"])
def test_the_verifier_runs_standalone_without_django(
    bundle: Path, log: list[Entry], tmp_path: Path, without: tuple[str, ...]
):
    """On the standard library and ``cryptography``; msgspec, when installed, only parses
    faster (ADR 0058), and an auditor without it gets the same verdicts."""
    for script in (REPO / "audit" / "verify_bundle.py", bundle / vb.VERIFIER_FILE):
        good = run_verifier(script, bundle, tmp_path, without)
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stdout.startswith(f"OK: 40 entries, 3 checkpoints, head {log[-1][2].hex()}\n")

    lines = read_lines(bundle / vb.ENTRIES_FILE)
    del lines[23]
    write_lines(bundle / vb.ENTRIES_FILE, lines)
    bad = run_verifier(bundle / vb.VERIFIER_FILE, bundle, tmp_path, without)
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
