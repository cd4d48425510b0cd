"""Whether a correction lowers a determination (then it needs a second person, ADR 0026)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from evaluations.models import EvalResult
from evaluations.policy import PolicyView
from policies import rules


def _listing(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


_LEVELS = {"below": 0, "warning": 1, "crossed": 2}


def _levels(
    policy: PolicyView, metric_key: str, value: float, stderr: float | None, mitigation: str
) -> dict[str, str]:
    """``{threshold code: below|warning|crossed}`` of one result, read as the gate reads it:
    at its conservative bound, and never above ``below`` when post-mitigation."""
    levels: dict[str, str] = {}
    for indicator in policy.indicators:
        if indicator.metric_key != metric_key:
            continue
        if mitigation == EvalResult.Mitigation.POST:
            status = "below"
        else:
            bound = rules.conservative_bound(
                value, stderr, policy.uncertainty_z, indicator.higher_is_more_capable
            )
            status = indicator.status(bound)
        code = indicator.threshold_code
        if code not in levels or _LEVELS[status] > _LEVELS[levels[code]]:
            levels[code] = status
    return levels


def lowering_changes(old: EvalResult, fields: Mapping[str, Any], policy: PolicyView) -> list[str]:
    """What a correction of ``old`` to ``fields`` would lower, in words; empty when it lowers
    nothing (then one person may make it). Lowering: a threshold the old result put at
    ``warning`` or ``crossed`` falls to a lower level, or a result that crossed or warned
    changes its metric or becomes post-mitigation."""
    before = {
        code: level
        for code, level in _levels(
            policy, old.metric_key, old.value, old.stderr, old.mitigation
        ).items()
        if level != "below"
    }
    if not before:
        return []
    changes: list[str] = []
    if fields["metric_key"] != old.metric_key:
        changes.append(
            f"moves a result that counts for {_listing(before)} from "
            f"{old.metric_key} to {fields['metric_key']}"
        )
    if old.mitigation != fields["mitigation"]:
        changes.append(
            f"relabels a result that counts for {_listing(before)} as "
            f"{fields['mitigation']}-mitigation"
        )
    after = _levels(
        policy, fields["metric_key"], fields["value"], fields["stderr"], fields["mitigation"]
    )
    for code, level in sorted(before.items()):
        new_level = after.get(code, "below")
        if _LEVELS[new_level] < _LEVELS[level]:
            changes.append(f"{code}: {level} → {new_level}")
    return changes
