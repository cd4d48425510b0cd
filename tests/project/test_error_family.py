"""One error family (``rsp_portal/errors.py``): one ``ConflictError``, a machine-readable code on
every service error, and no view mapping an error to a status by hand."""

from __future__ import annotations

import ast
from pathlib import Path

from policies.services import ActivationError
from rsp_portal.api import exception_handler
from rsp_portal.errors import ConflictError, ServiceError, TooLargeError

REPO = Path(__file__).resolve().parents[2]
SKIPPED = {".venv", "tests", "node_modules", "var", "media", "staticfiles", "migrations", "bench"}
CLIENT = REPO / "clients"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in REPO.rglob("*.py")
        if not SKIPPED & set(path.relative_to(REPO).parts) and CLIENT not in path.parents
    ]


def test_there_is_one_conflict_error() -> None:
    defined = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == "ConflictError"
    ]
    assert [d.split(":")[0] for d in defined] == ["rsp_portal/errors.py"]


def test_no_view_answers_a_conflict_by_hand() -> None:
    by_hand = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "status":
                value = node.value
                if (isinstance(value, ast.Constant) and value.value == 409) or (
                    isinstance(value, ast.Attribute) and value.attr == "HTTP_409_CONFLICT"
                ):
                    by_hand.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert by_hand == []


def test_each_error_carries_its_status_and_code() -> None:
    assert (ServiceError.status_code, ServiceError.code) == (400, "invalid")
    assert (ConflictError.status_code, ConflictError.code) == (409, "conflict")
    assert (TooLargeError.status_code, TooLargeError.code) == (413, "too_large")
    assert issubclass(ActivationError, ConflictError)
    response = exception_handler(ActivationError("Only a draft can be activated."), {})
    assert response is not None and response.status_code == 409
    assert response.data == {
        "errors": {"version": ["Only a draft can be activated."]},
        "code": "activation_refused",
    }
