"""House rules checked on the source tree: module size, references outside the repository, and
the purity of the gate engine and the policy rules. No database.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: A module longer than this is split by topic (CONTRIBUTING.md).
MAX_MODULE_LINES = 800
#: The offline verifier is one file on purpose: it is copied into every exported bundle.
LONG_BY_DESIGN = {"audit/verify_bundle.py"}

#: Folders that hold no project source: tools, caches, runtime data, generated migrations.
SKIPPED_DIRS = {"node_modules", "var", "media", "staticfiles", "control", "__pycache__"}

#: Pointers at design files kept outside the repository (split so this file does not match).
OUTSIDE_REFERENCES = ("../" + "shared", "DESIGN" + ".md", "STYLE" + ".md", "DESIGN" + " §")

#: Modules that must stay pure: no Django, no ORM, no project module outside this set.
PURE_MODULES = {
    "governance.gate",
    "governance.gate.codes",
    "governance.gate.commitments",
    "governance.gate.decisions",
    "governance.gate.determinations",
    "governance.gate.engine",
    "governance.gate.inputs",
    "governance.gate.requirements",
    "governance.gate.values",
    "governance.gate.verdict",
    "policies.diff",
    "policies.pack_format",
    "policies.pack_commitments",
    "policies.pack_validation",
    "policies.packs",
    "policies.rules",
}
PROJECT_PACKAGES = {"audit", "core", "evaluations", "governance", "policies", "rsp_portal"}
FRAMEWORKS = {"django", "rest_framework", "celery", "kombu", "drf_spectacular"}


def source_files(*suffixes: str, root: Path = REPO) -> Iterator[Path]:
    """Every file with one of ``suffixes`` below ``root``, outside hidden and skipped folders."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts[:-1]):
            continue
        if path.suffix in suffixes and path.is_file():
            yield path


def too_long(root: Path = REPO) -> list[str]:
    """The project modules over :data:`MAX_MODULE_LINES` lines, as ``"path: N lines"``."""
    found = []
    for path in source_files(".py", root=root):
        name = path.relative_to(root).as_posix()
        if "migrations" in path.parts or name in LONG_BY_DESIGN:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
    return found


def outside_references(root: Path = REPO) -> list[str]:
    """Every line of a ``.py`` or ``.md`` file that points at a file outside the repository."""
    found = []
    for path in source_files(".py", ".md", root=root):
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if any(ref in line for ref in OUTSIDE_REFERENCES):
                found.append(f"{path.relative_to(root).as_posix()}:{number}: {line.strip()}")
    return found


def impure_imports(module: str, root: Path = REPO) -> list[str]:
    """What ``module`` imports from a framework or from a project module that is not pure."""
    base = root.joinpath(*module.split("."))
    path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    imported: list[tuple[str, str]] = []  # (the module it comes from, the name imported)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.extend((alias.name, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.extend((node.module, f"{node.module}.{a.name}") for a in node.names)
    found = []
    for source, name in imported:
        if source in PURE_MODULES or name in PURE_MODULES:
            continue
        if source.split(".")[0] in FRAMEWORKS | PROJECT_PACKAGES:
            found.append(name)
    return found


def test_no_project_module_is_over_800_lines() -> None:
    assert too_long() == [], "split these modules by topic (CONTRIBUTING.md)"


def test_no_file_points_at_design_files_outside_the_repository() -> None:
    assert outside_references() == []


@pytest.mark.parametrize("module", sorted(PURE_MODULES))
def test_the_gate_engine_and_the_policy_rules_stay_pure(module: str) -> None:
    assert impure_imports(module) == []


# ------------------------------------------------------------- the checks can fail


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "app" / "fine.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    (tmp_path / "app" / "migrations").mkdir()
    (tmp_path / "app" / "migrations" / "0001_initial.py").write_text("x = 1\n" * 2000)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "huge.py").write_text("x = 1\n" * 2000)
    assert too_long(tmp_path) == [f"app/big.py: {MAX_MODULE_LINES + 1} lines"]

    for number, ref in enumerate(OUTSIDE_REFERENCES):
        (tmp_path / f"note{number}.md").write_text(f"See {ref} for why.\n")
    (tmp_path / "app" / "mod.py").write_text('"""Read STYLE' + '.md first."""\n')
    assert len(outside_references(tmp_path)) == len(OUTSIDE_REFERENCES) + 1

    (tmp_path / "governance").mkdir()
    (tmp_path / "governance" / "gate.py").write_text(
        "from django.db import models\n"
        "import celery\n"
        "from governance.models import Pause\n"
        "from governance import services\n"
        "from policies import rules\n"
        "from policies.rules import add_months\n"
        "import json\n"
    )
    assert impure_imports("governance.gate", tmp_path) == [
        "django.db.models",
        "celery",
        "governance.models.Pause",
        "governance.services",
    ]
