"""The gate's reasons in words, grouped for people: one line per kind of problem, each with
the page that resolves it. Codes stay in the API; pages show them only as small badges.

Pure presentation over the gate's payload (plain dicts in, plain dicts out); no ORM.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from governance.models import Scope

#: Display order: what stops everything first, paperwork last.
ORDER = (
    "audit_unverified",
    "internal_error",
    "no_active_policy",
    "no_checkpoint",
    "manual_pause",
    "threshold_crossed",
    "missing_evidence",
    "evaluation_due_compute",
    "evaluation_due_time",
    "safeguard_missing",
    "safeguard_expired",
    "decision_outdated",
    "exceeds_approved_compute",
    "no_approval",
)


@dataclass
class ReasonGroup:
    """One readable line of "why it is paused", with its details and where to fix it."""

    code: str
    title: str
    items: list[str] = field(default_factory=list)
    link: str = ""
    link_label: str = ""
    count: int = 0


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _by_standard(reasons: list[dict[str, Any]]) -> str:
    counts = Counter(str(r.get("standard") or "?") for r in reasons)
    return ", ".join(f"{standard} {n}" for standard, n in sorted(counts.items()))


def group_reasons(reasons: list[dict[str, Any]], model_slug: str) -> list[ReasonGroup]:
    """The gate's reasons as a few readable groups, in a fixed order."""
    by_code: dict[str, list[dict[str, Any]]] = {}
    for reason in reasons:
        by_code.setdefault(str(reason.get("code", "")), []).append(reason)
    groups: list[ReasonGroup] = []
    for code in sorted(by_code, key=lambda c: ORDER.index(c) if c in ORDER else len(ORDER)):
        rows = by_code[code]
        groups.append(_group(code, rows, model_slug))
    return groups


def _group(code: str, rows: list[dict[str, Any]], slug: str) -> ReasonGroup:
    messages = [str(r.get("message", "")) for r in rows]
    model_url = reverse("model-detail", args=[slug])
    if code == "missing_evidence":
        thresholds = sorted({str(r.get("threshold")) for r in rows if r.get("threshold")})
        metrics = sorted({str(r.get("metric")) for r in rows if r.get("metric")})
        return ReasonGroup(
            code,
            f"{_plural(len(thresholds), 'threshold')} presumed crossed "
            f"({', '.join(thresholds)}): no evaluation yet for {', '.join(metrics)}",
            messages,
            reverse("result-create", args=[slug]),
            "Log or import results",
            len(rows),
        )
    if code in ("safeguard_missing", "safeguard_expired"):
        verb = "to verify" if code == "safeguard_missing" else "to re-verify (expired)"
        return ReasonGroup(
            code,
            f"{_plural(len(rows), 'safeguard')} {verb} ({_by_standard(rows)})",
            messages,
            reverse("safeguards", args=[slug]),
            "Safeguards checklist",
            len(rows),
        )
    if code == "threshold_crossed":
        thresholds = sorted({str(r.get("threshold")) for r in rows if r.get("threshold")})
        return ReasonGroup(
            code,
            f"{', '.join(thresholds)} crossed and the policy defines no way past "
            f"{'it' if len(thresholds) == 1 else 'them'} yet",
            messages,
            reverse("policy-versions"),
            "Policy versions",
            len(rows),
        )
    if code in ("no_approval", "exceeds_approved_compute", "decision_outdated"):
        return ReasonGroup(
            code,
            messages[0] if len(messages) == 1 else "; ".join(messages),
            [],
            reverse("decision-request", args=[slug]),
            "Request a decision",
            len(rows),
        )
    if code == "manual_pause":
        return ReasonGroup(
            code,
            _plural(len(rows), "pause") + " in force: " + "; ".join(messages),
            [],
            reverse("decision-request", args=[slug]),
            "Request a decision to resume",
            len(rows),
        )
    if code in ("evaluation_due_compute", "evaluation_due_time"):
        return ReasonGroup(
            code, " ".join(messages), [], model_url + "#triggers", "Triggers", len(rows)
        )
    return ReasonGroup(code, " ".join(messages), [], "", "", len(rows))


def summary(reasons: list[dict[str, Any]], model_slug: str) -> list[str]:
    """One short line per group (the dashboard's reasons column)."""
    return [g.title for g in group_reasons(reasons, model_slug)]


def approval_effects(dossier: dict[str, Any]) -> dict[str, Any]:
    """What approving this dossier will and will not do, from the dossier alone.

    An approval counts as the decision of its scope (clearing ``no_approval`` up to the limit),
    lifts the manual pauses in force when it was requested and the precautions it names. It
    never makes a failing automatic check pass.
    """
    scope = dossier.get("scope", Scope.SCALING)
    checks = dossier.get("automatic_checks", []) or []
    pauses = [r for r in checks if r.get("code") == "manual_pause"]
    blocking = [r for r in checks if r.get("code") != "manual_pause"]
    will: list[str] = []
    limit = dossier.get("compute_limit")
    if scope == Scope.DEPLOYMENT:
        will.append("Counts as the deployment decision for this model as evaluated.")
    else:
        will.append(
            f"Counts as the scaling decision up to {float(limit):.3g} FLOP effective compute."
            if limit is not None
            else "Counts as the scaling decision."
        )
    if pauses:
        will.append(
            f"Lifts the {_plural(len(pauses), 'manual pause')} in force when it was requested."
        )
    if dossier.get("lifts_precautions"):
        ids = ", ".join(f"#{i}" for i in dossier["lifts_precautions"])
        will.append(f"Lifts precautionary determination(s) {ids}.")
    will_not = [
        "It does not approve "
        + ("further scaling." if scope == Scope.DEPLOYMENT else "deployment.")
    ]
    if blocking:
        will_not.append(
            "It does not open the gate while the checks below fail: the gate stays paused "
            "until each passes."
        )
    will_not.append(
        "It stops counting as soon as a threshold it does not show is crossed, or a standard "
        "it does not show becomes required."
    )
    return {
        "will": will,
        "will_not": will_not,
        "blocking": group_reasons(blocking, str(dossier.get("model", ""))),
        "opens_gate": not blocking,
    }
