"""The freeze guard lists every column of a policy version but its status: a column added
without re-installing the guard could be edited on an active version by the table owner."""

from __future__ import annotations

import importlib
from pathlib import Path

from policies.models import PolicyVersion

MIGRATIONS = Path(__file__).resolve().parents[2] / "policies" / "migrations"


def test_the_newest_freeze_guard_covers_every_column_but_status():
    newest = max(
        (p for p in MIGRATIONS.glob("0*.py") if "VERSION_COLUMNS" in p.read_text()),
        key=lambda p: p.name,
    )
    module = importlib.import_module(f"policies.migrations.{newest.stem}")
    columns = {f.column for f in PolicyVersion._meta.concrete_fields} - {"status"}
    assert set(module.VERSION_COLUMNS) == columns
