"""Diff two policy versions and flag every loosening.

Pure: no Django, no ORM. Silent weakening is the main charge critics make against
responsible-scaling policies, so :func:`diff_policies` lists every added, removed or
changed item between two versions and marks as a *loosening* each change that makes the
policy less cautious. The rules are listed in ``docs/policy-packs.md`` ("How loosening is
detected"); a change not flagged as loosening is neutral or a tightening.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dataclass_field
from typing import Literal, TypeVar, cast, get_args

from policies import rules
from policies.pack_format import (
    PACK_CHOICE,
    Pack,
    PackMetric,
    PackNoncomplianceRecipient,
    PackSettings,
    PackStandard,
    PackThreshold,
)

__all__ = ["Change", "PolicyDiff", "diff_policies"]

ChangeKind = Literal["added", "removed", "changed"]
Section = Literal[
    "settings",
    "levels",
    "standards",
    "requirements",
    "domains",
    "metrics",
    "thresholds",
    "indicators",
]

#: The sections in the order a diff lists them.
SECTION_ORDER: tuple[str, ...] = get_args(Section)

_KIND_ORDER = {"removed": 0, "changed": 1, "added": 2}


@dataclass(frozen=True)
class Change:
    """One difference between two policy versions.

    ``key`` identifies the item: a setting name, a level/standard/requirement/domain/
    threshold code, a metric key, or ``"<threshold code>/<metric key>"`` for an indicator.
    ``field`` names the changed field for ``kind == "changed"`` on an entity (nested
    fields dotted, e.g. ``"requires.scaling"``) and is None for settings and for whole
    entities added or removed. ``old``/``new`` are the JSON-compatible values (a whole
    entity for added/removed; None on the absent side). ``why`` is a human sentence.
    """

    kind: ChangeKind
    section: Section
    key: str
    field: str | None
    old: object
    new: object
    loosening: bool
    why: str
    #: The changed value is the pack author's choice on both sides, not the framework's text
    #: (``source`` "pack choice"): never shown as the lab's loosening or tightening.
    pack_choice: bool = False
    #: The section of the text the item cites (the new side's, else the old side's).
    source: str = ""

    @property
    def lab_loosening(self) -> bool:
        """A loosening of the framework's text (not of a pack choice)."""
        return self.loosening and not self.pack_choice

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible representation (the dataclass fields)."""
        return asdict(self)


@dataclass(frozen=True)
class PolicyDiff:
    """All changes from ``old`` to ``new``, in a stable order (section, key, field)."""

    changes: list[Change] = dataclass_field(default_factory=list)

    @property
    def loosenings(self) -> list[Change]:
        """The changes that make the policy less cautious."""
        return [change for change in self.changes if change.loosening]

    @property
    def lab_loosenings(self) -> list[Change]:
        """The loosenings of the framework's text (pack choices left out)."""
        return [change for change in self.changes if change.lab_loosening]

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def to_dict(self) -> dict[str, object]:
        """``{"changes": [...], "summary": {"added", "removed", "changed", "loosenings"}}``."""
        summary = {kind: 0 for kind in ("added", "removed", "changed")}
        for change in self.changes:
            summary[change.kind] += 1
        return {
            "changes": [change.to_dict() for change in self.changes],
            "summary": {**summary, "loosenings": len(self.loosenings)},
        }


# ----------------------------------------------------------------------------- helpers


#: An entity of a pack section (level, standard, requirement, domain, metric, threshold, ...).
_Entity = TypeVar("_Entity", bound=Mapping[str, object])


def _index(items: Iterable[_Entity], key: str) -> dict[str, _Entity]:
    return {str(item[key]): item for item in items}


def _closure(code: str, standards: Mapping[str, PackStandard]) -> set[str]:
    """``code`` and every standard it includes, by the gate's own rule."""
    includes = {name: spec.get("includes", []) for name, spec in standards.items()}
    return set(rules.expand_standards([code], includes))


def _names(values: Iterable[object]) -> str:
    return ", ".join(str(value) for value in values)


class _Collector:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(
        self,
        kind: ChangeKind,
        section: Section,
        key: str,
        field_name: str | None,
        old: object,
        new: object,
        loosening: bool,
        why: str,
    ) -> None:
        self.changes.append(Change(kind, section, key, field_name, old, new, loosening, why))

    def list_field(
        self,
        section: Section,
        key: str,
        field_name: str | None,
        old: list[str],
        new: list[str],
        what: str,
        loosen_on_removal: bool,
    ) -> None:
        """A changed list of codes; removal is a loosening when ``loosen_on_removal``."""
        if list(old) == list(new):
            return
        removed = [item for item in old if item not in new]
        added = [item for item in new if item not in old]
        parts = []
        if removed:
            parts.append(f"removed {_names(removed)}")
        if added:
            parts.append(f"added {_names(added)}")
        if not parts:
            parts.append("reordered")
        why = f"{what}: {'; '.join(parts)}"
        loosening = loosen_on_removal and bool(removed)
        if loosening:
            why += " (fewer required items is a loosening)"
        self.add("changed", section, key, field_name, list(old), list(new), loosening, why)

    def entities(
        self,
        section: Section,
        before: Mapping[str, Mapping[str, object]],
        after: Mapping[str, Mapping[str, object]],
        noun: str,
        *,
        removal_loosens: bool = False,
        count: tuple[str, str] | None = None,
    ) -> list[str]:
        """Report each entity removed or added as one change holding the whole entity.

        The reasons name the entity by ``noun``; ``count``, a list field and its item's name,
        makes the removal reason say how many items go with the entity. Returns the
        identifiers in both, sorted.
        """
        for code in sorted(before.keys() - after.keys()):
            why = f"{noun} removed"
            if count is not None:
                field_name, item = count
                items = before[code].get(field_name, [])
                n = len(cast(list[object], items))
                why += f" with its {n} {item}{'' if n == 1 else 's'}"
            entity = dict(before[code])
            self.add("removed", section, code, None, entity, None, removal_loosens, why)
        for code in sorted(after.keys() - before.keys()):
            entity = dict(after[code])
            self.add("added", section, code, None, None, entity, False, f"{noun} added")
        return sorted(before.keys() & after.keys())


def _plain_fields(
    c: _Collector,
    section: Section,
    key: str,
    old: Mapping[str, object],
    new: Mapping[str, object],
    fields: Iterable[str],
) -> None:
    """Report changed scalar fields that carry no loosening semantics."""
    for name in fields:
        if old.get(name) != new.get(name):
            c.add(
                "changed",
                section,
                key,
                name,
                old.get(name),
                new.get(name),
                False,
                f"{name} changed",
            )


# -------------------------------------------------------------------------------- diff


def diff_policies(old: Pack, new: Pack) -> PolicyDiff:
    """Compare two normalised packs (``validate_pack`` output or the API policy shape).

    Items are matched by identifier, so reordering is not a change. Pack metadata
    (``key``, ``name``, ``version``, ``source``, ``disclaimer``, and the API's
    ``status``/``content_sha256``) is not compared. Children of an added or removed
    standard or threshold are folded into that one change (its ``old``/``new`` holds
    the whole entity). Returns a :class:`PolicyDiff`; ``diff_policies(x, x)`` is empty.
    """
    c = _Collector()
    old_standards = _index(old.get("standards", []), "code")
    new_standards = _index(new.get("standards", []), "code")
    old_metrics = _index(old.get("metrics", []), "key")
    new_metrics = _index(new.get("metrics", []), "key")

    _diff_settings(c, old, new)
    _diff_plain_section(c, "levels", old, new, "level", ("rank", "name", "description"))
    _diff_standards(c, old_standards, new_standards)
    _diff_requirements(c, old_standards, new_standards)
    _diff_plain_section(c, "domains", old, new, "domain", ("name", "tier", "category"))
    _diff_metrics(c, old_metrics, new_metrics)
    _diff_thresholds(c, old, new, new_metrics)
    c.list_field(
        "settings",
        "noncompliance_recipients",
        None,
        _recipient_titles(old),
        _recipient_titles(new),
        "recipients of noncompliance reports",
        loosen_on_removal=True,
    )

    section_rank = {name: index for index, name in enumerate(SECTION_ORDER)}
    ordered = sorted(
        c.changes,
        key=lambda ch: (section_rank[ch.section], ch.key, ch.field or "", _KIND_ORDER[ch.kind]),
    )
    cited = (_sources(old), _sources(new))
    return PolicyDiff([_annotated(change, cited) for change in ordered])


def _sources(pack: Pack) -> dict[tuple[str, str], str]:
    """Each item's citation by (section, key), as a change names the item."""
    found: dict[tuple[str, str], str] = {}
    for name, cited in (_settings(pack).get("sources") or {}).items():
        found[("settings", name)] = cited
    recipients = [str(r.get("source", PACK_CHOICE)) for r in _recipients(pack)]
    if recipients:
        found[("settings", "noncompliance_recipients")] = next(
            (cited for cited in recipients if cited != PACK_CHOICE), PACK_CHOICE
        )
    for section, key in (
        ("levels", "code"),
        ("standards", "code"),
        ("domains", "code"),
        ("metrics", "key"),
        ("thresholds", "code"),
    ):
        for item in cast(list[Mapping[str, object]], pack.get(section, [])):
            found[(section, str(item[key]))] = str(item.get("source", PACK_CHOICE))
    for standard in pack.get("standards", []):
        for req in standard.get("requirements", []):
            found[("requirements", str(req["code"]))] = str(req.get("source", PACK_CHOICE))
    for threshold in pack.get("thresholds", []):
        for ind in threshold.get("indicators", []):
            key = f"{threshold['code']}/{ind['metric']}"
            found[("indicators", key)] = str(ind.get("source", PACK_CHOICE))
    return found


def _annotated(
    change: Change, sources: tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]
) -> Change:
    """``change`` with the citation of its item and whether both sides are pack choices.

    A pack without sources (an author's own) reads as pack choices throughout.
    """
    item = (change.section, change.key)
    cited = [found[item] for found in sources if item in found]
    pack_choice = bool(cited) and all(value == PACK_CHOICE for value in cited)
    source = next((value for value in reversed(cited) if value != PACK_CHOICE), PACK_CHOICE)
    return replace(change, pack_choice=pack_choice, source=source if cited else "")


def _recipients(pack: Pack) -> list[PackNoncomplianceRecipient]:
    return list(pack.get("noncompliance_recipients") or [])


def _recipient_titles(pack: Pack) -> list[str]:
    """Who receives noncompliance reports; fewer is a loosening (fewer independent eyes)."""
    return [str(r["title"]) for r in _recipients(pack)]


def _settings(pack: Pack) -> PackSettings:
    # A pack without settings compares as empty ones: every read below uses ``get``.
    return pack.get("settings") or cast(PackSettings, {})


def _diff_settings(c: _Collector, old: Pack, new: Pack) -> None:
    before, after = _settings(old), _settings(new)

    def changed(name: str) -> bool:
        return before.get(name) != after.get(name)

    if changed("baseline_level"):
        old_rank = {lv["code"]: lv["rank"] for lv in old.get("levels", [])}.get(
            before.get("baseline_level", "")
        )
        new_rank = {lv["code"]: lv["rank"] for lv in new.get("levels", [])}.get(
            after.get("baseline_level", "")
        )
        lower = old_rank is not None and new_rank is not None and new_rank < old_rank
        c.add(
            "changed",
            "settings",
            "baseline_level",
            None,
            before.get("baseline_level"),
            after.get("baseline_level"),
            lower,
            "baseline level lowered" if lower else "baseline level changed",
        )
    c.list_field(
        "settings",
        "baseline_standards",
        None,  # settings are keyed by name and carry no field
        list(before.get("baseline_standards", [])),
        list(after.get("baseline_standards", [])),
        "baseline standards",
        loosen_on_removal=True,
    )
    # Larger numbers mean fewer assessments or re-approvals: a loosening.
    numbers: tuple[tuple[str, float | None, float | None, str], ...] = (
        (
            "effective_compute_multiple",
            before.get("effective_compute_multiple"),
            after.get("effective_compute_multiple"),
            "compute multiple that triggers an assessment",
        ),
        (
            "months_between_assessments",
            before.get("months_between_assessments"),
            after.get("months_between_assessments"),
            "months between assessments",
        ),
        (
            "safeguard_reapproval_months",
            before.get("safeguard_reapproval_months"),
            after.get("safeguard_reapproval_months"),
            "months before safeguards need re-approval",
        ),
    )
    for name, a, b, text in numbers:
        if changed(name):
            up = a is not None and b is not None and b > a
            verb = (
                "increased" if up else "decreased" if a is not None and b is not None else "changed"
            )
            c.add("changed", "settings", name, None, a, b, up, f"{text} {verb} from {a} to {b}")
    if changed("warning_behaviour"):
        was, now = before.get("warning_behaviour"), after.get("warning_behaviour")
        relaxed = was == "require_safeguards" and now == "notify"
        why = (
            "warnings no longer require safeguards, they only notify"
            if relaxed
            else f"warning behaviour changed from {was} to {now}"
        )
        c.add("changed", "settings", "warning_behaviour", None, was, now, relaxed, why)
    if changed("uncertainty_z"):
        # A smaller z pushes results less toward "more capable": lines are crossed later.
        a, b = before.get("uncertainty_z", 0.0), after.get("uncertainty_z", 0.0)
        lower = a is not None and b is not None and b < a
        why = (
            f"uncertainty_z lowered from {a:g} to {b:g}: results are pushed less toward "
            "'more capable', so lines are crossed later"
            if lower
            else f"uncertainty_z changed from {a} to {b}"
        )
        c.add("changed", "settings", "uncertainty_z", None, a, b, lower, why)
    _diff_titles(c, before, after)


def _diff_titles(c: _Collector, before: PackSettings, after: PackSettings) -> None:
    """Fewer sign-offs is a loosening, also when the title stays on as an adviser; an adviser
    dropped altogether is one too (less independent input), one promoted to sign-off is not."""
    old_sign = list(before.get("signoff_titles", []))
    new_sign = list(after.get("signoff_titles", []))
    old_advise = list(before.get("advisory_titles", []))
    new_advise = list(after.get("advisory_titles", []))
    c.list_field(
        "settings",
        "signoff_titles",
        None,
        old_sign,
        new_sign,
        "sign-off titles",
        loosen_on_removal=True,
    )
    demoted = [title for title in old_sign if title not in new_sign and title in new_advise]
    if demoted and c.changes and c.changes[-1].key == "signoff_titles":
        last = c.changes.pop()
        why = f"{last.why}; {_names(demoted)} now only advise{'s' if len(demoted) == 1 else ''}"
        c.add(last.kind, last.section, last.key, last.field, last.old, last.new, True, why)
    if old_advise == new_advise:
        return
    dropped = [t for t in old_advise if t not in new_advise and t not in new_sign]
    promoted = [t for t in old_advise if t not in new_advise and t in new_sign]
    added = [t for t in new_advise if t not in old_advise]
    parts = []
    if dropped:
        parts.append(f"removed {_names(dropped)} (fewer advisers is a loosening)")
    if promoted:
        parts.append(f"{_names(promoted)} now sign{'s' if len(promoted) == 1 else ''} off")
    if added:
        parts.append(f"added {_names(added)}")
    why = f"advisory titles: {'; '.join(parts) or 'reordered'}"
    c.add(
        "changed", "settings", "advisory_titles", None, old_advise, new_advise, bool(dropped), why
    )


def _diff_plain_section(
    c: _Collector,
    section: Literal["levels", "domains"],
    old: Pack,
    new: Pack,
    noun: str,
    fields: tuple[str, ...],
) -> None:
    """A section of entities by ``code`` whose fields carry no loosening (levels, domains)."""
    before: dict[str, Mapping[str, object]] = _index(old.get(section, []), "code")
    after: dict[str, Mapping[str, object]] = _index(new.get(section, []), "code")
    for code in c.entities(section, before, after, noun):
        _plain_fields(c, section, code, before[code], after[code], fields)


def _diff_standards(
    c: _Collector,
    before: Mapping[str, PackStandard],
    after: Mapping[str, PackStandard],
) -> None:
    count = ("requirements", "requirement")
    for code in c.entities(
        "standards", before, after, "standard", removal_loosens=True, count=count
    ):
        _plain_fields(c, "standards", code, before[code], after[code], ("level", "kind"))
        c.list_field(
            "standards",
            code,
            "includes",
            list(before[code].get("includes", [])),
            list(after[code].get("includes", [])),
            "included standards",
            loosen_on_removal=True,
        )


def _diff_requirements(
    c: _Collector,
    old_standards: Mapping[str, PackStandard],
    new_standards: Mapping[str, PackStandard],
) -> None:
    """Requirements are matched by their (globally unique) code across standards."""

    def flatten(
        standards: Mapping[str, PackStandard],
    ) -> dict[str, tuple[str, Mapping[str, object]]]:
        return {
            str(req["code"]): (code, req)
            for code, standard in standards.items()
            for req in standard.get("requirements", [])
        }

    before, after = flatten(old_standards), flatten(new_standards)
    for code in before.keys() - after.keys():
        owner, req = before[code]
        if owner in new_standards:  # else folded into the "standard removed" change
            c.add(
                "removed",
                "requirements",
                code,
                None,
                {"standard": owner, **req},
                None,
                True,
                f"requirement removed from standard {owner}",
            )
    for code in after.keys() - before.keys():
        owner, req = after[code]
        if owner in old_standards:  # else folded into the "standard added" change
            c.add(
                "added",
                "requirements",
                code,
                None,
                None,
                {"standard": owner, **req},
                False,
                f"requirement added to standard {owner}",
            )
    for code in before.keys() & after.keys():
        (old_owner, old_req), (new_owner, new_req) = before[code], after[code]
        if old_owner != new_owner:
            # Still required wherever the old standard is required only if the old
            # standard (now) includes the new one.
            kept = new_owner in _closure(old_owner, new_standards)
            why = f"requirement moved from standard {old_owner} to {new_owner}"
            if not kept:
                why += f", so {old_owner} no longer requires it"
            c.add(
                "changed",
                "requirements",
                code,
                "standard",
                old_owner,
                new_owner,
                not kept,
                why,
            )
        _plain_fields(c, "requirements", code, old_req, new_req, ("title", "evidence"))


def _diff_metrics(
    c: _Collector,
    before: Mapping[str, PackMetric],
    after: Mapping[str, PackMetric],
) -> None:
    for key in c.entities("metrics", before, after, "metric"):
        a, b = before[key], after[key]
        _plain_fields(c, "metrics", key, a, b, ("name", "unit", "min", "max", "domain"))
        if a.get("min_samples") != b.get("min_samples"):
            fewer, why = _min_samples_change(a.get("min_samples"), b.get("min_samples"))
            c.add(
                "changed",
                "metrics",
                key,
                "min_samples",
                a.get("min_samples"),
                b.get("min_samples"),
                fewer,
                why,
            )
        if a.get("higher_is_more_capable") != b.get("higher_is_more_capable"):
            # Every indicator on the metric now reads the other way round.
            c.add(
                "changed",
                "metrics",
                key,
                "higher_is_more_capable",
                a.get("higher_is_more_capable"),
                b.get("higher_is_more_capable"),
                True,
                "metric direction flipped: its indicators now trigger on the opposite side",
            )


def _min_samples_change(a: int | None, b: int | None) -> tuple[bool, str]:
    """Fewer required samples lets weaker evidence show a model below a line: a loosening."""
    if b is None:
        return True, f"min_samples {a} removed: results of any size can show a model below a line"
    if a is None:
        return False, f"min_samples {b} added: smaller results can no longer show safety"
    if b < a:
        return True, f"min_samples lowered from {a} to {b}: weaker evidence can show safety"
    return False, f"min_samples raised from {a} to {b}"


def _diff_thresholds(
    c: _Collector,
    old: Pack,
    new: Pack,
    new_metrics: Mapping[str, PackMetric],
) -> None:
    before = _index(old.get("thresholds", []), "code")
    after = _index(new.get("thresholds", []), "code")
    count = ("indicators", "indicator")
    for code in c.entities(
        "thresholds", before, after, "threshold", removal_loosens=True, count=count
    ):
        a, b = before[code], after[code]
        _plain_fields(c, "thresholds", code, a, b, ("domain", "name", "description"))
        old_tier, new_tier = a.get("tier", "red_line"), b.get("tier", "red_line")
        if old_tier != new_tier:
            demoted = old_tier == "red_line" and new_tier == "early_warning"
            why = (
                "red line demoted to an early warning: crossing it no longer pauses by itself"
                if demoted
                else f"tier changed from {old_tier} to {new_tier}"
            )
            c.add("changed", "thresholds", code, "tier", old_tier, new_tier, demoted, why)
        old_halt, new_halt = bool(a.get("halt", False)), bool(b.get("halt", False))
        if old_halt != new_halt:
            why = (
                "halt removed: safeguards now let scaling continue past this threshold"
                if old_halt
                else "halt added: crossing it stops scaling whatever the safeguards"
            )
            c.add("changed", "thresholds", code, "halt", old_halt, new_halt, old_halt, why)
        for scope in ("scaling", "deployment", "internal_deployment"):
            c.list_field(
                "thresholds",
                code,
                f"requires.{scope}",
                list((a.get("requires") or {}).get(scope, [])),
                list((b.get("requires") or {}).get(scope, [])),
                f"standards required for {scope}",
                loosen_on_removal=True,
            )
        _diff_indicators(c, code, a, b, new_metrics)


def _diff_indicators(
    c: _Collector,
    threshold: str,
    old: PackThreshold,
    new: PackThreshold,
    new_metrics: Mapping[str, PackMetric],
) -> None:
    before = _index(old.get("indicators", []), "metric")
    after = _index(new.get("indicators", []), "metric")
    for metric in before.keys() - after.keys():
        c.add(
            "removed",
            "indicators",
            f"{threshold}/{metric}",
            None,
            dict(before[metric]),
            None,
            True,
            f"indicator on {metric} removed from threshold {threshold}",
        )
    for metric in after.keys() - before.keys():
        c.add(
            "added",
            "indicators",
            f"{threshold}/{metric}",
            None,
            None,
            dict(after[metric]),
            False,
            f"indicator on {metric} added to threshold {threshold}",
        )
    for metric in before.keys() & after.keys():
        spec = new_metrics.get(metric)
        higher = bool(spec.get("higher_is_more_capable", True)) if spec is not None else True
        old_ind, new_ind = before[metric], after[metric]
        lines: tuple[tuple[str, float | None, float | None], ...] = (
            ("warning", old_ind.get("warning"), new_ind.get("warning")),
            ("critical", old_ind.get("critical"), new_ind.get("critical")),
        )
        for line, a, b in lines:
            if a == b:
                continue
            loosening, why = _line_change(line, a, b, higher)
            c.add(
                "changed",
                "indicators",
                f"{threshold}/{metric}",
                line,
                a,
                b,
                loosening,
                why,
            )


def _line_change(line: str, a: float | None, b: float | None, higher: bool) -> tuple[bool, str]:
    """Whether moving a warning/critical line from ``a`` to ``b`` is a loosening, and why."""
    if b is None:
        return True, f"{line} line removed"
    if a is None:
        return False, f"{line} line added at {b:g}"
    # A line that needs more capability before it triggers is less cautious.
    later = b > a if higher else b < a
    direction = "raised" if b > a else "lowered"
    sense = "higher" if higher else "lower"
    if later:
        return (
            True,
            f"{line} {direction} from {a:g} to {b:g}: triggers later ({sense} is more capable)",
        )
    return False, f"{line} {direction} from {a:g} to {b:g}: triggers earlier"
