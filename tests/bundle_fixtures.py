"""Synthetic audit logs and exported bundles for the offline verifier's tests.

``audit.verify_bundle`` must work without Django and without a database, so nothing here
needs either.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO),) if p not in sys.path]

from audit import verify_bundle as vb  # noqa: E402

ORIGIN = "rsp.example.org/audit/v1"
Entry = tuple[int, bytes, bytes]


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


def rejection_with(bundle: Path, **pins: Any) -> vb.VerificationError:
    with pytest.raises(vb.VerificationError) as info:
        vb.verify_bundle(bundle, **pins)
    return info.value


# Blocks every import of the modules named in its first argument (django always, and msgspec
# to run as on an auditor's machine without it), then runs the given script as __main__. `-I`
# already hides PYTHONPATH, the user site and the current directory.
BLOCKING_RUNNER = """
import importlib, importlib.abc, runpy, sys

BLOCKED = sys.argv[1].split(",")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available to the verifier")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    else:
        sys.exit(99)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_verifier(
    script: Path, bundle: Path, cwd: Path, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on ``bundle`` in a new interpreter without Django (nor ``without``)."""
    blocked = ",".join(("django", *without))
    return subprocess.run(
        [sys.executable, "-I", "-c", BLOCKING_RUNNER, blocked, str(script), str(bundle)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
