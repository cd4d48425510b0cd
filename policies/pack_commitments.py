"""Validation of a pack's citations of its settings, its report kinds, its commitments and
the recipients of noncompliance reports.

Pure: no Django, no ORM. Part of :func:`policies.pack_validation.validate_pack`; the fields are
described in ``docs/policy-packs.md`` ("Sources, reports and commitments").
"""

from __future__ import annotations

from typing import cast

from policies.pack_format import (
    CODE_RE,
    COMMITMENT_TRIGGERS,
    PACK_CHOICE,
    REQUIRES_SCOPES,
    SETTINGS_KEYS,
    PackCommitment,
    PackExternalReview,
    PackNoncomplianceRecipient,
    PackReportKind,
    Validator,
    path_at,
    register_unique,
)


def validate_settings_sources(
    v: Validator, settings: dict[str, object], path: str
) -> dict[str, str]:
    """``settings.sources``: a citation (or ``"pack choice"``) for every other settings key.

    Absent, every setting is the pack's choice. Present, it must name each key exactly once.
    """
    if settings.get("sources") is None:
        return dict.fromkeys(SETTINGS_KEYS, PACK_CHOICE)
    where = path_at(path, "sources")
    m = v.mapping(settings["sources"], where, SETTINGS_KEYS)
    if m is None:
        return dict.fromkeys(SETTINGS_KEYS, PACK_CHOICE)
    return {key: v.string(m, key, where) or PACK_CHOICE for key in SETTINGS_KEYS}


def validate_report_kinds(v: Validator, root: dict[str, object]) -> list[PackReportKind]:
    """``report_kinds``: the reports the framework names, who signs them and what they gate."""
    if root.get("report_kinds") is None:
        return []
    raw = v.items(root["report_kinds"], "report_kinds")
    if raw is None:
        return []
    out: list[PackReportKind] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = path_at("report_kinds", index)
        m = v.mapping(
            item,
            path,
            ("code", "name"),
            ("signoff_titles", "required_for", "source", "external_review"),
        )
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        register_unique(v, codes, code, path_at(path, "code"), "report kind")
        titles = v.code_list(m, "signoff_titles", path, pattern=None) or []
        scopes = v.code_list(m, "required_for", path) or []
        for entry_path, scope in scopes:
            if scope not in REQUIRES_SCOPES:
                v.error(entry_path, f"must be one of {', '.join(REQUIRES_SCOPES)}, got {scope!r}")
        out.append(
            cast(
                PackReportKind,
                {  # None only beside an error
                    "code": code,
                    "name": v.string(m, "name", path),
                    "signoff_titles": [title for _, title in titles],
                    "required_for": sorted(scope for _, scope in scopes),
                    "source": v.citation(m, path),
                    "external_review": _external_review(v, m, path),
                },
            )
        )
    out.sort(key=lambda kind: kind["code"] or "")
    return out


def _external_review(v: Validator, kind: dict[str, object], path: str) -> PackExternalReview | None:
    """``external_review``: outside reviewers get access to reports of the kind; ``approved_by``
    names the title that approves each reviewer, ``access_commitment`` the commitment a grant
    keeps (checked against the commitments in :func:`validate_commitments`)."""
    if kind.get("external_review") is None:
        return None
    where = path_at(path, "external_review")
    m = v.mapping(
        kind["external_review"], where, (), ("approved_by", "access_commitment", "source")
    )
    if m is None:
        return None
    approved_by = v.string(m, "approved_by", where) if m.get("approved_by") is not None else None
    commitment = (
        v.string(m, "access_commitment", where, pattern=CODE_RE)
        if m.get("access_commitment") is not None
        else None
    )
    return {
        "approved_by": approved_by,
        "access_commitment": commitment,
        "source": v.citation(m, where),
    }


def validate_commitments(
    v: Validator, root: dict[str, object], report_kinds: list[PackReportKind]
) -> list[PackCommitment]:
    """``commitments``: dated promises, each with what starts its clock and its deadline."""
    if root.get("commitments") is None:
        return []
    raw = v.items(root["commitments"], "commitments")
    if raw is None:
        return []
    kinds = {kind["code"] for kind in report_kinds}
    out: list[PackCommitment] = []
    codes: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = path_at("commitments", index)
        m = v.mapping(
            item,
            path,
            ("code", "text", "trigger"),
            ("report_kind", "deadline_days", "gating", "source"),
        )
        if m is None:
            continue
        code = v.string(m, "code", path, pattern=CODE_RE)
        register_unique(v, codes, code, path_at(path, "code"), "commitment code")
        trigger = v.string(m, "trigger", path, choices=COMMITMENT_TRIGGERS)
        report_kind: str | None = None
        if m.get("report_kind") is not None:
            report_kind = v.string(m, "report_kind", path, pattern=CODE_RE)
            if report_kind is not None and report_kind not in kinds:
                v.error(path_at(path, "report_kind"), f"unknown report kind {report_kind!r}")
        elif trigger == "report_signed":
            v.error(path_at(path, "report_kind"), "is required when the trigger is report_signed")
        days = _deadline_days(v, m, path, trigger)
        out.append(
            cast(
                PackCommitment,
                {  # None only beside an error
                    "code": code,
                    "text": v.string(m, "text", path),
                    "trigger": trigger,
                    "report_kind": report_kind,
                    "deadline_days": days,
                    "gating": bool(v.boolean(m, "gating", path)),
                    "source": v.citation(m, path),
                },
            )
        )
    out.sort(key=lambda commitment: commitment["code"] or "")
    _check_access_commitments(v, report_kinds, out)
    return out


def _check_access_commitments(
    v: Validator, report_kinds: list[PackReportKind], commitments: list[PackCommitment]
) -> None:
    """An ``external_review.access_commitment`` names a ``report_signed`` commitment of its
    own kind: a grant of access to such a report is how the commitment is kept."""
    by_code = {c["code"]: c for c in commitments}
    for index, kind in enumerate(report_kinds):
        review = kind.get("external_review")
        code = review and review["access_commitment"]
        if not code:
            continue
        found = by_code.get(code)
        if (
            found is None
            or found["trigger"] != "report_signed"
            or found["report_kind"] != kind["code"]
        ):
            v.error(
                path_at(
                    path_at(path_at("report_kinds", index), "external_review"), "access_commitment"
                ),
                f"must name a report_signed commitment of report kind {kind['code']!r}, "
                f"got {code!r}",
            )


def _deadline_days(
    v: Validator, commitment: dict[str, object], path: str, trigger: str | None
) -> int | None:
    """Days from the trigger to the deadline (0 = before the triggering step proceeds);
    required, and positive, for a periodic commitment (its period)."""
    where = path_at(path, "deadline_days")
    if commitment.get("deadline_days") is None:
        if trigger == "periodic":
            v.error(where, "is required for a periodic commitment (its period in days)")
        return None
    days = v.integer(commitment, "deadline_days", path)
    if days is None:
        return None
    if days < 0 or (trigger == "periodic" and days == 0):
        v.error(
            where,
            f"must be a {'positive' if trigger == 'periodic' else 'non-negative'} "
            f"number of days, got {days}",
        )
        return None
    return days


def validate_noncompliance_recipients(
    v: Validator, root: dict[str, object]
) -> list[PackNoncomplianceRecipient]:
    """``noncompliance_recipients``: the titles whose holders receive noncompliance reports.

    Absent or empty, the pack names none (the portal then sends reports to its sign-off
    titles); each title is named once.
    """
    if root.get("noncompliance_recipients") is None:
        return []
    raw = v.items(root["noncompliance_recipients"], "noncompliance_recipients")
    if raw is None:
        return []
    out: list[PackNoncomplianceRecipient] = []
    titles: dict[str, str] = {}
    for index, item in enumerate(raw):
        path = path_at("noncompliance_recipients", index)
        m = v.mapping(item, path, ("title",), ("source",))
        if m is None:
            continue
        title = v.string(m, "title", path)
        register_unique(v, titles, title, path_at(path, "title"), "recipient title")
        out.append(
            cast(
                PackNoncomplianceRecipient,
                {"title": title, "source": v.citation(m, path)},  # None only beside an error
            )
        )
    out.sort(key=lambda recipient: recipient["title"] or "")
    return out
