"""Validation of a parsed pack, section by section, into the normalised form.

The normalised form is described in :mod:`policies.packs` and ``docs/policy-packs.md``.
Pure: no Django, no ORM. Each entity is built with ``cast`` to its ``Pack*`` type: a field
is None only where an error was recorded, and :func:`validate_pack` raises :class:`PackError`
before returning anything if one was.
"""

from __future__ import annotations

import datetime
from typing import cast

from policies.pack_commitments import (
    validate_commitments,
    validate_noncompliance_recipients,
    validate_report_kinds,
    validate_settings_sources,
)
from policies.pack_format import (
    CODE_RE,
    DOMAIN_CATEGORIES,
    DOMAIN_TIERS,
    FAMILIES,
    METRIC_KEY_RE,
    PACK_CHOICE,
    PACK_KEY_RE,
    REQUIRES_SCOPES,
    STANDARD_KINDS,
    TEXT_CHANGE_DIRECTIONS,
    THRESHOLD_TIERS,
    TOP_OPTIONAL,
    TOP_REQUIRED,
    UNCERTAINTY_Z_RANGE,
    URL_RE,
    WARNING_BEHAVIOURS,
    Pack,
    PackDomain,
    PackError,
    PackIndicator,
    PackLevel,
    PackMetric,
    PackRequirement,
    PackSettings,
    PackSource,
    PackStandard,
    PackTextChange,
    PackThreshold,
    Validator,
    path_at,
    register_unique,
    type_name,
)


def validate_pack(data: object, filename: str) -> Pack:
    """Validate a parsed pack and return its normalised form.

    ``data`` is what ``yaml.safe_load`` gives for a pack file (or a normalised pack:
    validation is idempotent). Returns a new dict in the normalised form described in
    the docstring of :mod:`policies.packs` and ``docs/policy-packs.md``; never mutates ``data``.

    Raises :class:`PackError` listing *all* problems: wrong types, missing or unknown
    keys, duplicate identifiers, dangling references (levels, standards, domains,
    metrics), include cycles, empty or inverted metric ranges, indicator values outside
    their metric's range or on the wrong side of each other, non-finite numbers,
    out-of-range settings (``uncertainty_z`` outside 0..5), a non-positive ``min_samples``,
    an advisory title that is also a sign-off title, and ``halt`` on an early warning.
    """
    v = Validator(filename)
    if data is None:
        raise PackError([(filename, "the pack is empty")])
    root = v.mapping(data, "", TOP_REQUIRED, TOP_OPTIONAL)
    if root is None:
        raise PackError(v.errors)

    key = v.string(root, "key", "", pattern=PACK_KEY_RE)
    name = v.string(root, "name", "")
    version = v.string(root, "version", "")
    family: str | None = None
    if root.get("family") is not None:
        family = v.string(root, "family", "", choices=FAMILIES)
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
    report_kinds = validate_report_kinds(v, root)
    commitments = validate_commitments(v, root, report_kinds)
    recipients = validate_noncompliance_recipients(v, root)

    if v.errors:
        raise PackError(v.errors)
    return cast(
        Pack,
        {  # None only beside an error
            "key": key,
            "name": name,
            "version": version,
            "family": family,
            "source": source,
            "disclaimer": disclaimer,
            "settings": settings,
            "levels": levels,
            "standards": standards,
            "domains": domains,
            "metrics": metrics,
            "thresholds": thresholds,
            "report_kinds": report_kinds,
            "commitments": commitments,
            "noncompliance_recipients": recipients,
        },
    )


def _validate_source(v: Validator, value: object, path: str) -> PackSource | None:
    m = v.mapping(
        value,
        path,
        ("publisher", "framework", "version", "date", "url"),
        ("document", "notes", "changes"),
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
            v.error(path_at(path, "date"), f"must be a date YYYY-MM-DD, got {raw_date!r}")
    elif "date" in m:
        v.error(path_at(path, "date"), f"must be a date YYYY-MM-DD, got {type_name(raw_date)}")
    source = cast(
        PackSource,
        {  # None only beside an error
            "publisher": v.string(m, "publisher", path),
            "framework": v.string(m, "framework", path),
            "version": v.string(m, "version", path),
            "date": date,
            "url": v.string(m, "url", path, pattern=URL_RE),
            "document": v.string(m, "document", path, default=""),
            # Commitments of the framework that are not data the portal can enforce (kept, in
            # the author's order, so that exports and comparisons show them).
            "notes": [note for _, note in v.code_list(m, "notes", path, pattern=None) or []],
        },
    )
    if "changes" in m:
        source["changes"] = _validate_text_changes(v, m["changes"], path_at(path, "changes"))
    return source


def _validate_text_changes(v: Validator, value: object, path: str) -> list[PackTextChange]:
    """``source.changes``: what the text changed from its previous version, each with the
    section it is in (never a pack choice: a change of the text is in the text)."""
    out: list[PackTextChange] = []
    for index, item in enumerate(v.items(value, path) or []):
        where = path_at(path, index)
        m = v.mapping(item, where, ("change", "direction", "source"))
        if m is None:
            continue
        cited = v.string(m, "source", where)
        if cited == PACK_CHOICE:
            v.error(path_at(where, "source"), "must cite the section that changed")
        out.append(
            cast(
                PackTextChange,
                {
                    "change": v.string(m, "change", where),
                    "direction": v.string(m, "direction", where, choices=TEXT_CHANGE_DIRECTIONS),
                    "source": cited,
                },
            )
        )
    return out


def _validate_levels(
    v: Validator, root: dict[str, object]
) -> tuple[list[PackLevel], dict[str, int] | None]:
    raw = v.items(root["levels"], "levels") if "levels" in root else None
    if raw is None:
        return [], None
    out: list[PackLevel] = []
    codes: dict[str, str] = {}
    ranks: dict[str, str] = {}
    level_ranks: dict[str, int] = {}
    for index, item in enumerate(raw):
        path = path_at("levels", index)
        m = v.mapping(item, path, ("code", "rank", "name"), ("description", "source"))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        rank = v.integer(m, "rank", path)
        register_unique(v, codes, code, path_at(path, "code"), "level code")
        if rank is not None:
            register_unique(v, ranks, str(rank), path_at(path, "rank"), "level rank")
        if code is not None and rank is not None:
            level_ranks.setdefault(code, rank)
        out.append(
            cast(
                PackLevel,
                {  # None only beside an error
                    "code": code,
                    "rank": rank,
                    "name": v.string(m, "name", path),
                    "description": v.string(m, "description", path, default=""),
                    "source": v.citation(m, path),
                },
            )
        )
    if not raw:
        v.error("levels", "must define at least one level")
    out.sort(key=lambda level: (level["rank"] or 0, level["code"] or ""))
    return out, level_ranks


def _validate_domains(
    v: Validator, root: dict[str, object]
) -> tuple[list[PackDomain], set[str] | None]:
    raw = v.items(root["domains"], "domains") if "domains" in root else None
    if raw is None:
        return [], None
    out: list[PackDomain] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = path_at("domains", index)
        m = v.mapping(item, path, ("code", "name", "tier"), ("category", "source"))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        register_unique(v, codes, code, path_at(path, "code"), "domain code")
        category: str | None = None
        if m.get("category") is not None:
            category = v.string(m, "category", path, choices=DOMAIN_CATEGORIES)
        out.append(
            cast(
                PackDomain,
                {  # None only beside an error
                    "code": code,
                    "name": v.string(m, "name", path),
                    "tier": v.string(m, "tier", path, choices=DOMAIN_TIERS),
                    "category": category,
                    "source": v.citation(m, path),
                },
            )
        )
    out.sort(key=lambda domain: domain["code"] or "")
    return out, set(codes)


def _validate_standards(
    v: Validator, root: dict[str, object], level_ranks: dict[str, int] | None
) -> tuple[list[PackStandard], dict[str, list[tuple[str, str]]] | None]:
    """Validate standards; returns them and ``{code: [(include_path, included_code)]}``."""
    raw = v.items(root["standards"], "standards") if "standards" in root else None
    if raw is None:
        return [], None
    out: list[PackStandard] = []
    codes: dict[str, str] = {}
    pairs: dict[str, str] = {}
    requirement_codes: dict[str, str] = {}
    includes_of: dict[str, list[tuple[str, str]]] = {}
    for index, item in enumerate(raw):
        path = path_at("standards", index)
        m = v.mapping(item, path, ("code", "level", "kind"), ("includes", "requirements", "source"))
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        level = v.string(m, "level", path, pattern=CODE_RE)
        kind = v.string(m, "kind", path, choices=STANDARD_KINDS)
        register_unique(v, codes, code, path_at(path, "code"), "standard code")
        if level is not None and level_ranks is not None and level not in level_ranks:
            v.error(path_at(path, "level"), f"unknown level {level!r}")
        if level is not None and kind is not None:
            # A standard *is* a (level, kind) pair: one per level and kind.
            register_unique(v, pairs, f"{level}/{kind}", path, "standard for level/kind")
        includes = v.code_list(m, "includes", path)
        if code is not None and code not in includes_of:
            includes_of[code] = includes or []
        requirements = _validate_requirements(v, m, path, requirement_codes)
        out.append(
            cast(
                PackStandard,
                {  # None only beside an error
                    "code": code,
                    "level": level,
                    "kind": kind,
                    "includes": sorted(code for _, code in includes or []),
                    "requirements": requirements,
                    "source": v.citation(m, path),
                },
            )
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
    v: Validator, standard: dict[str, object], path: str, registry: dict[str, str]
) -> list[PackRequirement]:
    if "requirements" not in standard:
        return []
    where = path_at(path, "requirements")
    raw = v.items(standard["requirements"], where)
    if raw is None:
        return []
    out: list[PackRequirement] = []
    for index, item in enumerate(raw):
        item_path = path_at(where, index)
        m = v.mapping(item, item_path, ("code", "title"), ("evidence", "source"))
        if m is None:
            continue
        code = v.string(m, "code", item_path, pattern=CODE_RE)
        # Requirement codes are global: safeguard status is recorded per requirement code.
        register_unique(v, registry, code, path_at(item_path, "code"), "requirement code")
        out.append(
            cast(
                PackRequirement,
                {  # None only beside an error
                    "code": code,
                    "title": v.string(m, "title", item_path),
                    "evidence": v.string(m, "evidence", item_path, default=""),
                    "source": v.citation(m, item_path),
                },
            )
        )
    out.sort(key=lambda requirement: requirement["code"] or "")
    return out


def _report_include_cycles(
    v: Validator, includes_of: dict[str, list[tuple[str, str]]], order: list[str]
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
    v: Validator, root: dict[str, object], domain_codes: set[str] | None
) -> tuple[list[PackMetric], dict[str, PackMetric] | None]:
    raw = v.items(root["metrics"], "metrics") if "metrics" in root else None
    if raw is None:
        return [], None
    out: list[PackMetric] = []
    keys: dict[str, str] = {}
    index_by_key: dict[str, PackMetric] = {}
    for index, item in enumerate(raw):
        path = path_at("metrics", index)
        m = v.mapping(
            item,
            path,
            ("key", "name", "unit", "min", "max", "higher_is_more_capable"),
            ("domain", "min_samples", "source"),
        )
        if m is None:
            continue
        key = v.string(m, "key", path, pattern=METRIC_KEY_RE)
        register_unique(v, keys, key, path_at(path, "key"), "metric key")
        low = v.number(m, "min", path)
        high = v.number(m, "max", path)
        if low is not None and high is not None and low >= high:
            v.error(path_at(path, "max"), f"must be greater than min ({low:g}), got {high:g}")
        domain: str | None = None
        if m.get("domain") is not None:
            domain = v.string(m, "domain", path, pattern=CODE_RE)
            if domain is not None and domain_codes is not None and domain not in domain_codes:
                v.error(path_at(path, "domain"), f"unknown domain {domain!r}")
        metric = cast(
            PackMetric,
            {  # None only beside an error
                "key": key,
                "name": v.string(m, "name", path),
                "unit": v.string(m, "unit", path, default=None),
                "min": low,
                "max": high,
                "higher_is_more_capable": v.boolean(m, "higher_is_more_capable", path),
                "domain": domain,
                "min_samples": _min_samples(v, m, path),
                "source": v.citation(m, path),
            },
        )
        out.append(metric)
        if key is not None and key not in index_by_key:
            index_by_key[key] = metric
    out.sort(key=lambda metric: metric["key"] or "")
    return out, index_by_key


def _min_samples(v: Validator, metric: dict[str, object], path: str) -> int | None:
    """Optional: a positive whole number of samples below which a result is weak evidence."""
    if metric.get("min_samples") is None:
        return None
    count = v.integer(metric, "min_samples", path)
    if count is not None and count <= 0:
        v.error(path_at(path, "min_samples"), f"must be a positive number of samples, got {count}")
        return None
    return count


def _validate_thresholds(
    v: Validator,
    root: dict[str, object],
    domain_codes: set[str] | None,
    standards: dict[str, list[tuple[str, str]]] | None,
    metrics: dict[str, PackMetric] | None,
) -> list[PackThreshold]:
    raw = v.items(root["thresholds"], "thresholds") if "thresholds" in root else None
    if raw is None:
        return []
    out: list[PackThreshold] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = path_at("thresholds", index)
        m = v.mapping(
            item,
            path,
            ("code", "domain", "name"),
            ("description", "tier", "halt", "requires", "indicators", "source"),
        )
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        register_unique(v, codes, code, path_at(path, "code"), "threshold code")
        domain = v.string(m, "domain", path, pattern=CODE_RE)
        if domain is not None and domain_codes is not None and domain not in domain_codes:
            v.error(path_at(path, "domain"), f"unknown domain {domain!r}")
        requires: dict[str, list[str]] = {scope: [] for scope in REQUIRES_SCOPES}
        if "requires" in m:
            requires = _validate_requires(v, m["requires"], path_at(path, "requires"), standards)
        tier = v.string(m, "tier", path, default="red_line", choices=THRESHOLD_TIERS)
        halt = v.boolean(m, "halt", path)
        if halt and tier == "early_warning":
            # An early warning never pauses by itself (docs/how-the-gate-decides.md, §2): a halt
            # on one is a contradiction the author must resolve, not a choice for the engine.
            v.error(
                path_at(path, "halt"), "an early_warning threshold cannot halt; make it a red_line"
            )
        out.append(
            cast(
                PackThreshold,
                {  # None only beside an error
                    "code": code,
                    "domain": domain,
                    "name": v.string(m, "name", path),
                    "description": v.string(m, "description", path, default=""),
                    "tier": tier,
                    "halt": bool(halt),
                    "requires": requires,
                    "indicators": _validate_indicators(v, m, path, metrics),
                    "source": v.citation(m, path),
                },
            )
        )
    out.sort(key=lambda threshold: threshold["code"] or "")
    return out


def _validate_requires(
    v: Validator,
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
    v: Validator,
    threshold: dict[str, object],
    path: str,
    metrics: dict[str, PackMetric] | None,
) -> list[PackIndicator]:
    if "indicators" not in threshold:
        return []
    where = path_at(path, "indicators")
    raw = v.items(threshold["indicators"], where)
    if raw is None:
        return []
    out: list[PackIndicator] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        item_path = path_at(where, index)
        m = v.mapping(item, item_path, ("metric", "critical"), ("warning", "source"))
        if m is None:
            continue
        key = v.string(m, "metric", item_path, pattern=METRIC_KEY_RE)
        register_unique(v, seen, key, path_at(item_path, "metric"), "indicator for metric")
        warning = v.number(m, "warning", item_path, nullable=True)
        critical = v.number(m, "critical", item_path)
        metric = None
        if key is not None and metrics is not None:
            metric = metrics.get(key)
            if metric is None:
                v.error(path_at(item_path, "metric"), f"unknown metric {key!r}")
        if metric is not None:
            _check_indicator_values(v, item_path, metric, warning, critical)
        out.append(
            cast(
                PackIndicator,
                {  # None only beside an error
                    "metric": key,
                    "warning": warning,
                    "critical": critical,
                    "source": v.citation(m, item_path),
                },
            )
        )
    out.sort(key=lambda indicator: indicator["metric"] or "")
    return out


def _check_indicator_values(
    v: Validator,
    path: str,
    metric: PackMetric,
    warning: float | None,
    critical: float | None,
) -> None:
    low, high = metric["min"], metric["max"]
    if low is not None and high is not None and low < high:
        for name, value in (("warning", warning), ("critical", critical)):
            if value is not None and not low <= value <= high:
                v.error(
                    path_at(path, name),
                    f"{value:g} is outside the range of metric {metric['key']!r} "
                    f"[{low:g}, {high:g}]",
                )
    higher = metric["higher_is_more_capable"]
    if warning is None or critical is None or higher is None:
        return
    # The yellow line must come before the red line in the direction of growing capability.
    if higher and not warning < critical:
        v.error(
            path_at(path, "warning"),
            f"must be below critical ({critical:g}): metric {metric['key']!r} "
            "is higher-is-more-capable",
        )
    elif not higher and not warning > critical:
        v.error(
            path_at(path, "warning"),
            f"must be above critical ({critical:g}): metric {metric['key']!r} "
            "is lower-is-more-capable",
        )


def _validate_settings(
    v: Validator,
    root: dict[str, object],
    level_ranks: dict[str, int] | None,
    standards: dict[str, list[tuple[str, str]]] | None,
) -> PackSettings | None:
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
        ("uncertainty_z", "advisory_titles", "sources"),
    )
    if m is None:
        return None
    baseline_level = v.string(m, "baseline_level", path, pattern=CODE_RE)
    if baseline_level is not None and level_ranks is not None and baseline_level not in level_ranks:
        v.error(path_at(path, "baseline_level"), f"unknown level {baseline_level!r}")
    baseline = v.code_list(m, "baseline_standards", path, optional=False) or []
    for entry_path, code in baseline:
        if standards is not None and code not in standards:
            v.error(entry_path, f"unknown standard {code!r}")
    multiple = v.number(m, "effective_compute_multiple", path)
    if multiple is not None and multiple <= 1:
        v.error(
            path_at(path, "effective_compute_multiple"),
            f"must be greater than 1, got {multiple:g}",
        )
    months: dict[str, int | None] = {}
    for name in ("months_between_assessments", "safeguard_reapproval_months"):
        count = months[name] = v.integer(m, name, path)
        if count is not None and count <= 0:
            v.error(path_at(path, name), f"must be a positive number of months, got {count}")
    titles = v.code_list(m, "signoff_titles", path, pattern=None, optional=False)
    if titles is not None and not titles and isinstance(m.get("signoff_titles"), list):
        v.error(path_at(path, "signoff_titles"), "must name at least one title")
    advisory = v.code_list(m, "advisory_titles", path, pattern=None) or []
    signing = {title for _, title in titles or []}
    for entry_path, title in advisory:
        if title in signing:
            # A title either signs (required) or advises (recorded, not required); both at
            # once would let a diff hide a sign-off moved to an advisory role.
            v.error(entry_path, f"{title!r} is also a sign-off title; a title signs or advises")
    return cast(
        PackSettings,
        {  # None only beside an error
            "baseline_level": baseline_level,
            "baseline_standards": sorted(code for _, code in baseline),
            "effective_compute_multiple": multiple,
            "months_between_assessments": months["months_between_assessments"],
            "safeguard_reapproval_months": months["safeguard_reapproval_months"],
            "warning_behaviour": v.string(m, "warning_behaviour", path, choices=WARNING_BEHAVIOURS),
            "uncertainty_z": _uncertainty_z(v, m, path),
            "signoff_titles": [title for _, title in titles or []],
            "advisory_titles": [title for _, title in advisory],
            "sources": validate_settings_sources(v, m, path),
        },
    )


def _uncertainty_z(v: Validator, settings: dict[str, object], path: str) -> float | None:
    """Optional, default 0: standard errors added toward "more capable" (see §1 of
    docs/how-the-gate-decides.md)."""
    if "uncertainty_z" not in settings:
        return 0.0
    z = v.number(settings, "uncertainty_z", path)
    low, high = UNCERTAINTY_Z_RANGE
    if z is not None and not low <= z <= high:
        v.error(path_at(path, "uncertainty_z"), f"must be between {low:g} and {high:g}, got {z:g}")
        return None
    return z
