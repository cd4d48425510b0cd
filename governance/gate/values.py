"""How the engine orders ids and writes numbers and dates in its messages and JSON."""

from __future__ import annotations

from datetime import datetime

from governance.gate.codes import ObjectId


def id_order(value: ObjectId) -> tuple[int, int, str]:
    # Integers compare numerically (10 after 9); strings after all integers.
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, str(value))


def json_float(value: float | None) -> float | str | None:
    # Strict JSON has no NaN/Infinity; keep them visible as strings, not dropped.
    if value is None or value - value == 0:
        return value
    return str(value)


def fmt_number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def fmt_flop(value: float) -> str:
    return f"{value:.4g} FLOP"


def fmt_date(value: datetime) -> str:
    return value.date().isoformat()
