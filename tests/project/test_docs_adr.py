"""The ADR folder: one file per number, and every reference to an ADR file resolves."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ADR = REPO / "docs" / "adr"


def test_each_adr_number_is_used_once() -> None:
    numbers = Counter(path.name[:4] for path in ADR.glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert numbers, "no ADR found"
    assert [n for n, count in numbers.items() if count > 1] == []


def test_each_adr_heading_carries_its_file_number() -> None:
    for path in ADR.glob("[0-9][0-9][0-9][0-9]-*.md"):
        heading = path.read_text(encoding="utf-8").splitlines()[0]
        assert heading.startswith(f"# {path.name[:4]}"), path.name


def test_every_reference_to_an_adr_file_exists() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    missing = []
    for name in tracked:
        path = REPO / name
        if path.suffix not in {".md", ".py", ".html", ".yaml", ".toml", ".txt"}:
            continue
        if not path.is_file():
            continue
        for ref in re.findall(r"docs/adr/([0-9]{4}-[a-z0-9-]+\.md)", path.read_text("utf-8")):
            if not (ADR / ref).is_file():
                missing.append(f"{name}: {ref}")
    assert missing == []
