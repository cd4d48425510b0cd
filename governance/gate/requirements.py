"""What the determinations require: the standards, their safeguards, and halts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from governance.gate.codes import (
    CROSSED_STATUSES,
    SAFEGUARD_EXPIRED,
    SAFEGUARD_MISSING,
    THRESHOLD_CROSSED,
    Scope,
)
from governance.gate.inputs import PolicySnapshot, SafeguardInfo, StandardSpec
from governance.gate.values import fmt_date
from governance.gate.verdict import Determination, Reason
from policies import rules
from policies.rules import add_months


def expand_standards(
    codes: Iterable[str], standards: Mapping[str, StandardSpec]
) -> tuple[str, ...]:
    """``codes`` plus every standard they include, transitively (see :mod:`policies.rules`)."""
    return rules.expand_standards(codes, {c: s.includes for c, s in standards.items()})


def requirements_of(codes: Iterable[str], standards: Mapping[str, StandardSpec]) -> dict[str, str]:
    """Map each requirement of the closure of ``codes`` to the standard listing it."""
    return rules.requirement_owners(
        codes,
        {c: s.includes for c, s in standards.items()},
        {c: s.requirements for c, s in standards.items()},
    )


def _triggering(policy: PolicySnapshot, d: Determination) -> bool:
    """Does determination ``d`` make its threshold's standards required?"""
    if d.tier == rules.EARLY_WARNING:
        return policy.warning_behaviour == "require_safeguards" and d.status != "below"
    if d.status in CROSSED_STATUSES:
        return True
    return d.status == "warning" and policy.warning_behaviour == "require_safeguards"


def required_standards(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> tuple[str, ...]:
    by_code = {t.code: t for t in policy.thresholds}
    codes = list(policy.baseline_standards)
    for d in determinations:
        if _triggering(policy, d):
            codes.extend(by_code[d.threshold].requires(scope))
    return expand_standards(codes, policy.standards)


def raised_by(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> dict[str, str | None]:
    """Which threshold raised each required standard: ``None`` for the baseline's standards
    (and those they include), else the first threshold, by code, whose scope standards
    include it. A reason about a standard's safeguards carries this as its ``threshold``."""
    by_code = {t.code: t for t in policy.thresholds}
    origins: dict[str, str | None] = dict.fromkeys(
        expand_standards(policy.baseline_standards, policy.standards)
    )
    for d in determinations:  # in threshold-code order
        if _triggering(policy, d):
            for code in expand_standards(by_code[d.threshold].requires(scope), policy.standards):
                origins.setdefault(code, d.threshold)
    return origins


def halt_reasons(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> list[Reason]:
    """A crossed red line that halts, or whose standard for the scope is undefined."""
    by_code = {t.code: t for t in policy.thresholds}
    reasons = []
    for d in determinations:
        threshold = by_code[d.threshold]
        if threshold.early_warning or d.status not in CROSSED_STATUSES:
            continue
        needed = threshold.requires(scope)
        undefined = [c for c in needed if c not in policy.standards]
        if threshold.halt:
            why = "the policy says development stops once it is crossed"
        elif not needed:
            why = f"the policy defines no standard that allows {scope} past it"
        elif undefined:
            why = f"the standard it requires for {scope} ({', '.join(undefined)}) is not defined"
        else:
            continue
        state = "presumed crossed" if d.status == "presumed" else "crossed"
        reasons.append(
            Reason(
                code=THRESHOLD_CROSSED,
                message=(
                    f"Threshold {threshold.code} ({threshold.name}) is {state} and {why}; "
                    f"{scope} cannot continue until the policy defines a way forward."
                ),
                threshold=threshold.code,
            )
        )
    return reasons


def required_level(policy: PolicySnapshot, required: tuple[str, ...]) -> str | None:
    levels = [policy.standards[c].level for c in required if c in policy.standards]
    if not levels:
        return None
    ranks = {code: rank for rank, code in enumerate(policy.levels)}
    return max(levels, key=lambda level: (ranks.get(level, -1), level))


# --------------------------------------------------------------------- safeguards


def safeguard_reasons(
    policy: PolicySnapshot,
    required: tuple[str, ...],
    safeguards: Mapping[str, SafeguardInfo],
    now: datetime,
    origins: Mapping[str, str | None],
) -> list[Reason]:
    """One reason per requirement of a required standard that is not verified (or expired);
    each names the threshold that raised its standard (``origins``, from :func:`raised_by`)."""
    reasons: list[Reason] = []
    for code in required:
        if code not in policy.standards:
            reasons.append(
                Reason(
                    code=SAFEGUARD_MISSING,
                    message=(
                        f"Standard {code} is required but the policy does not "
                        "define it, so its safeguards cannot be shown to be in place."
                    ),
                    standard=code,
                    threshold=origins.get(code),
                )
            )
    months = policy.safeguard_reapproval_months
    for requirement, standard in requirements_of(required, policy.standards).items():
        info = safeguards.get(requirement)
        if info is None or info.status != "verified" or info.verified_at is None:
            if info is None:
                state = "has no recorded status"
            elif info.status != "verified":
                state = f"is only {info.status}, not verified"
            else:
                state = "is marked verified but has no verification date"
            reasons.append(
                Reason(
                    code=SAFEGUARD_MISSING,
                    message=(
                        f"Safeguard requirement {requirement} (standard {standard}) is "
                        f"required but {state}."
                    ),
                    requirement=requirement,
                    standard=standard,
                    threshold=origins.get(standard),
                )
            )
        elif not now < add_months(info.verified_at, months):
            reasons.append(
                Reason(
                    code=SAFEGUARD_EXPIRED,
                    message=(
                        f"Safeguard requirement {requirement} (standard {standard}) "
                        f"was last verified on {fmt_date(info.verified_at)}, "
                        f"{months} months or more ago; it must be re-verified."
                    ),
                    requirement=requirement,
                    standard=standard,
                    threshold=origins.get(standard),
                )
            )
    return reasons
