"""Self-assessment of a policy against METR's "Common Elements of Frontier AI Safety Policies".

Pure: no Django, no ORM. METR (Aug 2024; updated Mar 2025 and Dec 2025) found that the
published frontier safety policies share these elements; each is marked ``met``,
``partly`` or ``not`` for a policy. Where the policy's data can tell, :func:`computed`
says so with a reason; the rest (how evaluations elicit capability, external review, how
the policy is updated) only people can judge, and they record it with an evidence link
(``SelfAssessmentRecord``), per policy version.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.pack_format import Pack

__all__ = ["ELEMENTS", "STATUSES", "Element", "computed"]

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


def _share(count: int, total: int, what: str) -> tuple[str, str]:
    if total and count == total:
        return "met", f"{what}: all {total}"
    if count:
        return "partly", f"{what}: {count} of {total}"
    return "not", f"{what}: none of {total}"


def computed(pack: Pack) -> dict[str, tuple[str, str] | None]:
    """``{element code: (status, reason)}`` from the policy's data; None where people judge."""
    red = [t for t in pack.get("thresholds", []) if t.get("tier", "red_line") == "red_line"]
    result: dict[str, tuple[str, str] | None] = {e.code: None for e in ELEMENTS}
    tracked = [d["code"] for d in pack.get("domains", []) if d["tier"] == "tracked"]
    with_lines = {t["domain"] for t in red if t.get("indicators")}
    result["capability_thresholds"] = _share(
        sum(1 for code in tracked if code in with_lines),
        len(tracked),
        "tracked domains with a red line tied to indicators",
    )
    if not red:
        for code in ("weight_security", "deployment_mitigations", "halt_deployment"):
            result[code] = ("not", "no red-line threshold")
        result["halt_development"] = ("not", "no red-line threshold")
    else:
        scopes = ("scaling", "deployment")
        result["weight_security"] = _share(
            sum(
                1
                for t in red
                if "security" in _standards_of(pack, [c for s in scopes for c in t["requires"][s]])
            ),
            len(red),
            "red lines requiring a security standard",
        )
        result["deployment_mitigations"] = _share(
            sum(1 for t in red if "deployment" in _standards_of(pack, t["requires"]["deployment"])),
            len(red),
            "red lines requiring a deployment standard to deploy",
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
            )
    settings = pack.get("settings", {})
    result["evaluation_timing"] = (
        "met",
        f"every {settings.get('effective_compute_multiple')}x effective compute or "
        f"{settings.get('months_between_assessments')} months",
    )
    return result
