"""The gate's reasons in words, grouped for people: one line per kind of problem, each with
the page that resolves it. Codes stay in the API; pages show them only as small badges.

Pure presentation over the gate's payload (plain dicts in, plain dicts out); no ORM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from governance.gate.codes import (
    MANUAL_PAUSE,
    MISSING_EVIDENCE,
    RANK,
    REASON,
    SAFEGUARD_MISSING,
    THRESHOLD_CROSSED,
    ReasonInfo,
)
from governance.models import Scope


@dataclass
class ReasonGroup:
    """One readable line of "why it is paused", with its details and where to fix it."""

    code: str
    title: str
    items: list[str] = field(default_factory=list)
    link: str = ""
    link_label: str = ""
    count: int = 0
    #: The table's group of ``code`` (``governance.gate.codes.ReasonInfo.group``).
    group: str = ""


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


#: A stored reason or determination (read-only JSON).
Row = Mapping[str, object]


def _by_standard(reasons: Sequence[Row]) -> str:
    counts = Counter(str(r.get("standard") or "?") for r in reasons)
    return ", ".join(f"{standard} {n}" for standard, n in sorted(counts.items()))


#: A determination's status as the crossing that raised a standard ("CBRN-3 crossed → …").
_RAISED_WORDS = {
    "crossed": "crossed",
    "presumed": "presumed crossed",
    "warning": "at its warning line",
}


def group_reasons(
    reasons: Sequence[Row],
    model_slug: str,
    determinations: Sequence[Row] | None = None,
) -> list[ReasonGroup]:
    """The gate's reasons as a few readable groups, in the reason table's order.

    Safeguard reasons are grouped by the crossing that raised their standard (the reason's
    ``threshold``): "CBRN-3 crossed → ASL-3-S: 5 to verify", crossings first, then the
    baseline's. ``determinations`` (the gate's) give each crossing its status word.
    """
    by_code: dict[str, list[Row]] = {}
    for reason in reasons:
        by_code.setdefault(str(reason.get("code", "")), []).append(reason)
    status = {str(d.get("threshold")): str(d.get("status")) for d in determinations or []}
    groups: list[ReasonGroup] = []
    for code in sorted(by_code, key=lambda c: RANK.get(c, len(RANK))):
        rows = by_code[code]
        if code in REASON and REASON[code].group == "safeguards":
            made = _safeguard_groups(code, rows, model_slug, status, _all_below(determinations))
        else:
            made = [_group(code, rows, model_slug)]
        for group in made:
            group.group = REASON[code].group if code in REASON else ""
        groups.extend(made)
    return groups


def _all_below(determinations: Sequence[Row] | None) -> bool:
    """Nothing is at or past a line: only the baseline can have raised a standard."""
    return determinations is not None and all(d.get("status") == "below" for d in determinations)


def _safeguard_groups(
    code: str,
    rows: Sequence[Row],
    slug: str,
    status: dict[str, str],
    all_below: bool,
) -> list[ReasonGroup]:
    """One group per crossing that raised the standards, then the baseline's.

    A reason without ``threshold`` is the baseline's when another reason names a threshold,
    or when nothing is at or past a line; a verdict recorded before reasons named their
    crossing says nothing more about it.
    """
    link, link_label = _link(REASON.get(code), slug)
    verb = "to verify" if code == SAFEGUARD_MISSING else "to re-verify (expired)"
    by_threshold: dict[str | None, list[Row]] = {}
    for row in rows:
        threshold = row.get("threshold")
        by_threshold.setdefault(str(threshold) if threshold else None, []).append(row)
    named = sorted(t for t in by_threshold if t is not None)
    groups = []
    for threshold in [*named, None]:
        mine = by_threshold.get(threshold)
        if not mine:
            continue
        standards = {str(r.get("standard") or "?") for r in mine}
        what = _by_standard(mine) if len(standards) > 1 else standards.pop()
        if threshold is not None:
            word = _RAISED_WORDS.get(status.get(threshold, ""), "")
            title = f"{threshold}{' ' + word if word else ''} → {what}: {len(mine)} {verb}"
        elif named or all_below:
            title = f"Baseline → {what}: {len(mine)} {verb}"
        else:
            title = f"{_plural(len(mine), 'safeguard')} {verb} ({_by_standard(mine)})"
        messages = [str(r.get("message", "")) for r in mine]
        groups.append(ReasonGroup(code, title, messages, link, link_label, len(mine)))
    return groups


def crossings(gate: Mapping[str, Any]) -> list[dict[str, object]]:
    """The red lines the gate determined crossed (on evidence or by a precaution), each with
    the indicators past their line and the standards it raised that still wait (from the
    safeguard reasons): what the "why it is paused" box names first."""
    waiting: dict[str, Counter[str]] = {}
    for reason in gate.get("reasons", []):
        info = REASON.get(str(reason.get("code")))
        if info is not None and info.group == "safeguards" and reason.get("threshold"):
            waiting.setdefault(str(reason["threshold"]), Counter())[
                str(reason.get("standard"))
            ] += 1
    rows = []
    for d in gate.get("determinations", []):
        if d.get("status") != "crossed" or d.get("tier") == "early_warning":
            continue
        past = [i for i in d.get("indicators", []) if i.get("status") == "crossed"]
        rows.append(
            {
                "threshold": d.get("threshold"),
                "name": d.get("name"),
                "precaution": d.get("precaution"),
                "indicators": past,
                "waiting": sorted(waiting.get(str(d.get("threshold")), Counter()).items()),
            }
        )
    return rows


def _link(row: ReasonInfo | None, slug: str) -> tuple[str, str]:
    """The page that resolves a reason (``ReasonInfo.link``) and the link's words."""
    if row is None or not row.link:
        return "", ""
    if row.link in _GLOBAL_PAGES:
        return reverse(row.link), row.link_label
    anchor = "#triggers" if row.group == "due" else ""
    return reverse(row.link, args=[slug]) + anchor, row.link_label


#: Pages of the whole portal (the rest are a model's pages, reached with its slug).
_GLOBAL_PAGES = frozenset({"policy-versions", "audit-status"})


def _group(code: str, rows: Sequence[Row], slug: str) -> ReasonGroup:
    info = REASON.get(code)
    messages = [str(r.get("message", "")) for r in rows]
    link, link_label = _link(info, slug)
    group = info.group if info is not None else ""
    if code == MISSING_EVIDENCE:
        thresholds = sorted({str(r.get("threshold")) for r in rows if r.get("threshold")})
        metrics = sorted({str(r.get("metric")) for r in rows if r.get("metric")})
        title = (
            f"{_plural(len(thresholds), 'threshold')} presumed crossed "
            f"({', '.join(thresholds)}): no evaluation yet for {', '.join(metrics)}"
        )
        return ReasonGroup(code, title, messages, link, link_label, len(rows))
    if code == THRESHOLD_CROSSED:
        thresholds = sorted({str(r.get("threshold")) for r in rows if r.get("threshold")})
        title = (
            f"{', '.join(thresholds)} crossed and the policy defines no way past "
            f"{'it' if len(thresholds) == 1 else 'them'} yet"
        )
        return ReasonGroup(code, title, messages, link, link_label, len(rows))
    if group == "decision":
        title = messages[0] if len(messages) == 1 else "; ".join(messages)
        return ReasonGroup(code, title, [], link, link_label, len(rows))
    if group == "pause":
        title = _plural(len(rows), "pause") + " in force: " + "; ".join(messages)
        return ReasonGroup(code, title, [], link, link_label, len(rows))
    return ReasonGroup(code, " ".join(messages), [], link, link_label, len(rows))


def summary(
    reasons: Sequence[Row],
    model_slug: str,
    determinations: Sequence[Row] | None = None,
) -> list[str]:
    """One short line per group (the dashboard's reasons column)."""
    return [g.title for g in group_reasons(reasons, model_slug, determinations)]


def approval_effects(dossier: dict[str, Any]) -> dict[str, Any]:
    """What approving this dossier will and will not do, from the dossier alone.

    An approval counts as the decision of its scope (clearing ``no_approval`` up to the limit),
    lifts the manual pauses in force when it was requested and the precautions it names. It
    never makes a failing automatic check pass.
    """
    scope = dossier.get("scope", Scope.SCALING)
    checks = dossier.get("automatic_checks", []) or []
    pauses = [r for r in checks if r.get("code") == MANUAL_PAUSE]
    blocking = [r for r in checks if r.get("code") != MANUAL_PAUSE]
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
        "blocking": group_reasons(
            blocking, str(dossier.get("model", "")), dossier.get("determinations")
        ),
        "opens_gate": not blocking,
    }
