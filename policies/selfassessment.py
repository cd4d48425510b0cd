"""Self-assessment of a policy against METR's "Common Elements of Frontier AI Safety Policies".

Pure: no Django, no ORM. METR (Aug 2024; updated Mar 2025 and Dec 2025) found that the
published frontier safety policies share these elements; each is marked ``met``,
``partly`` or ``not`` for a policy. Where the policy's data can tell, :func:`computed`
says so with a reason; the rest (how evaluations elicit capability, external review, how
the policy is updated) only people can judge, and they record it with an evidence link
(``SelfAssessmentRecord``), per policy version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from policies.pack_format import PACK_CHOICE, Pack

__all__ = ["ELEMENTS", "STATUSES", "Element", "Mark", "computed"]

STATUSES: tuple[str, ...] = ("met", "partly", "not")


@dataclass(frozen=True)
class Element:
    """One common element: its code, title and what "met" asks of a policy."""

    code: str
    title: str
    asks: str
    computable: bool


ELEMENTS: tuple[Element, ...] = (
    Element(
        "capability_thresholds",
        "Capability thresholds",
        "Thresholds at which risks would be unacceptable without mitigations, for each tracked "
        "risk domain, tied to evaluations.",
        True,
    ),
    Element(
        "weight_security",
        "Model weight security",
        "Security measures required once a threshold is reached.",
        True,
    ),
    Element(
        "deployment_mitigations",
        "Deployment mitigations",
        "Deployment safeguards required once a threshold is reached.",
        True,
    ),
    Element(
        "halt_deployment",
        "Conditions for halting deployment",
        "Deployment stops when a threshold is crossed and its safeguards are not in place.",
        True,
    ),
    Element(
        "halt_development",
        "Conditions for halting development",
        "Development (scaling) stops when a threshold is crossed and its safeguards are not "
        "in place.",
        True,
    ),
    Element(
        "evaluation_timing",
        "Timing of evaluations",
        "Evaluations repeated at set intervals of effective compute and of time.",
        True,
    ),
    Element(
        "elicitation",
        "Full capability elicitation",
        "Evaluations elicit the model's full capabilities (fine-tuning, scaffolding, no safety "
        "training).",
        False,
    ),
    Element(
        "accountability",
        "Accountability",
        "Decisions signed by named roles; internal and external review of compliance.",
        False,
    ),
    Element(
        "policy_updates",
        "Updating the policy over time",
        "The policy is reviewed and updated on a schedule, changes recorded and published.",
        False,
    ),
)


def _standards_of(pack: Pack, codes: list[str]) -> set[str]:
    """Kinds of the given standards and of everything they include."""
    standards = {str(s["code"]): s for s in pack.get("standards", [])}
    kinds: set[str] = set()
    todo, seen = list(codes), set()
    while todo:
        code = todo.pop()
        if code in seen or code not in standards:
            continue
        seen.add(code)
        kinds.add(str(standards[code]["kind"]))
        todo.extend(standards[code].get("includes", []))
    return kinds


Mark = tuple[str, str, str]
"""``(status, reason, evidence)``: evidence is the sections of the text the mark rests on."""


def _share(count: int, total: int, what: str, evidence: list[str]) -> Mark:
    cited = ", ".join(sorted(set(evidence)))
    if total and count == total:
        return "met", f"{what}: all {total}", cited
    if count:
        return "partly", f"{what}: {count} of {total}", cited
    return "not", f"{what}: none of {total}", cited


def _sourced(item: Mapping[str, object]) -> bool:
    return str(item.get("source", PACK_CHOICE)) != PACK_CHOICE


def computed(pack: Pack) -> dict[str, Mark | None]:
    """``{element code: (status, reason, evidence)}`` from the policy's *sourced* data; None
    where people judge or where only pack choices would speak (a pack choice never earns a
    mark: it is not the framework's text)."""
    red = [
        t
        for t in pack.get("thresholds", [])
        if t.get("tier", "red_line") == "red_line" and _sourced(t)
    ]
    result: dict[str, Mark | None] = {e.code: None for e in ELEMENTS}
    tracked = [d["code"] for d in pack.get("domains", []) if d["tier"] == "tracked" and _sourced(d)]
    if not red and not tracked:
        # Nothing of the text to go on (a pack without sources): people judge every element.
        result["evaluation_timing"] = _timing(pack)
        return result
    covered = {t["domain"]: str(t["source"]) for t in red}
    result["capability_thresholds"] = _share(
        sum(1 for code in tracked if code in covered),
        len(tracked),
        "tracked domains with a red line from the text",
        [covered[code] for code in tracked if code in covered],
    )
    evidence = [str(t["source"]) for t in red]
    if not red:
        for code in ("weight_security", "deployment_mitigations", "halt_deployment"):
            result[code] = ("not", "no red-line threshold from the text", "")
        result["halt_development"] = ("not", "no red-line threshold from the text", "")
    else:
        scopes = ("scaling", "deployment", "internal_deployment")
        result["weight_security"] = _share(
            sum(
                1
                for t in red
                if "security"
                in _standards_of(pack, [c for s in scopes for c in t["requires"].get(s, [])])
            ),
            len(red),
            "red lines requiring a security standard",
            evidence,
        )
        # An affirmative (alignment) case required before deploying is a deployment safeguard
        # too: RSP v2.2 asks one, not a misuse standard, of its AI R&D thresholds.
        result["deployment_mitigations"] = _share(
            sum(
                1
                for t in red
                if _standards_of(pack, t["requires"]["deployment"]) & {"deployment", "alignment"}
            ),
            len(red),
            "red lines requiring deployment safeguards to deploy",
            evidence,
        )
        baseline = set(pack["settings"].get("baseline_standards", []))
        # Gating: a halt, a scope naming no standard (the gate pauses), or a standard beyond
        # the baseline that must be verified first.
        for code, scope, what in (
            ("halt_deployment", "deployment", "red lines that stop deployment until safeguarded"),
            ("halt_development", "scaling", "red lines that stop scaling until safeguarded"),
        ):
            result[code] = _share(
                sum(
                    1
                    for t in red
                    if t.get("halt")
                    or not t["requires"][scope]
                    or set(t["requires"][scope]) - baseline
                ),
                len(red),
                what,
                evidence,
            )
    result["evaluation_timing"] = _timing(pack)
    return result


def _timing(pack: Pack) -> Mark | None:
    """Met only when the text itself sets both the compute and the time interval."""
    settings = pack.get("settings", {})
    sources = settings.get("sources") or {}
    cited = [
        str(sources[key])
        for key in ("effective_compute_multiple", "months_between_assessments")
        if str(sources.get(key, PACK_CHOICE)) != PACK_CHOICE
    ]
    if not cited:
        return None  # the pack's own numbers: people judge from the text
    status = "met" if len(cited) == 2 else "partly"
    return (
        status,
        f"every {settings.get('effective_compute_multiple')}x effective compute or "
        f"{settings.get('months_between_assessments')} months"
        + ("" if len(cited) == 2 else " (one of the two is the pack's choice)"),
        ", ".join(sorted(set(cited))),
    )
