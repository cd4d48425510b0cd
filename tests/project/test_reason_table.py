"""One reason-code table (``governance.gate.codes.REASONS``): every code is spelled there and
nowhere else in the product, and the pages, e-mails and docs read their words from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from governance import reasons, views
from governance.gate import codes
from governance.gate.codes import RANK, REASON, REASON_CODES, REASONS, codes_of

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "governance" / "gate" / "codes.py"
#: Product code: everything but the tests, the tools and generated migrations.
# .ci: CI scripts read a running portal's answers as a client would (stdlib only).
SKIPPED = {
    ".venv",
    "tests",
    "node_modules",
    "var",
    "media",
    "staticfiles",
    "migrations",
    "bench",
    ".ci",
}


def _product_files(suffix: str) -> list[Path]:
    return [
        path
        for path in REPO.rglob(f"*{suffix}")
        if not SKIPPED & set(path.relative_to(REPO).parts) and path != TABLE
    ]


def test_each_code_constant_is_its_row() -> None:
    assert len(set(REASON_CODES)) == len(REASON_CODES) == len(REASONS)
    for row in REASONS:
        assert getattr(codes, row.code.upper()) == row.code
        assert row.label and row.meaning and row.next_step, row.code
        assert row.next_step[0].isupper() and row.next_step.endswith("."), row.code
        assert bool(row.link) == bool(row.link_label), row.code
    assert list(RANK) == list(REASON_CODES)
    # The codes for the audit trail and commitments have their rows already.
    assert {"audit_unverified", "commitment_overdue"} <= set(REASON)


def test_every_code_belongs_to_a_group_and_the_groups_are_the_known_ones() -> None:
    groups = {row.group for row in REASONS}
    assert groups == {
        "error", "audit", "policy", "evidence", "pause", "due", "safeguards", "commitments",
        "decision",
    }  # fmt: skip
    assert codes_of("decision") == {"decision_outdated", "exceeds_approved_compute", "no_approval"}


@pytest.mark.django_db
def test_each_link_resolves() -> None:
    for row in REASONS:
        if row.link:
            link, label = reasons._link(row, "atlas")
            assert link.startswith("/") and label == row.link_label


def test_no_code_is_spelled_outside_the_table() -> None:
    spelled: list[str] = []
    for path in _product_files(".py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in REASON:
                spelled.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    pattern = re.compile("[\"'](" + "|".join(REASON_CODES) + ")[\"']")
    for path in _product_files(".html") + _product_files(".txt"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                spelled.append(f"{path.relative_to(REPO)}:{n}")
    assert spelled == [], "use the constants of governance.gate.codes"


def test_the_pages_show_each_codes_next_step_from_the_table() -> None:
    gate = {"reasons": [{"code": code} for code in reversed(REASON_CODES)]}
    assert views.next_steps(gate) == list(dict.fromkeys(r.next_step for r in REASONS))


@pytest.mark.django_db
def test_reason_groups_follow_the_table_order() -> None:
    shuffled = [{"code": code, "message": code} for code in reversed(REASON_CODES)]
    groups = reasons.group_reasons(shuffled, "atlas")
    assert [g.code for g in groups] == list(REASON_CODES)
    assert [g.group for g in groups] == [row.group for row in REASONS]


def test_the_docs_list_every_code_in_order_with_its_meaning() -> None:
    text = (REPO / "docs" / "how-the-gate-decides.md").read_text(encoding="utf-8")
    section = text.split("## The reasons, in full", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", section, re.M)
    assert rows == [(row.code, row.meaning) for row in REASONS]
