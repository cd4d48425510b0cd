"""Policy packs: parse, validate, normalise, dump and hash policy YAML files.

This module is pure: no Django, no ORM. A *pack* is a YAML file in the shape of
``GET /api/v1/policy/`` plus ``source`` and ``disclaimer``; the format is
documented field by field in ``docs/policy-packs.md``.

The normalised form returned by :func:`validate_pack` is the single representation the
rest of the portal works with:

* every key is present (optional fields filled with their defaults), in a fixed order;
* real-valued quantities (``effective_compute_multiple``, ``uncertainty_z``, metric
  ``min``/``max``, indicator ``warning``/``critical``) are ``float``; counts (``rank``,
  months, ``min_samples``) are ``int``;
* lists of entities are sorted by their identifier (levels by ``rank``; standards,
  domains, thresholds and requirements by ``code``; metrics by ``key``; indicators by
  ``metric``), and lists of codes are sorted, except ``signoff_titles`` and
  ``advisory_titles`` which keep the author's order. Ordering in the YAML therefore
  carries no meaning, and two packs that differ only in order or formatting have the same
  :func:`content_sha256`.

Note: shipped YAML files live in the directory ``policies/packs/``, which must stay a
plain data directory (no ``__init__.py``) so that ``import policies.packs`` finds this module.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PACKS_DIR",
    "SHIPPED_PACKS",
    "PackError",
    "content_sha256",
    "dump_pack",
    "load_pack_file",
    "parse_pack",
    "validate_pack",
]

#: Directory holding the shipped packs.
PACKS_DIR: Path = Path(__file__).resolve().parent / "packs"

#: Names of the packs shipped with the portal (``policies/packs/<name>.yaml``).
SHIPPED_PACKS: list[str] = [
    "default",
    "openai-preparedness-v2",
    "gdm-fsf-v3",
    "anthropic-rsp-v3",
    "gdm-fsf-v3-1",
    "meta-frontier-ai-v1",
    "meta-scaling-v2",
    "microsoft-fgf",
    "amazon-fmsf",
]

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
REQUIRES_SCOPES: tuple[str, ...] = ("scaling", "deployment")

# Codes end up in URLs (``POST .../safeguards/{requirement_code}/``) and in audit
# records, so they are restricted to characters that need no escaping.
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_METRIC_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_PACK_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_URL_RE = re.compile(r"^https?://\S+$")

_TOP_REQUIRED = (
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


# --------------------------------------------------------------------------- parsing


class _PackLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last.

    A duplicated ``critical:`` line would otherwise change a red line without anyone
    noticing, so duplicates are errors.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeConstructor reports it below
                continue
            if duplicate:
                mark = key_node.start_mark
                self.duplicates.append((mark.line + 1, mark.column + 1, str(key)))
        return super().construct_mapping(node, deep=deep)


def _mark_location(filename: str, mark: Any) -> str:
    if mark is None:
        return filename
    return f"{filename}: line {mark.line + 1}, column {mark.column + 1}"


def parse_pack(text: str, filename: str) -> dict[str, Any]:
    """Parse pack YAML text and return the validated, normalised pack.

    ``filename`` is used only to build error locations. Raises :class:`PackError` for
    YAML syntax errors (located by line and column, 1-based), duplicate mapping keys,
    and every validation problem reported by :func:`validate_pack`.
    """
    loader = _PackLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise PackError(
            [
                (
                    _mark_location(filename, exc.problem_mark),
                    f"YAML syntax error: {problem}",
                )
            ]
        ) from exc
    except yaml.YAMLError as exc:
        raise PackError([(filename, f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()
    if loader.duplicates:
        raise PackError(
            (f"{filename}: line {line}, column {col}", f"duplicate key {key!r}")
            for line, col, key in loader.duplicates
        )
    return validate_pack(data, filename)


# ------------------------------------------------------------------------ validation


def _at(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _type_name(value: object) -> str:
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


class _Validator:
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
    ) -> dict[str, Any] | None:
        """Check ``value`` is a mapping with exactly the allowed keys; None if not a mapping."""
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {_type_name(value)}")
            return None
        allowed = required + optional
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                self.error(_at(path, str(key)), f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.error(_at(path, key), "is required")
        return value

    def items(self, value: object, path: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_type_name(value)}")
            return None
        return value

    # -- scalars -------------------------------------------------------------------

    def string(
        self,
        mapping: dict[str, Any],
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
        where = _at(path, key)
        value = mapping[key]
        if not isinstance(value, str):
            hint = " (quote it in YAML)" if isinstance(value, (int, float)) else ""
            self.error(where, f"must be a string, got {_type_name(value)}{hint}")
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
        bad = _control_character(value)
        if bad is not None:
            self.error(where, f"must not contain the control character U+{ord(bad):04X}")
            return None
        return value

    def number(
        self, mapping: dict[str, Any], key: str, path: str, *, nullable: bool = False
    ) -> float | None:
        """A finite real number, returned as float. None when missing, null or invalid."""
        if key not in mapping:
            return None
        where = _at(path, key)
        value = mapping[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(where, f"must be a number, got {_type_name(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.error(where, f"must be a finite number, got {value}")
            return None
        return float(value)

    def integer(self, mapping: dict[str, Any], key: str, path: str) -> int | None:
        """A whole number (``6`` or ``6.0``), returned as int. None when missing or invalid."""
        if key not in mapping:
            return None
        where = _at(path, key)
        value = mapping[key]
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f"must be a whole number, got {_type_name(value)}")
            return None
        return value

    def boolean(self, mapping: dict[str, Any], key: str, path: str) -> bool | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if not isinstance(value, bool):
            self.error(_at(path, key), f"must be true or false, got {_type_name(value)}")
            return None
        return value

    def code_list(
        self,
        mapping: dict[str, Any],
        key: str,
        path: str,
        *,
        pattern: re.Pattern[str] | None = _CODE_RE,
        optional: bool = True,
    ) -> list[tuple[str, str]] | None:
        """A list of unique strings as ``[(path, value)]``; [] when optional and missing."""
        if key not in mapping:
            return [] if optional else None
        where = _at(path, key)
        raw = self.items(mapping[key], where)
        if raw is None:
            return None
        result: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(raw):
            item_path = _at(where, index)
            if not isinstance(item, str):
                self.error(item_path, f"must be a string, got {_type_name(item)}")
                continue
            if self.check_string(item, item_path, pattern=pattern) is None:
                continue
            if item in seen:
                self.error(item_path, f"duplicate {item!r} (first at {_at(where, seen[item])})")
                continue
            seen[item] = index
            result.append((item_path, item))
        return result


def _unique(
    v: _Validator, registry: dict[str, str], value: str | None, where: str, what: str
) -> None:
    """Register ``value`` as an identifier, reporting a duplicate at ``where``."""
    if value is None:
        return
    if value in registry:
        v.error(where, f"duplicate {what} {value!r} (first at {registry[value]})")
    else:
        registry[value] = where


def validate_pack(data: object, filename: str) -> dict[str, Any]:
    """Validate a parsed pack and return its normalised form.

    ``data`` is what ``yaml.safe_load`` gives for a pack file (or a normalised pack:
    validation is idempotent). Returns a new dict in the normalised form described in
    the module docstring and ``docs/policy-packs.md``; never mutates ``data``.

    Raises :class:`PackError` listing *all* problems: wrong types, missing or unknown
    keys, duplicate identifiers, dangling references (levels, standards, domains,
    metrics), include cycles, empty or inverted metric ranges, indicator values outside
    their metric's range or on the wrong side of each other, non-finite numbers,
    out-of-range settings (``uncertainty_z`` outside 0..5), a non-positive ``min_samples``,
    an advisory title that is also a sign-off title, and ``halt`` on an early warning.
    """
    v = _Validator(filename)
    if data is None:
        raise PackError([(filename, "the pack is empty")])
    root = v.mapping(data, "", _TOP_REQUIRED)
    if root is None:
        raise PackError(v.errors)

    key = v.string(root, "key", "", pattern=_PACK_KEY_RE)
    name = v.string(root, "name", "")
    version = v.string(root, "version", "")
    disclaimer = v.string(root, "disclaimer", "")
    source = _validate_source(v, root.get("source"), "source") if "source" in root else None

    # Each section yields its normalised entities plus an index of identifiers; an index
    # is None when the section itself is unusable, so that references into it are not
    # reported a second time as "unknown".
    levels, level_ranks = _validate_levels(v, root)
    domains, domain_codes = _validate_domains(v, root)
    standards, standard_includes = _validate_standards(v, root, level_ranks)
    metrics, metric_index = _validate_metrics(v, root, domain_codes)
    thresholds = _validate_thresholds(v, root, domain_codes, standard_includes, metric_index)
    settings = _validate_settings(v, root, level_ranks, standard_includes)

    if v.errors:
        raise PackError(v.errors)
    return {
        "key": key,
        "name": name,
        "version": version,
        "source": source,
        "disclaimer": disclaimer,
        "settings": settings,
        "levels": levels,
        "standards": standards,
        "domains": domains,
        "metrics": metrics,
        "thresholds": thresholds,
    }


def _validate_source(v: _Validator, value: object, path: str) -> dict[str, Any] | None:
    m = v.mapping(
        value, path, ("publisher", "framework", "version", "date", "url"), ("document", "notes")
    )
    if m is None:
        return None
    date: str | None = None
    raw_date = m.get("date")
    if isinstance(raw_date, datetime.date) and not isinstance(raw_date, datetime.datetime):
        date = raw_date.isoformat()  # an unquoted YAML date
    elif isinstance(raw_date, str):
        try:
            date = datetime.date.fromisoformat(raw_date).isoformat()
        except ValueError:
            v.error(_at(path, "date"), f"must be a date YYYY-MM-DD, got {raw_date!r}")
    elif "date" in m:
        v.error(_at(path, "date"), f"must be a date YYYY-MM-DD, got {_type_name(raw_date)}")
    return {
        "publisher": v.string(m, "publisher", path),
        "framework": v.string(m, "framework", path),
        "version": v.string(m, "version", path),
        "date": date,
        "url": v.string(m, "url", path, pattern=_URL_RE),
        "document": v.string(m, "document", path, default=""),
        # Commitments of the framework that are not data the portal can enforce (kept, in
        # the author's order, so that exports and comparisons show them).
        "notes": [note for _, note in v.code_list(m, "notes", path, pattern=None) or []],
    }


def _validate_levels(
    v: _Validator, root: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    raw = v.items(root["levels"], "levels") if "levels" in root else None
    if raw is None:
        return [], None
    out: list[dict[str, Any]] = []
    codes: dict[str, str] = {}
    ranks: dict[str, str] = {}
    level_ranks: dict[str, int] = {}
    for index, item in enumerate(raw):
        path = _at("levels", index)
        m = v.mapping(item, path, ("code", "rank", "name"), ("description",))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=_CODE_RE)
        rank = v.integer(m, "rank", path)
        _unique(v, codes, code, _at(path, "code"), "level code")
        if rank is not None:
            _unique(v, ranks, str(rank), _at(path, "rank"), "level rank")
        if code is not None and rank is not None:
            level_ranks.setdefault(code, rank)
        out.append(
            {
                "code": code,
                "rank": rank,
                "name": v.string(m, "name", path),
                "description": v.string(m, "description", path, default=""),
            }
        )
    if not raw:
        v.error("levels", "must define at least one level")
    out.sort(key=lambda level: (level["rank"] or 0, level["code"] or ""))
    return out, level_ranks


def _validate_domains(
    v: _Validator, root: dict[str, Any]
) -> tuple[list[dict[str, Any]], set[str] | None]:
    raw = v.items(root["domains"], "domains") if "domains" in root else None
    if raw is None:
        return [], None
    out: list[dict[str, Any]] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = _at("domains", index)
        m = v.mapping(item, path, ("code", "name", "tier"), ("category",))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=_CODE_RE)
        _unique(v, codes, code, _at(path, "code"), "domain code")
        category: str | None = None
        if m.get("category") is not None:
            category = v.string(m, "category", path, choices=DOMAIN_CATEGORIES)
        out.append(
            {
                "code": code,
                "name": v.string(m, "name", path),
                "tier": v.string(m, "tier", path, choices=DOMAIN_TIERS),
                "category": category,
            }
        )
    out.sort(key=lambda domain: domain["code"] or "")
    return out, set(codes)


def _validate_standards(
    v: _Validator, root: dict[str, Any], level_ranks: dict[str, int] | None
) -> tuple[list[dict[str, Any]], dict[str, list[tuple[str, str]]] | None]:
    """Validate standards; returns them and ``{code: [(include_path, included_code)]}``."""
    raw = v.items(root["standards"], "standards") if "standards" in root else None
    if raw is None:
        return [], None
    out: list[dict[str, Any]] = []
    codes: dict[str, str] = {}
    pairs: dict[str, str] = {}
    requirement_codes: dict[str, str] = {}
    includes_of: dict[str, list[tuple[str, str]]] = {}
    for index, item in enumerate(raw):
        path = _at("standards", index)
        m = v.mapping(item, path, ("code", "level", "kind"), ("includes", "requirements"))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=_CODE_RE)
        level = v.string(m, "level", path, pattern=_CODE_RE)
        kind = v.string(m, "kind", path, choices=STANDARD_KINDS)
        _unique(v, codes, code, _at(path, "code"), "standard code")
        if level is not None and level_ranks is not None and level not in level_ranks:
            v.error(_at(path, "level"), f"unknown level {level!r}")
        if level is not None and kind is not None:
            # A standard *is* a (level, kind) pair: one per level and kind.
            _unique(v, pairs, f"{level}/{kind}", path, "standard for level/kind")
        includes = v.code_list(m, "includes", path)
        if code is not None and code not in includes_of:
            includes_of[code] = includes or []
        requirements = _validate_requirements(v, m, path, requirement_codes)
        out.append(
            {
                "code": code,
                "level": level,
                "kind": kind,
                "includes": sorted(code for _, code in includes or []),
                "requirements": requirements,
            }
        )
    # Includes can only be checked once every standard code is known.
    for includes in includes_of.values():
        for include_path, included in includes:
            if included not in codes:
                v.error(include_path, f"unknown standard {included!r}")
    _report_include_cycles(v, includes_of, list(codes))
    out.sort(key=lambda standard: standard["code"] or "")
    return out, includes_of


def _validate_requirements(
    v: _Validator, standard: dict[str, Any], path: str, registry: dict[str, str]
) -> list[dict[str, Any]]:
    if "requirements" not in standard:
        return []
    where = _at(path, "requirements")
    raw = v.items(standard["requirements"], where)
    if raw is None:
        return []
    out: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        item_path = _at(where, index)
        m = v.mapping(item, item_path, ("code", "title"), ("evidence",))
        if m is None:
            continue
        code = v.string(m, "code", item_path, pattern=_CODE_RE)
        # Requirement codes are global: safeguard status is recorded per requirement code.
        _unique(v, registry, code, _at(item_path, "code"), "requirement code")
        out.append(
            {
                "code": code,
                "title": v.string(m, "title", item_path),
                "evidence": v.string(m, "evidence", item_path, default=""),
            }
        )
    out.sort(key=lambda requirement: requirement["code"] or "")
    return out


def _report_include_cycles(
    v: _Validator, includes_of: dict[str, list[tuple[str, str]]], order: list[str]
) -> None:
    """Report each include cycle once, at the include that closes it (depth-first, file order)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    stack: list[str] = []

    def visit(code: str) -> None:
        state[code] = 1
        stack.append(code)
        for include_path, included in includes_of.get(code, []):
            if state.get(included) == 1:
                cycle = [*stack[stack.index(included) :], included]
                v.error(include_path, f"include cycle: {' -> '.join(cycle)}")
            elif included in includes_of and included not in state:
                visit(included)
        stack.pop()
        state[code] = 2

    for code in order:
        if code not in state and code in includes_of:
            visit(code)


def _validate_metrics(
    v: _Validator, root: dict[str, Any], domain_codes: set[str] | None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]] | None]:
    raw = v.items(root["metrics"], "metrics") if "metrics" in root else None
    if raw is None:
        return [], None
    out: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    index_by_key: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(raw):
        path = _at("metrics", index)
        m = v.mapping(
            item,
            path,
            ("key", "name", "unit", "min", "max", "higher_is_more_capable"),
            ("domain", "min_samples"),
        )
        if m is None:
            continue
        key = v.string(m, "key", path, pattern=_METRIC_KEY_RE)
        _unique(v, keys, key, _at(path, "key"), "metric key")
        low = v.number(m, "min", path)
        high = v.number(m, "max", path)
        if low is not None and high is not None and low >= high:
            v.error(_at(path, "max"), f"must be greater than min ({low:g}), got {high:g}")
        domain: str | None = None
        if m.get("domain") is not None:
            domain = v.string(m, "domain", path, pattern=_CODE_RE)
            if domain is not None and domain_codes is not None and domain not in domain_codes:
                v.error(_at(path, "domain"), f"unknown domain {domain!r}")
        metric = {
            "key": key,
            "name": v.string(m, "name", path),
            "unit": v.string(m, "unit", path, default=None),
            "min": low,
            "max": high,
            "higher_is_more_capable": v.boolean(m, "higher_is_more_capable", path),
            "domain": domain,
            "min_samples": _min_samples(v, m, path),
        }
        out.append(metric)
        if key is not None and key not in index_by_key:
            index_by_key[key] = metric
    out.sort(key=lambda metric: metric["key"] or "")
    return out, index_by_key


def _min_samples(v: _Validator, metric: dict[str, Any], path: str) -> int | None:
    """Optional: a positive whole number of samples below which a result is weak evidence."""
    if metric.get("min_samples") is None:
        return None
    count = v.integer(metric, "min_samples", path)
    if count is not None and count <= 0:
        v.error(_at(path, "min_samples"), f"must be a positive number of samples, got {count}")
        return None
    return count


def _validate_thresholds(
    v: _Validator,
    root: dict[str, Any],
    domain_codes: set[str] | None,
    standards: dict[str, list[tuple[str, str]]] | None,
    metrics: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    raw = v.items(root["thresholds"], "thresholds") if "thresholds" in root else None
    if raw is None:
        return []
    out: list[dict[str, Any]] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = _at("thresholds", index)
        m = v.mapping(
            item,
            path,
            ("code", "domain", "name"),
            ("description", "tier", "halt", "requires", "indicators"),
        )
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=_CODE_RE)
        _unique(v, codes, code, _at(path, "code"), "threshold code")
        domain = v.string(m, "domain", path, pattern=_CODE_RE)
        if domain is not None and domain_codes is not None and domain not in domain_codes:
            v.error(_at(path, "domain"), f"unknown domain {domain!r}")
        requires: dict[str, list[str]] = {scope: [] for scope in REQUIRES_SCOPES}
        if "requires" in m:
            requires = _validate_requires(v, m["requires"], _at(path, "requires"), standards)
        tier = v.string(m, "tier", path, default="red_line", choices=THRESHOLD_TIERS)
        halt = v.boolean(m, "halt", path)
        if halt and tier == "early_warning":
            # An early warning never pauses by itself (DESIGN §4.2): a halt on one is a
            # contradiction the author must resolve, not a choice the engine should guess.
            v.error(_at(path, "halt"), "an early_warning threshold cannot halt; make it a red_line")
        out.append(
            {
                "code": code,
                "domain": domain,
                "name": v.string(m, "name", path),
                "description": v.string(m, "description", path, default=""),
                "tier": tier,
                "halt": bool(halt),
                "requires": requires,
                "indicators": _validate_indicators(v, m, path, metrics),
            }
        )
    out.sort(key=lambda threshold: threshold["code"] or "")
    return out


def _validate_requires(
    v: _Validator,
    value: object,
    path: str,
    standards: dict[str, list[tuple[str, str]]] | None,
) -> dict[str, list[str]]:
    m = v.mapping(value, path, (), REQUIRES_SCOPES)
    result: dict[str, list[str]] = {scope: [] for scope in REQUIRES_SCOPES}
    if m is None:
        return result
    for scope in REQUIRES_SCOPES:
        entries = v.code_list(m, scope, path) or []
        for entry_path, code in entries:
            if standards is not None and code not in standards:
                v.error(entry_path, f"unknown standard {code!r}")
        result[scope] = sorted(code for _, code in entries)
    return result


def _validate_indicators(
    v: _Validator,
    threshold: dict[str, Any],
    path: str,
    metrics: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    if "indicators" not in threshold:
        return []
    where = _at(path, "indicators")
    raw = v.items(threshold["indicators"], where)
    if raw is None:
        return []
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        item_path = _at(where, index)
        m = v.mapping(item, item_path, ("metric", "critical"), ("warning",))
        if m is None:
            continue
        key = v.string(m, "metric", item_path, pattern=_METRIC_KEY_RE)
        _unique(v, seen, key, _at(item_path, "metric"), "indicator for metric")
        warning = v.number(m, "warning", item_path, nullable=True)
        critical = v.number(m, "critical", item_path)
        metric = None
        if key is not None and metrics is not None:
            metric = metrics.get(key)
            if metric is None:
                v.error(_at(item_path, "metric"), f"unknown metric {key!r}")
        if metric is not None:
            _check_indicator_values(v, item_path, metric, warning, critical)
        out.append({"metric": key, "warning": warning, "critical": critical})
    out.sort(key=lambda indicator: indicator["metric"] or "")
    return out


def _check_indicator_values(
    v: _Validator,
    path: str,
    metric: Mapping[str, Any],
    warning: float | None,
    critical: float | None,
) -> None:
    low, high = metric["min"], metric["max"]
    if low is not None and high is not None and low < high:
        for name, value in (("warning", warning), ("critical", critical)):
            if value is not None and not low <= value <= high:
                v.error(
                    _at(path, name),
                    f"{value:g} is outside the range of metric {metric['key']!r} "
                    f"[{low:g}, {high:g}]",
                )
    higher = metric["higher_is_more_capable"]
    if warning is None or critical is None or higher is None:
        return
    # The yellow line must come before the red line in the direction of growing capability.
    if higher and not warning < critical:
        v.error(
            _at(path, "warning"),
            f"must be below critical ({critical:g}): metric {metric['key']!r} "
            "is higher-is-more-capable",
        )
    elif not higher and not warning > critical:
        v.error(
            _at(path, "warning"),
            f"must be above critical ({critical:g}): metric {metric['key']!r} "
            "is lower-is-more-capable",
        )


def _validate_settings(
    v: _Validator,
    root: dict[str, Any],
    level_ranks: dict[str, int] | None,
    standards: dict[str, list[tuple[str, str]]] | None,
) -> dict[str, Any] | None:
    if "settings" not in root:
        return None
    path = "settings"
    m = v.mapping(
        root["settings"],
        path,
        (
            "baseline_level",
            "baseline_standards",
            "effective_compute_multiple",
            "months_between_assessments",
            "safeguard_reapproval_months",
            "warning_behaviour",
            "signoff_titles",
        ),
        ("uncertainty_z", "advisory_titles"),
    )
    if m is None:
        return None
    baseline_level = v.string(m, "baseline_level", path, pattern=_CODE_RE)
    if baseline_level is not None and level_ranks is not None and baseline_level not in level_ranks:
        v.error(_at(path, "baseline_level"), f"unknown level {baseline_level!r}")
    baseline = v.code_list(m, "baseline_standards", path, optional=False) or []
    for entry_path, code in baseline:
        if standards is not None and code not in standards:
            v.error(entry_path, f"unknown standard {code!r}")
    multiple = v.number(m, "effective_compute_multiple", path)
    if multiple is not None and multiple <= 1:
        v.error(
            _at(path, "effective_compute_multiple"),
            f"must be greater than 1, got {multiple:g}",
        )
    months: dict[str, int | None] = {}
    for name in ("months_between_assessments", "safeguard_reapproval_months"):
        count = months[name] = v.integer(m, name, path)
        if count is not None and count <= 0:
            v.error(_at(path, name), f"must be a positive number of months, got {count}")
    titles = v.code_list(m, "signoff_titles", path, pattern=None, optional=False)
    if titles is not None and not titles and isinstance(m.get("signoff_titles"), list):
        v.error(_at(path, "signoff_titles"), "must name at least one title")
    advisory = v.code_list(m, "advisory_titles", path, pattern=None) or []
    signing = {title for _, title in titles or []}
    for entry_path, title in advisory:
        if title in signing:
            # A title either signs (required) or advises (recorded, not required); both at
            # once would let a diff hide a sign-off moved to an advisory role.
            v.error(entry_path, f"{title!r} is also a sign-off title; a title signs or advises")
    return {
        "baseline_level": baseline_level,
        "baseline_standards": sorted(code for _, code in baseline),
        "effective_compute_multiple": multiple,
        "months_between_assessments": months["months_between_assessments"],
        "safeguard_reapproval_months": months["safeguard_reapproval_months"],
        "warning_behaviour": v.string(m, "warning_behaviour", path, choices=WARNING_BEHAVIOURS),
        "uncertainty_z": _uncertainty_z(v, m, path),
        "signoff_titles": [title for _, title in titles or []],
        "advisory_titles": [title for _, title in advisory],
    }


def _uncertainty_z(v: _Validator, settings: dict[str, Any], path: str) -> float | None:
    """Optional, default 0: standard errors added toward "more capable" (DESIGN §4.1)."""
    if "uncertainty_z" not in settings:
        return 0.0
    z = v.number(settings, "uncertainty_z", path)
    low, high = UNCERTAINTY_Z_RANGE
    if z is not None and not low <= z <= high:
        v.error(_at(path, "uncertainty_z"), f"must be between {low:g} and {high:g}, got {z:g}")
        return None
    return z


# -------------------------------------------------------------------- files, dump, hash


def load_pack_file(path_or_name: str | Path) -> dict[str, Any]:
    """Read, parse and validate a pack file; return the normalised pack.

    A bare name without directory or suffix (``"default"``) means the shipped pack
    ``policies/packs/<name>.yaml``; anything else is a filesystem path. Error locations
    use the file's base name. Raises :class:`PackError` for an unknown shipped name, an
    unreadable file, or any parse/validation problem.
    """
    candidate = Path(path_or_name)
    if isinstance(path_or_name, str) and candidate.name == path_or_name and not candidate.suffix:
        candidate = PACKS_DIR / f"{path_or_name}.yaml"
        if not candidate.is_file():
            shipped = ", ".join(SHIPPED_PACKS)
            message = f"no shipped pack of that name (shipped: {shipped}); give a path"
            raise PackError([(str(path_or_name), message)])
    try:
        text = candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError([(str(candidate), f"cannot read pack file: {exc}")]) from exc
    return parse_pack(text, candidate.name)


class _PackDumper(yaml.SafeDumper):
    """SafeDumper without anchors/aliases and with block style for multi-line text."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_PackDumper.add_representer(str, _represent_str)


def dump_pack(data: Mapping[str, Any]) -> str:
    """Serialise a pack to YAML text in normalised form.

    ``data`` is validated (and thereby normalised) first, so the output is canonical and
    ``validate_pack(yaml.safe_load(dump_pack(x)), f) == validate_pack(x, f)``; for a
    normalised ``x``, ``parse_pack(dump_pack(x), f) == x``. Raises :class:`PackError` if
    ``data`` is not a valid pack.
    """
    normalised = validate_pack(dict(data), "<dump>")
    header = (
        f"# Policy pack {normalised['key']!r}, version {normalised['version']!r}.\n"
        "# Format: docs/policy-packs.md. Read the disclaimer below before relying on numbers.\n"
    )
    body = yaml.dump(
        normalised,
        Dumper=_PackDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return header + body


def _control_character(value: str) -> str | None:
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


def content_sha256(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``data``.

    Canonical JSON: ``json.dumps(data, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)`` encoded as UTF-8. Nothing is excluded: every
    key of ``data`` counts. Pass a normalised pack (from :func:`validate_pack`) so that
    the hash is independent of the YAML's ordering and formatting.
    """
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
