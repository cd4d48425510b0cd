"""Lookups into a normalised policy pack, shared by the pack tests."""

from __future__ import annotations

from typing import Any


def threshold_of(pack: dict[str, Any], code: str) -> dict[str, Any]:
    """The threshold ``code`` of ``pack``."""
    return next(t for t in pack["thresholds"] if t["code"] == code)


def indicator_of(pack: dict[str, Any], code: str, metric: str) -> dict[str, Any]:
    """The indicator on ``metric`` of threshold ``code``."""
    return next(i for i in threshold_of(pack, code)["indicators"] if i["metric"] == metric)


def standard_of(pack: dict[str, Any], code: str) -> dict[str, Any]:
    """The standard ``code`` of ``pack``."""
    return next(s for s in pack["standards"] if s["code"] == code)
