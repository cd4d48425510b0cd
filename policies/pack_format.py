"""The pack format's vocabulary and the checker that reports every problem of a pack in one go.

:class:`Validator` checks shapes and scalars and collects ``(location, message)`` pairs;
:mod:`policies.pack_validation` walks the sections with it. Pure: no Django, no ORM.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import NotRequired, TypedDict

STANDARD_KINDS: tuple[str, ...] = ("deployment", "security", "alignment")
THRESHOLD_TIERS: tuple[str, ...] = ("red_line", "early_warning")
#: ``settings.uncertainty_z`` lies in this closed range: five standard errors already push a
#: result far beyond any plausible sampling error; more would only hide a typo.
UNCERTAINTY_Z_RANGE: tuple[float, float] = (0.0, 5.0)
DOMAIN_TIERS: tuple[str, ...] = (
    "tracked",
    "research",
    "ongoing_assessment",
    "early_warning",
)
#: Framework-neutral risk categories (``domains[].category``): how domains of packs modelled
#: on different frameworks are matched in a cross-framework diff (``policies.diff``).
DOMAIN_CATEGORIES: tuple[str, ...] = (
    "cbrn",
    "cyber",
    "ai_rd",
    "autonomy",
    "manipulation",
    "misalignment",
    "general",
    "other",
)
WARNING_BEHAVIOURS: tuple[str, ...] = ("notify", "require_safeguards")
#: ``internal_deployment`` is a framework's gate on using a model inside the lab (RSP v3
#: sabotage, GDM ML R&D, OpenAI Cyber High); ADR 0027 says how the gate enforces it.
REQUIRES_SCOPES: tuple[str, ...] = ("scaling", "deployment", "internal_deployment")
#: Framework families (top-level ``family``): packs of one family are versions of one text.
FAMILIES: tuple[str, ...] = (
    "anthropic-rsp",
    "gdm-fsf",
    "openai-pf",
    "xai",
    "meta",
    "microsoft",
    "amazon",
)
#: The ``source`` of a value the framework's text does not give (chosen by the pack's author).
PACK_CHOICE = "pack choice"
#: How a change the text makes to its previous version reads (``source.changes[].direction``):
#: what no field-by-field diff can tell, such as a reworded threshold or a governance power.
TEXT_CHANGE_DIRECTIONS: tuple[str, ...] = ("loosening", "tightening", "mixed", "neutral")
#: What starts a commitment's clock (``commitments[].trigger``).
COMMITMENT_TRIGGERS: tuple[str, ...] = (
    "crossing",
    "decision_requested",
    "decision_approved",
    "report_signed",
    "deployment",
    "policy_activated",
    "periodic",
)
#: Every key of ``settings`` that ``settings.sources`` must cite.
SETTINGS_KEYS: tuple[str, ...] = (
    "baseline_level",
    "baseline_standards",
    "effective_compute_multiple",
    "months_between_assessments",
    "safeguard_reapproval_months",
    "warning_behaviour",
    "uncertainty_z",
    "signoff_titles",
    "advisory_titles",
)

# Codes end up in URLs (``POST .../safeguards/{requirement_code}/``) and in audit
# records, so they are restricted to characters that need no escaping.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
METRIC_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
PACK_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
URL_RE = re.compile(r"^https?://\S+$")

TOP_REQUIRED = (
    "key",
    "name",
    "version",
    "source",
    "disclaimer",
    "settings",
    "levels",
    "standards",
    "domains",
    "metrics",
    "thresholds",
)
TOP_OPTIONAL = ("family", "report_kinds", "commitments", "noncompliance_recipients")


# The normalised pack (``validate_pack`` output, ``policies.services.to_pack``), section by
# section; docs/policy-packs.md describes each field.


class PackTextChange(TypedDict):
    """``source.changes[]``: one change this version's text makes to the previous version."""

    change: str
    direction: str
    source: str


class PackSource(TypedDict):
    """``source``: the published framework a pack is modelled on."""

    publisher: str
    framework: str
    version: str
    date: str
    url: str
    document: str
    notes: list[str]
    #: Only when the pack gives them (so packs without any keep their content hash).
    changes: NotRequired[list[PackTextChange]]


class PackSettings(TypedDict):
    """``settings``: the policy-wide numbers and sign-off titles."""

    baseline_level: str
    baseline_standards: list[str]
    effective_compute_multiple: float
    months_between_assessments: int
    safeguard_reapproval_months: int
    warning_behaviour: str
    uncertainty_z: float
    signoff_titles: list[str]
    advisory_titles: list[str]
    #: One citation (or ``"pack choice"``) per other key (SETTINGS_KEYS).
    sources: dict[str, str]


class PackLevel(TypedDict):
    """One entry of ``levels``."""

    code: str
    rank: int
    name: str
    description: str
    source: str


class PackRequirement(TypedDict):
    """One entry of ``standards[].requirements``."""

    code: str
    title: str
    evidence: str
    source: str


class PackStandard(TypedDict):
    """One entry of ``standards``."""

    code: str
    level: str
    kind: str
    includes: list[str]
    requirements: list[PackRequirement]
    source: str


class PackDomain(TypedDict):
    """One entry of ``domains``."""

    code: str
    name: str
    tier: str
    category: str | None
    source: str


class PackMetric(TypedDict):
    """One entry of ``metrics``."""

    key: str
    name: str
    unit: str | None
    min: float
    max: float
    higher_is_more_capable: bool
    domain: str | None
    min_samples: int | None
    source: str


class PackIndicator(TypedDict):
    """One entry of ``thresholds[].indicators``."""

    metric: str
    warning: float | None
    critical: float
    source: str


class PackThreshold(TypedDict):
    """One entry of ``thresholds``; ``requires`` maps each of REQUIRES_SCOPES to codes."""

    code: str
    domain: str
    name: str
    description: str
    tier: str
    halt: bool
    requires: dict[str, list[str]]
    indicators: list[PackIndicator]
    source: str


class PackExternalReview(TypedDict):
    """``report_kinds[].external_review``: reports of the kind go to outside reviewers."""

    #: The title whose holder approves each reviewer's access first (e.g. ``LTBT``), or None.
    approved_by: str | None
    #: The commitment (``report_signed`` of this kind) a grant of access keeps, or None.
    access_commitment: str | None
    source: str


class PackReportKind(TypedDict):
    """One entry of ``report_kinds``: a report the framework requires, who signs it, for what."""

    code: str
    name: str
    signoff_titles: list[str]
    required_for: list[str]
    source: str
    external_review: PackExternalReview | None


class PackCommitment(TypedDict):
    """One entry of ``commitments``: a dated promise of the framework (trigger + deadline)."""

    code: str
    text: str
    trigger: str
    report_kind: str | None
    deadline_days: int | None
    gating: bool
    source: str


class PackNoncomplianceRecipient(TypedDict):
    """One entry of ``noncompliance_recipients``: a title whose holders receive reports of
    possible noncompliance (and alone see them and who sent them)."""

    title: str
    source: str


class Pack(TypedDict):
    """A normalised pack: every key present, lists sorted by identifier."""

    key: str
    name: str
    version: str
    family: str | None
    source: PackSource
    disclaimer: str
    settings: PackSettings
    levels: list[PackLevel]
    standards: list[PackStandard]
    domains: list[PackDomain]
    metrics: list[PackMetric]
    thresholds: list[PackThreshold]
    report_kinds: list[PackReportKind]
    commitments: list[PackCommitment]
    noncompliance_recipients: list[PackNoncomplianceRecipient]


class PackError(Exception):
    """A pack could not be parsed or is invalid.

    ``errors`` lists every problem found as ``(location, message)`` pairs, in document
    order. A location names the file and the place in it, either a data path such as
    ``"default.yaml: thresholds[2].indicators[0].critical"`` (list indices are those of
    the file as written) or, for YAML syntax problems, ``"default.yaml: line 3, column 7"``.
    """

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.errors)
        head = f"{count} problem{'s' if count != 1 else ''} in policy pack"
        return "\n".join([head, *(f"  {loc}: {msg}" for loc, msg in self.errors)])

    @property
    def locations(self) -> list[str]:
        """The locations of all errors, in order (convenient in tests and UIs)."""
        return [loc for loc, _ in self.errors]


def path_at(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


class Validator:
    """Collects every problem in one pass so an author can fix a pack in one go."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append((f"{self.filename}: {path}" if path else self.filename, message))

    # -- shapes --------------------------------------------------------------------

    def mapping(
        self,
        value: object,
        path: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, object] | None:
        """Check ``value`` is a mapping with exactly the allowed keys; None if not a mapping."""
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {type_name(value)}")
            return None
        allowed = required + optional
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.error(path_at(path, str(key)), f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.error(path_at(path, key), "is required")
        return value

    def items(self, value: object, path: str) -> list[object] | None:
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {type_name(value)}")
            return None
        return value

    # -- scalars -------------------------------------------------------------------

    def string(
        self,
        mapping: dict[str, object],
        key: str,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        default: str | None = None,
        choices: tuple[str, ...] | None = None,
    ) -> str | None:
        """A string field; ``default`` makes it optional. None when missing or invalid."""
        if key not in mapping:
            return default
        where = path_at(path, key)
        value = mapping[key]
        if not isinstance(value, str):
            hint = " (quote it in YAML)" if isinstance(value, (int, float)) else ""
            self.error(where, f"must be a string, got {type_name(value)}{hint}")
            return None
        return self.check_string(
            value, where, pattern=pattern, choices=choices, empty_ok=default == ""
        )

    def check_string(
        self,
        value: str,
        where: str,
        *,
        pattern: re.Pattern[str] | None = None,
        choices: tuple[str, ...] | None = None,
        empty_ok: bool = False,
    ) -> str | None:
        if choices is not None and value not in choices:
            self.error(where, f"must be one of {', '.join(choices)}, got {value!r}")
            return None
        if pattern is not None and not pattern.match(value):
            self.error(where, f"{value!r} does not match {pattern.pattern}")
            return None
        if not empty_ok and not value.strip():
            self.error(where, "must not be empty")
            return None
        if value != value.strip():
            self.error(where, "must not start or end with whitespace")
            return None
        bad = control_character(value)
        if bad is not None:
            self.error(where, f"must not contain the control character U+{ord(bad):04X}")
            return None
        return value

    def number(
        self, mapping: dict[str, object], key: str, path: str, *, nullable: bool = False
    ) -> float | None:
        """A finite real number, returned as float. None when missing, null or invalid."""
        if key not in mapping:
            return None
        where = path_at(path, key)
        value = mapping[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(where, f"must be a number, got {type_name(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.error(where, f"must be a finite number, got {value}")
            return None
        return float(value)

    def integer(self, mapping: dict[str, object], key: str, path: str) -> int | None:
        """A whole number (``6`` or ``6.0``), returned as int. None when missing or invalid."""
        if key not in mapping:
            return None
        where = path_at(path, key)
        value = mapping[key]
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f"must be a whole number, got {type_name(value)}")
            return None
        return value

    def boolean(self, mapping: dict[str, object], key: str, path: str) -> bool | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if not isinstance(value, bool):
            self.error(path_at(path, key), f"must be true or false, got {type_name(value)}")
            return None
        return value

    def citation(self, mapping: dict[str, object], path: str) -> str:
        """An element's ``source``: a section of the framework's text, or ``"pack choice"``.

        Optional on load (an element without one is the pack author's choice); the shipped
        packs give one everywhere (a test checks their files).
        """
        if mapping.get("source") is None:
            return PACK_CHOICE
        return self.string(mapping, "source", path) or PACK_CHOICE

    def code_list(
        self,
        mapping: dict[str, object],
        key: str,
        path: str,
        *,
        pattern: re.Pattern[str] | None = CODE_RE,
        optional: bool = True,
    ) -> list[tuple[str, str]] | None:
        """A list of unique strings as ``[(path, value)]``; [] when optional and missing."""
        if key not in mapping:
            return [] if optional else None
        where = path_at(path, key)
        raw = self.items(mapping[key], where)
        if raw is None:
            return None
        result: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(raw):
            item_path = path_at(where, index)
            if not isinstance(item, str):
                self.error(item_path, f"must be a string, got {type_name(item)}")
                continue
            if self.check_string(item, item_path, pattern=pattern) is None:
                continue
            if item in seen:
                self.error(item_path, f"duplicate {item!r} (first at {path_at(where, seen[item])})")
                continue
            seen[item] = index
            result.append((item_path, item))
        return result


def register_unique(
    v: Validator, registry: dict[str, str], value: str | None, where: str, what: str
) -> None:
    """Register ``value`` as an identifier, reporting a duplicate at ``where``."""
    if value is None:
        return
    if value in registry:
        v.error(where, f"duplicate {what} {value!r} (first at {registry[value]})")
    else:
        registry[value] = where


def control_character(value: str) -> str | None:
    """The first control or line-separator character other than tab and newline, if any.

    Such characters have no place in a policy and do not survive a YAML round trip (PyYAML
    reads U+0085 as a line break).
    """
    for char in value:
        if char in "\t\n":
            continue
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return char
    return None
