"""Compare policies modelled on different frameworks, risk domain by risk domain.

Pure: no Django, no ORM. :func:`policies.diff.diff_policies` matches items by code, which is
right between two versions of one framework and useless across frameworks: an RSP's
``CBRN-3`` and a Meta pack's ``CHEMBIO-HIGH`` share no code, so every item would show as
removed and added. Switching frameworks is still a policy change that must show every
loosening, so :func:`diff_frameworks` compares what can be compared:

* each risk domain is matched by its framework-neutral ``category`` (``domains[].category``;
  a domain without one is matched by its code), and per category the two sides' thresholds
  are summarised: red lines, early warnings, halts, the standards a crossing requires for
  scaling and for deployment, warning lines, indicators, the domain tier;
* the policy settings are compared as in ``diff_policies`` (cadence, re-approval,
  warning behaviour, uncertainty, sign-off and advisory titles), except the baseline level
  and baseline standards, whose codes and ranks belong to one framework: there the number
  of baseline safeguard requirements is compared instead.

Each finding is a :class:`policies.diff.Change` (section ``domains`` keyed by category, or
``settings``), flagged ``loosening`` by the rules in ``docs/policy-packs.md`` ("Switching
frameworks"). A finding not flagged is neutral or a tightening.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TypedDict

from core.words import code_words, count
from policies.diff import Change, diff_policies
from policies.pack_format import (
    PACK_CHOICE,
    Pack,
    PackDomain,
    PackIndicator,
    PackSource,
    PackThreshold,
)

__all__ = [
    "CATEGORY_LABELS",
    "DomainComparison",
    "DomainSummary",
    "FrameworkDiff",
    "all_loosenings",
    "diff_frameworks",
    "is_cross_framework",
    "same_publisher",
]

#: Display names of the framework-neutral categories (``policies.packs.DOMAIN_CATEGORIES``).
CATEGORY_LABELS: dict[str, str] = {
    "cbrn": "CBRN weapons",
    "cyber": "Cyber operations",
    "ai_rd": "AI R&D and self-improvement",
    "autonomy": "Autonomy and replication",
    "manipulation": "Manipulation and persuasion",
    "misalignment": "Misalignment and loss of control",
    "general": "General (precursor) capabilities",
    "other": "Other",
}
_CATEGORY_ORDER = {name: index for index, name in enumerate(CATEGORY_LABELS)}

# How closely a framework watches a domain: a demotion is a loosening.
_TIER_RANK = {"research": 1, "ongoing_assessment": 2, "early_warning": 2, "tracked": 3}

# Settings compared by diff_policies whose values are framework-specific codes.
_FRAMEWORK_SPECIFIC_SETTINGS = frozenset({"baseline_level", "baseline_standards"})


def is_cross_framework(old: Pack, new: Pack) -> bool:
    """Whether two packs are different packs (their keys differ): another framework, or
    another version of one. Versions of one pack share a key."""
    return old.get("key") != new.get("key")


def same_publisher(old: Pack, new: Pack) -> bool:
    """Whether both packs model frameworks of the same publisher (e.g. RSP v2.2 and v3.0).

    Such packs keep their codes where a concept carries over, so the item-by-item
    loosenings of ``diff_policies`` mean something and are listed with the by-domain ones.
    """
    publisher = _publisher(old.get("source"))
    return bool(publisher) and publisher == _publisher(new.get("source"))


def _publisher(source: PackSource | None) -> str | None:
    return source.get("publisher") if source else None


def all_loosenings(old: Pack, new: Pack) -> list[Change]:
    """Every loosening to show before ``new`` replaces ``old``.

    The same pack (one key): ``diff_policies``. Different packs: the by-domain loosenings,
    plus the item-by-item ones (settings aside, already in both) when both frameworks come
    from one publisher; across publishers codes do not match and item loosenings would only
    say that every threshold was removed.
    """
    if not is_cross_framework(old, new):
        return diff_policies(old, new).loosenings
    found = diff_frameworks(old, new).loosenings
    if same_publisher(old, new):
        found += [
            change for change in diff_policies(old, new).loosenings if change.section != "settings"
        ]
    return found


def _category_key(domain: PackDomain) -> str:
    category = domain.get("category")
    return str(category) if category else f"domain:{domain['code']}"


def _label(key: str) -> str:
    if key.startswith("domain:"):
        return f"{key.removeprefix('domain:')} (no category)"
    return CATEGORY_LABELS.get(key, key)


class ThresholdSummary(TypedDict):
    """A threshold as a domain summary lists it."""

    code: str
    name: str
    tier: str
    halt: bool
    requires: dict[str, list[str]]
    indicators: list[PackIndicator]


@dataclass(frozen=True)
class DomainSummary:
    """What one policy has for one risk category."""

    domains: list[str]
    tier: str
    red_lines: list[str]
    early_warnings: list[str]
    halts: list[str]
    scaling_standards: list[str]
    deployment_standards: list[str]
    warning_lines: int
    indicators: int
    thresholds: list[ThresholdSummary] = dataclass_field(default_factory=list)
    # What a crossing adds beyond the baseline standards (with their includes), per scope,
    # and the red lines that name no standard for a scope: the gate treats those as a halt
    # for that scope until the policy defines a way on (docs/how-the-gate-decides.md, §2).
    scaling_beyond_baseline: list[str] = dataclass_field(default_factory=list)
    deployment_beyond_baseline: list[str] = dataclass_field(default_factory=list)
    undefined_scaling: list[str] = dataclass_field(default_factory=list)
    undefined_deployment: list[str] = dataclass_field(default_factory=list)
    # Each domain's own tier (a research category beside a tracked one stays research), the
    # hazards a CBRN-type domain names, whether every indicator line is a pack choice, and the
    # sections the thresholds cite.
    domain_tiers: dict[str, str] = dataclass_field(default_factory=dict)
    hazards: list[str] = dataclass_field(default_factory=list)
    lines_pack_choice: bool = True
    sources: list[str] = dataclass_field(default_factory=list)

    @property
    def gates_scaling(self) -> bool:
        """A crossed red line stops scaling until more than the baseline is verified, or
        until the policy defines a way on."""
        return bool(self.scaling_beyond_baseline or self.halts or self.undefined_scaling)

    @property
    def gates_deployment(self) -> bool:
        return bool(self.deployment_beyond_baseline or self.halts or self.undefined_deployment)

    def to_dict(self) -> dict[str, object]:
        return {
            "domains": self.domains,
            "tier": self.tier,
            "red_lines": self.red_lines,
            "early_warnings": self.early_warnings,
            "halts": self.halts,
            "scaling_standards": self.scaling_standards,
            "deployment_standards": self.deployment_standards,
            "warning_lines": self.warning_lines,
            "indicators": self.indicators,
            "scaling_beyond_baseline": self.scaling_beyond_baseline,
            "deployment_beyond_baseline": self.deployment_beyond_baseline,
            "undefined_scaling": self.undefined_scaling,
            "undefined_deployment": self.undefined_deployment,
            "thresholds": self.thresholds,
            "domain_tiers": self.domain_tiers,
            "hazards": self.hazards,
            "lines_pack_choice": self.lines_pack_choice,
            "sources": self.sources,
        }


@dataclass(frozen=True)
class DomainComparison:
    """One risk category on both sides (None where a policy does not cover it)."""

    category: str
    label: str
    old: DomainSummary | None
    new: DomainSummary | None

    def to_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "label": self.label,
            "old": self.old.to_dict() if self.old is not None else None,
            "new": self.new.to_dict() if self.new is not None else None,
        }


@dataclass(frozen=True)
class FrameworkDiff:
    """The by-domain comparison and every finding, loosenings flagged."""

    old_framework: str
    new_framework: str
    domains: list[DomainComparison] = dataclass_field(default_factory=list)
    changes: list[Change] = dataclass_field(default_factory=list)

    @property
    def loosenings(self) -> list[Change]:
        return [change for change in self.changes if change.loosening]

    @property
    def lab_loosenings(self) -> list[Change]:
        """The loosenings of the frameworks' texts (pack choices left out)."""
        return [change for change in self.changes if change.lab_loosening]

    def to_dict(self) -> dict[str, object]:
        return {
            "old_framework": self.old_framework,
            "new_framework": self.new_framework,
            "domains": [row.to_dict() for row in self.domains],
            "changes": [change.to_dict() for change in self.changes],
            "summary": {"changes": len(self.changes), "loosenings": len(self.loosenings)},
        }


def _framework_name(pack: Pack) -> str:
    source = pack.get("source")
    publisher, framework, version = (
        (source.get("publisher"), source.get("framework"), source.get("version"))
        if source
        else (None, None, None)
    )
    if publisher and framework:
        return f"{publisher} {framework} {version}".strip()
    return str(pack.get("name") or pack.get("key") or "?")


def _summaries(pack: Pack) -> dict[str, DomainSummary]:
    by_category: dict[str, list[PackDomain]] = {}
    domain_key: dict[str, str] = {}
    for domain in pack.get("domains", []):
        key = _category_key(domain)
        by_category.setdefault(key, []).append(domain)
        domain_key[str(domain["code"])] = key
    thresholds: dict[str, list[PackThreshold]] = {}
    for threshold in pack.get("thresholds", []):
        key = domain_key.get(str(threshold["domain"]), f"domain:{threshold['domain']}")
        thresholds.setdefault(key, []).append(threshold)
    baseline = _baseline_closure(pack)
    result: dict[str, DomainSummary] = {}
    for key in by_category.keys() | thresholds.keys():
        domains = by_category.get(key, [])
        items = thresholds.get(key, [])
        red = [t for t in items if t.get("tier", "red_line") != "early_warning"]
        tiers = [str(d["tier"]) for d in domains]
        needs = {
            scope: {code for t in red for code in (t.get("requires") or {}).get(scope, [])}
            for scope in ("scaling", "deployment")
        }
        undefined = {
            scope: sorted(
                str(t["code"])
                for t in red
                if not t.get("halt") and not (t.get("requires") or {}).get(scope)
            )
            for scope in ("scaling", "deployment")
        }
        result[key] = DomainSummary(
            domains=sorted(str(d["code"]) for d in domains),
            tier=max(tiers, key=lambda tier: _TIER_RANK.get(tier, 0)) if tiers else "",
            red_lines=sorted(str(t["code"]) for t in red),
            early_warnings=sorted(str(t["code"]) for t in items if t not in red),
            halts=sorted(str(t["code"]) for t in red if t.get("halt")),
            scaling_standards=sorted(needs["scaling"]),
            deployment_standards=sorted(needs["deployment"]),
            warning_lines=sum(
                1 for t in items for i in t.get("indicators", []) if i.get("warning") is not None
            ),
            indicators=sum(len(t.get("indicators", [])) for t in items),
            thresholds=[
                {
                    "code": t["code"],
                    "name": t.get("name", ""),
                    "tier": t.get("tier", "red_line"),
                    "halt": bool(t.get("halt")),
                    "requires": t.get("requires") or {"scaling": [], "deployment": []},
                    "indicators": list(t.get("indicators", [])),
                }
                for t in sorted(items, key=lambda t: str(t["code"]))
            ],
            scaling_beyond_baseline=sorted(needs["scaling"] - baseline),
            deployment_beyond_baseline=sorted(needs["deployment"] - baseline),
            undefined_scaling=undefined["scaling"],
            undefined_deployment=undefined["deployment"],
            domain_tiers={str(d["code"]): str(d["tier"]) for d in domains},
            hazards=_hazards(domains),
            lines_pack_choice=all(
                i.get("source", PACK_CHOICE) == PACK_CHOICE
                for t in items
                for i in t.get("indicators", [])
            ),
            # The thresholds' sections; a domain without any (cyber as ongoing assessment)
            # is cited by the section that names the domain.
            sources=sorted({str(t.get("source", PACK_CHOICE)) for t in items})
            or sorted({str(d.get("source", PACK_CHOICE)) for d in domains}),
        )
    return result


_HAZARDS = ("chemical", "biological", "radiological", "nuclear")


def _hazards(domains: list[PackDomain]) -> list[str]:
    """The weapon types a domain's name covers ("CBRN" covers all four)."""
    found: set[str] = set()
    for domain in domains:
        text = f"{domain['code']} {domain['name']}".lower()
        if "cbrn" in text.split() or "cbrn" in text:
            found.update(_HAZARDS)
        found.update(word for word in _HAZARDS if word in text)
    return [word for word in _HAZARDS if word in found]


def diff_frameworks(old: Pack, new: Pack) -> FrameworkDiff:
    """Compare two normalised packs by risk category; see the module docstring.

    Works for any two packs (also of one framework, where it is a coarser view than
    ``diff_policies``); ``diff_frameworks(x, x).changes`` is empty.
    """
    before, after = _summaries(old), _summaries(new)
    keys = sorted(
        before.keys() | after.keys(),
        key=lambda key: (_CATEGORY_ORDER.get(key, len(_CATEGORY_ORDER)), key),
    )
    rows = [DomainComparison(key, _label(key), before.get(key), after.get(key)) for key in keys]
    changes = _settings_changes(old, new)
    for row in rows:
        changes.extend(_domain_changes(row))
    return FrameworkDiff(_framework_name(old), _framework_name(new), rows, changes)


def _settings_changes(old: Pack, new: Pack) -> list[Change]:
    # Only the settings: every other section diff_policies compares by code.
    changes = [
        change
        for change in diff_policies(old, new).changes
        if change.section == "settings" and change.key not in _FRAMEWORK_SPECIFIC_SETTINGS
    ]
    old_count, new_count = _baseline_requirements(old), _baseline_requirements(new)
    if old_count != new_count:
        # Versions of one publisher's ladder: a higher baseline level is stricter whatever the
        # number of requirements it lists (RSP v3 keeps ASL-3 where v2.2 required ASL-2).
        raised = same_publisher(old, new) and _baseline_rank(new) > _baseline_rank(old)
        fewer = new_count < old_count and not raised
        changes.insert(
            0,
            Change(
                "changed",
                "settings",
                "baseline_requirements",
                None,
                old_count,
                new_count,
                fewer,
                f"baseline safeguard requirements every model must meet: {old_count} → "
                f"{new_count}" + (" (fewer is a loosening)" if fewer else ""),
                source=_baseline_source(new) or _baseline_source(old),
            ),
        )
    return changes


def _baseline_source(pack: Pack) -> str:
    """Where the pack's text names its baseline standards ("" when the pack chose them)."""
    cited = ((pack.get("settings") or {}).get("sources") or {}).get("baseline_standards", "")
    return "" if cited == PACK_CHOICE else str(cited)


def _baseline_rank(pack: Pack) -> int:
    settings = pack.get("settings") or {}
    ranks = {str(lv["code"]): int(lv["rank"]) for lv in pack.get("levels", [])}
    return ranks.get(str(settings.get("baseline_level", "")), 0)


def _baseline_closure(pack: Pack) -> set[str]:
    """The baseline standards with everything they include."""
    standards = {str(st["code"]): st for st in pack.get("standards", [])}
    settings = pack.get("settings")
    todo = list(settings.get("baseline_standards", [])) if settings else []
    seen: set[str] = set()
    while todo:
        code = todo.pop()
        if code in seen or code not in standards:
            continue
        seen.add(code)
        todo.extend(standards[code].get("includes", []))
    return seen


def _baseline_requirements(pack: Pack) -> int:
    """Requirements of the baseline standards, with everything they include."""
    standards = {str(st["code"]): st for st in pack.get("standards", [])}
    return sum(len(standards[code].get("requirements", [])) for code in _baseline_closure(pack))


def _cited(side: DomainSummary) -> str:
    """The sections a domain's side cites, pack choices left out."""
    return ", ".join(s for s in side.sources if s != PACK_CHOICE) or PACK_CHOICE


def _domain_changes(row: DomainComparison) -> list[Change]:
    key, a, b = row.category, row.old, row.new
    if a is None and b is None:  # pragma: no cover - rows come from either side
        return []
    if a is None:
        assert b is not None
        why = "risk domain added"
        return [
            Change("added", "domains", key, None, None, b.to_dict(), False, why, False, _cited(b))
        ]
    if b is None:
        # Cited by the sections that held what the newer text no longer has.
        return [
            Change(
                "removed",
                "domains",
                key,
                None,
                a.to_dict(),
                None,
                True,
                f"risk domain no longer covered (was {_names(a.domains)}, "
                f"{count(len(a.red_lines), 'red line')})",
                False,
                _cited(a),
            )
        ]
    out: list[Change] = []
    source = _cited(b)
    lines = ("warning_lines", "indicators")

    def add(field: str, old: object, new: object, loosening: bool, why: str) -> None:
        choice = field in lines and a.lines_pack_choice and b.lines_pack_choice
        out.append(
            Change("changed", "domains", key, field, old, new, loosening, why, choice, source)
        )

    dropped = [word for word in a.hazards if word not in b.hazards]
    if a.hazards and b.hazards and dropped:
        add(
            "hazards",
            a.hazards,
            b.hazards,
            True,
            f"scope narrowed: {_names(dropped)} weapons no longer covered "
            f"(now {_names(b.hazards)} only)",
        )

    if a.tier != b.tier:
        demoted = _TIER_RANK.get(b.tier, 0) < _TIER_RANK.get(a.tier, 0)
        add(
            "tier",
            a.tier,
            b.tier,
            demoted,
            f"domain tier {code_words(a.tier)} → {code_words(b.tier)}",
        )
    if a.red_lines and not b.red_lines:
        add("red_lines", a.red_lines, b.red_lines, True, "no red line any more")
    elif len(b.red_lines) < len(a.red_lines):
        add(
            "red_lines",
            a.red_lines,
            b.red_lines,
            True,
            f"fewer red lines ({len(a.red_lines)} → {len(b.red_lines)}): a coarser ladder of "
            "required safeguards",
        )
    elif len(b.red_lines) > len(a.red_lines):
        add(
            "red_lines",
            a.red_lines,
            b.red_lines,
            False,
            f"more red lines ({len(a.red_lines)} → {len(b.red_lines)})",
        )
    if a.halts and not b.halts:
        add("halts", a.halts, b.halts, True, "no threshold halts development any more")
    elif b.halts and not a.halts:
        add("halts", a.halts, b.halts, False, "a threshold now halts development")
    if a.early_warnings and not b.early_warnings:
        add(
            "early_warnings",
            a.early_warnings,
            b.early_warnings,
            True,
            "no early-warning threshold any more",
        )
    elif b.early_warnings and not a.early_warnings:
        add("early_warnings", a.early_warnings, b.early_warnings, False, "early warning added")
    if a.warning_lines and not b.warning_lines:
        add("warning_lines", a.warning_lines, 0, True, "no warning (yellow) line any more")
    if a.gates_scaling and not b.gates_scaling:
        add(
            "requires.scaling",
            a.scaling_standards,
            b.scaling_standards,
            True,
            "crossing a red line no longer stops scaling: nothing beyond the baseline "
            "standards is required to continue",
        )
    elif b.gates_scaling and not a.gates_scaling:
        add(
            "requires.scaling",
            a.scaling_standards,
            b.scaling_standards,
            False,
            "crossing a red line now stops scaling until safeguards are verified",
        )
    if a.gates_deployment and not b.gates_deployment:
        add(
            "requires.deployment",
            a.deployment_standards,
            b.deployment_standards,
            True,
            "crossing a red line no longer restricts deployment beyond the baseline standards",
        )
    if a.red_lines and b.red_lines and a.indicators and not b.indicators:
        add(
            "indicators",
            a.indicators,
            0,
            True,
            "red lines without indicators: the gate can never find them crossed",
        )
    return out


def _names(values: list[str]) -> str:
    return ", ".join(values) if values else "nothing"
