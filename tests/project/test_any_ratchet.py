"""A ratchet on ``typing.Any`` in the project's code (ADR 0016): the count may only go down.

``Any`` switches the type checker off for a value, so it belongs only at true boundaries (raw
JSON before validation, ``*args/**kwargs`` passed through, untyped third-party callbacks). No
database.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: The code ``mypy --strict`` checks (``[tool.mypy] files`` in pyproject.toml).
CHECKED = (
    "rsp_portal",
    "core",
    "audit",
    "policies",
    "evaluations",
    "suites",
    "governance",
    "clients/python/rsp_client",
    "accountability",
    "transparency",
)

#: Uses of ``Any`` left in the checked code. Lower it when you remove some; never raise it.
#: Raised once, from 465, when issues 21-29 landed together with two new apps (accountability,
#: transparency) whose JSON payloads sit at the API boundary; lowered since (the outbox, the
#: append-only guard's migration hooks and the importers' value checks typed).
MAX_ANY = 473


def _annotation_strings(tree: ast.AST) -> list[str]:
    """String annotations (``x: "dict[str, Any]"``) and string type aliases, to parse too."""
    found: list[str] = []
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            annotations += [arg.annotation for arg in every if arg is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
            if isinstance(node.annotation, ast.Name) and node.annotation.id == "TypeAlias":
                annotations.append(node.value)
        found += [
            a.value for a in annotations if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
    return found


def count_any(source: str) -> int:
    """How often ``Any`` is used (imports aside) in one module's source."""
    tree = ast.parse(source)
    count = sum(
        1
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "Any")
        or (isinstance(node, ast.Attribute) and node.attr == "Any")
    )
    for text in _annotation_strings(tree):
        try:
            count += count_any(text)
        except SyntaxError:  # a forward reference that is not an expression
            continue
    return count


def any_by_module(root: Path = REPO) -> dict[str, int]:
    """``{path: uses of Any}`` for every checked module that has some (migrations aside)."""
    counts: dict[str, int] = {}
    for folder in CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found = count_any(path.read_text(encoding="utf-8"))
            if found:
                counts[str(path.relative_to(root))] = found
    return counts


def test_any_is_not_used_more_than_before() -> None:
    counts = any_by_module()
    total = sum(counts.values())
    worst = ", ".join(
        f"{path} ({n})" for path, n in sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    )
    assert total <= MAX_ANY, (
        f"{total} uses of typing.Any in the project's code, more than the {MAX_ANY} allowed. "
        "Give the new value its real type (a model via a TYPE_CHECKING import, a TypedDict or "
        "dataclass for a fixed-shape dict, object for a value only passed on, "
        "Mapping[str, object] for read-only JSON); Any is for true boundaries only (ADR 0016). "
        f"Most uses: {worst}."
    )
    if total < MAX_ANY:
        print(f"Any ratchet: {total} uses; lower MAX_ANY in {Path(__file__).name} to {total}.")


def test_the_count_finds_every_kind_of_use(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "import typing\n"
        "from typing import Any, TypeAlias\n"
        "Json: TypeAlias = 'dict[str, Any]'\n"
        "def f(a: Any, *args: Any, b: 'list[Any]' = None, **kw: typing.Any) -> dict[str, Any]:\n"
        "    x: 'Any' = cast(Any, a)\n"
        "    '''Any in a docstring is prose, not a use.'''\n"
        "    return {}\n"
    )
    assert count_any(source) == 8
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "m.py").write_text(source, encoding="utf-8")
    (tmp_path / "core" / "migrations").mkdir()
    (tmp_path / "core" / "migrations" / "0001_x.py").write_text(source, encoding="utf-8")
    assert any_by_module(tmp_path) == {"core/m.py": 8}
