"""State changes of policies: load a pack as a draft, activate it, export it.

Packs (``policies/packs.py``) are the exchange format: ``load_pack`` turns a normalised pack
into a draft ``PolicyVersion``, ``to_pack`` turns any version back into exactly that
normalised pack, so ``to_pack(load_pack(x)) == x`` and the content hashes agree.
Every write is audited in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from core.events import Event, emit
from policies.models import (
    CapabilityThreshold,
    FrozenPolicyError,
    Indicator,
    Metric,
    PolicyChild,
    PolicyVersion,
    RiskDomain,
    SafeguardRequirement,
    SafetyLevel,
    SelfAssessmentRecord,
    Standard,
)
from policies.pack_format import (
    PACK_CHOICE,
    SETTINGS_KEYS,
    PackCommitment,
    PackNoncomplianceRecipient,
    PackReportKind,
)
from policies.packs import (
    Pack,
    PackError,
    PackSettings,
    PackSource,
    content_sha256,
    dump_pack,
    validate_pack,
)
from policies.selfassessment import ELEMENTS, computed
from rsp_portal.authz import require
from rsp_portal.errors import ConflictError

if TYPE_CHECKING:
    from core.models import User
    from rsp_portal.types import Actor


__all__ = [
    "POLICY_ACTIVATED",
    "ActivationError",
    "activate",
    "active_policy",
    "export",
    "find_loaded",
    "load_pack",
    "lock_draft",
    "to_pack",
]

#: Emitted with the newly active version and who activated it, inside activate()'s
#: transaction, after the switch. The evidence summary and the gate recompute in their
#: handlers; an exception rolls the activation back.
POLICY_ACTIVATED: Event[PolicyVersion] = Event(
    "policy.activated", "a policy version became the one in force"
)


class ActivationError(ConflictError):
    """The version cannot be activated (not a draft, its content no longer valid, a sign-off
    missing); answered with 409 by the one handler, about the field ``version``."""

    code = "activation_refused"

    def __init__(self, message: str) -> None:
        super().__init__({"version": [message]})


def _user_or_none(actor: Actor) -> User | None:
    return cast("User", actor) if getattr(actor, "is_authenticated", False) else None


# ------------------------------------------------------------------------------ load


def find_loaded(pack: Mapping[str, object]) -> PolicyVersion | None:
    """The draft or active version whose content equals ``pack`` (normalised), if any.

    Superseded versions do not count: loading a superseded policy again is a roll-back
    and creates a new draft (the old version's history stays as it was).
    """
    digest = content_sha256(pack)
    return (
        PolicyVersion.objects.filter(content_sha256=digest)
        .exclude(status=PolicyVersion.Status.SUPERSEDED)
        .order_by("-pk")
        .first()
    )


def load_pack(
    data: Mapping[str, object], actor: Actor = None, activate: bool = False
) -> PolicyVersion:
    """Create a draft version from a pack dict; all or nothing; audited as ``policy.load``.

    ``data`` is validated again (``validate_pack`` is idempotent), so a :class:`PackError`
    is raised before the database is touched. If a draft or the active version already has
    exactly this content, that version is returned instead of a duplicate (and activated if
    asked and still a draft); ``version.newly_loaded`` tells which happened.
    """
    pack = validate_pack(dict(data), "<pack>")
    digest = content_sha256(pack)
    existing = find_loaded(pack)
    if existing is not None:
        if activate and existing.is_draft:
            existing = _activate(existing, actor)
        existing.newly_loaded = False  # type: ignore[attr-defined]
        return existing
    user = _user_or_none(actor)
    with transaction.atomic():
        version = _create_version(pack, digest, user)
        audit.record(
            "policy.load",
            version,
            {
                "key": pack["key"],
                "version": pack["version"],
                "content_sha256": digest,
            },
            actor,
        )
        if activate:
            version = _activate(version, actor)
    version.newly_loaded = True  # type: ignore[attr-defined]
    return version


def _activate(version: PolicyVersion, actor: Actor) -> PolicyVersion:
    # load_pack's ``activate`` flag shadows the function of that name.
    return activate(version, actor)


_Row = TypeVar("_Row", bound=PolicyChild)


def _pick(item: Mapping[str, object], *names: str) -> dict[str, Any]:
    """``names`` of ``item``, as keyword arguments for a model (values of mixed types)."""
    return {name: item[name] for name in names}


def _created(model: type[_Row], rows: list[_Row], key: str = "code") -> dict[str, _Row]:
    """Insert ``rows`` of ``model`` in one query; the created rows by ``key``."""
    model.objects.bulk_create(rows)  # sets the primary keys on ``rows``
    return {getattr(row, key): row for row in rows}


def _create_version(pack: Pack, digest: str, user: User | None) -> PolicyVersion:
    version = PolicyVersion.objects.create(
        **_pick(pack, "key", "name", "version", "source", "disclaimer"),
        **_pick(pack["settings"], *PolicyVersion.SETTINGS_FIELDS),
        family=pack["family"] or "",
        settings_sources=pack["settings"]["sources"],
        report_kinds=pack["report_kinds"],
        commitments=pack["commitments"],
        noncompliance_recipients=pack["noncompliance_recipients"],
        status=PolicyVersion.Status.DRAFT,
        content_sha256=digest,
        created_by=user,
    )
    levels = _created(
        SafetyLevel,
        [
            SafetyLevel(
                version=version, **_pick(lv, "code", "rank", "name", "description", "source")
            )
            for lv in pack["levels"]
        ],
    )
    standards = _created(
        Standard,
        [
            Standard(
                version=version,
                level=levels[st["level"]],
                **_pick(st, "code", "kind", "includes", "source"),
            )
            for st in pack["standards"]
        ],
    )
    _created(
        SafeguardRequirement,
        [
            SafeguardRequirement(
                version=version,
                standard=standards[st["code"]],
                **_pick(req, "code", "title", "evidence", "source"),
            )
            for st in pack["standards"]
            for req in st["requirements"]
        ],
    )
    domains = _created(
        RiskDomain,
        [
            RiskDomain(
                version=version,
                category=d["category"] or "",
                **_pick(d, "code", "name", "tier", "source"),
            )
            for d in pack["domains"]
        ],
    )
    metric_fields = (
        "key",
        "name",
        "unit",
        "min",
        "max",
        "higher_is_more_capable",
        "min_samples",
        "source",
    )
    metrics = _created(
        Metric,
        [
            Metric(
                version=version,
                domain=domains[m["domain"]] if m["domain"] is not None else None,
                **_pick(m, *metric_fields),
            )
            for m in pack["metrics"]
        ],
        key="key",
    )
    thresholds = _created(
        CapabilityThreshold,
        [
            CapabilityThreshold(
                version=version,
                domain=domains[t["domain"]],
                requires_scaling=t["requires"]["scaling"],
                requires_deployment=t["requires"]["deployment"],
                requires_internal_deployment=t["requires"]["internal_deployment"],
                **_pick(t, "code", "name", "description", "tier", "halt", "source"),
            )
            for t in pack["thresholds"]
        ],
    )
    Indicator.objects.bulk_create(
        Indicator(
            version=version,
            threshold=thresholds[t["code"]],
            metric=metrics[ind["metric"]],
            **_pick(ind, "warning", "critical", "source"),
        )
        for t in pack["thresholds"]
        for ind in t["indicators"]
    )
    return version


# -------------------------------------------------------------------------- activate


def lock_draft(version: PolicyVersion) -> tuple[PolicyVersion, PolicyVersion | None]:
    """Lock the draft and the active version (in id order); refuse anything but a draft."""
    locked = list(
        PolicyVersion.objects.select_for_update()
        .filter(Q(pk=version.pk) | Q(status=PolicyVersion.Status.ACTIVE))
        .order_by("pk")
    )
    target = next((row for row in locked if row.pk == version.pk), None)
    if target is None:
        raise ActivationError(f"Policy version #{version.pk} does not exist.")
    if not target.is_draft:
        raise ActivationError(
            f"Policy version #{target.pk} is {target.status}; only a draft can be activated."
        )
    return target, next((row for row in locked if row.pk != target.pk), None)


def activate(version: PolicyVersion, actor: Actor) -> PolicyVersion:
    """Make a draft the active version, superseding the current one; audited.

    A user actor needs ``policy.activate`` (leadership); ``None`` or a string is an operator
    at the console (``load_policy --activate``, ``seed_demo``). The draft's content is
    validated again (an admin may have edited it) and its hash recomputed. Both rows are
    locked; the ``POLICY_ACTIVATED`` handlers run inside the same transaction.
    """
    if _user_or_none(actor) is not None:
        require(actor, "policy.activate")
    with transaction.atomic():
        target, in_force = lock_draft(version)
        try:
            pack = validate_pack(to_pack(_with_children(target.pk)), f"version #{target.pk}")
        except PackError as exc:
            raise ActivationError(str(exc)) from exc
        digest = content_sha256(pack)
        previous = in_force
        # Loosening the policy in force needs its sign-off titles (policies.activation).
        from policies.activation import check_activation

        check_activation(target, previous, digest)
        if previous is not None:
            previous.status = PolicyVersion.Status.SUPERSEDED
            previous.save(update_fields=["status"])
        target.status = PolicyVersion.Status.ACTIVE
        target.activated_at = timezone.now()
        target.activated_by = _user_or_none(actor)
        target.content_sha256 = digest
        target.save(update_fields=["status", "activated_at", "activated_by", "content_sha256"])
        audit.record(
            "policy.activate",
            target,
            {
                "version": target.pk,
                "label": target.version,
                "key": target.key,
                "previous_version": previous.pk if previous is not None else None,
                "content_sha256": digest,
            },
            actor,
        )
        emit(POLICY_ACTIVATED, target, actor)
    version.refresh_from_db()
    return target


# -------------------------------------------------------------------- self-assessment


def self_assessment(version: PolicyVersion) -> list[dict[str, Any]]:
    """Each METR common element for ``version``: what the data says and the latest mark
    recorded by people (with its history), in element order."""
    auto = computed(to_pack(version))
    records: dict[str, list[SelfAssessmentRecord]] = {}
    for row in SelfAssessmentRecord.objects.filter(version=version).select_related("recorded_by"):
        records.setdefault(row.element, []).append(row)
    return [
        {
            "element": element,
            "computed": auto[element.code],
            "recorded": records[element.code][-1] if element.code in records else None,
            "history": records.get(element.code, []),
        }
        for element in ELEMENTS
    ]


def record_self_assessment(
    version: PolicyVersion,
    element: str,
    status: str,
    actor: Actor,
    *,
    evidence_url: str = "",
    note: str = "",
) -> SelfAssessmentRecord:
    """Record a person's mark of one element for a version; audited. Leadership only (the
    same people who activate a policy)."""
    actor = require(actor, "policy.activate")
    errors: dict[str, list[str]] = {}
    if element not in {e.code for e in ELEMENTS}:
        errors["element"] = [f"Unknown element {element!r}."]
    if status not in SelfAssessmentRecord.Status.values:
        errors["status"] = ["Choose met, partly or not."]
    if evidence_url and not evidence_url.startswith(("https://", "http://")):
        errors["evidence_url"] = ["Give an http(s) link to the evidence."]
    if (
        status in (SelfAssessmentRecord.Status.MET, SelfAssessmentRecord.Status.PARTLY)
        and not evidence_url
    ):
        errors.setdefault("evidence_url", []).append("A mark of met or partly needs evidence.")
    if errors:
        raise SelfAssessmentError(errors)
    with transaction.atomic():
        row = SelfAssessmentRecord.objects.create(
            version=version,
            element=element,
            status=status,
            evidence_url=evidence_url,
            note=note.strip(),
            recorded_by=actor,
        )
        audit.record(
            "policy.self_assessment",
            version,
            {
                "version": version.pk,
                "element": element,
                "status": status,
                "evidence_url": evidence_url,
            },
            actor,
        )
    return row


class SelfAssessmentError(Exception):
    """Bad input for a self-assessment mark: ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for ms in errors.values() for m in ms))


# ---------------------------------------------------------------------------- read


def _with_children(pk: int) -> PolicyVersion:
    return PolicyVersion.objects.with_children().get(pk=pk)


def active_policy() -> PolicyVersion | None:
    """The active version with every child prefetched (8 queries), or None.

    This is what other apps call (gate engine, dossiers): afterwards ``to_pack(v)`` and
    iterating ``v.levels.all()``, ``v.thresholds.all()`` etc. need no further query.
    """
    return PolicyVersion.objects.active().with_children().first()


def version_with_children(pk: int) -> PolicyVersion | None:
    return PolicyVersion.objects.with_children().filter(pk=pk).first()


def to_pack(version: PolicyVersion) -> Pack:
    """The version as a normalised pack (``policies.packs`` docstring), key for key.

    Uses prefetched children when present (``with_children()``), else queries them.
    """
    levels = sorted(version.levels.all(), key=lambda lv: (lv.rank, lv.code))
    standards = sorted(version.standards.all(), key=lambda st: st.code)
    domains = sorted(version.domains.all(), key=lambda d: d.code)
    metrics = sorted(version.metrics.all(), key=lambda m: m.key)
    thresholds = sorted(version.thresholds.all(), key=lambda t: t.code)
    return {
        "key": version.key,
        "name": version.name,
        "version": version.version,
        "family": version.family or None,
        # Versions loaded before packs had ``source.notes`` get the default, as a reload would.
        # ``source`` (a JSONField) was stored from a validated pack.
        "source": cast(
            PackSource, {**dict(version.source), "notes": list(version.source.get("notes", []))}
        ),
        "disclaimer": version.disclaimer,
        "settings": settings_of(version),
        "levels": [
            {
                "code": lv.code,
                "rank": lv.rank,
                "name": lv.name,
                "description": lv.description,
                "source": lv.source,
            }
            for lv in levels
        ],
        "standards": [
            {
                "code": st.code,
                "level": st.level.code,
                "kind": st.kind,
                "includes": sorted(st.includes),
                "requirements": [
                    {
                        "code": req.code,
                        "title": req.title,
                        "evidence": req.evidence,
                        "source": req.source,
                    }
                    for req in sorted(st.requirements.all(), key=lambda r: r.code)
                ],
                "source": st.source,
            }
            for st in standards
        ],
        "domains": [
            {
                "code": d.code,
                "name": d.name,
                "tier": d.tier,
                "category": d.category or None,
                "source": d.source,
            }
            for d in domains
        ],
        "metrics": [
            {
                "key": m.key,
                "name": m.name,
                "unit": m.unit,
                "min": float(m.min),
                "max": float(m.max),
                "higher_is_more_capable": m.higher_is_more_capable,
                "domain": m.domain.code if m.domain is not None else None,
                "min_samples": m.min_samples,
                "source": m.source,
            }
            for m in metrics
        ],
        "thresholds": [
            {
                "code": t.code,
                "domain": t.domain.code,
                "name": t.name,
                "description": t.description,
                "tier": t.tier,
                "halt": t.halt,
                "requires": {
                    "scaling": sorted(t.requires_scaling),
                    "deployment": sorted(t.requires_deployment),
                    "internal_deployment": sorted(t.requires_internal_deployment),
                },
                "indicators": [
                    {
                        "metric": ind.metric.key,
                        "warning": float(ind.warning) if ind.warning is not None else None,
                        "critical": float(ind.critical),
                        "source": ind.source,
                    }
                    for ind in sorted(t.indicators.all(), key=lambda i: i.metric.key)
                ],
                "source": t.source,
            }
            for t in thresholds
        ],
        "report_kinds": cast("list[PackReportKind]", list(version.report_kinds)),
        "commitments": cast("list[PackCommitment]", list(version.commitments)),
        "noncompliance_recipients": cast(
            "list[PackNoncomplianceRecipient]", list(version.noncompliance_recipients)
        ),
    }


def settings_of(version: PolicyVersion) -> PackSettings:
    return {
        "baseline_level": version.baseline_level,
        "baseline_standards": sorted(version.baseline_standards),
        "effective_compute_multiple": float(version.effective_compute_multiple),
        "months_between_assessments": version.months_between_assessments,
        "safeguard_reapproval_months": version.safeguard_reapproval_months,
        "warning_behaviour": version.warning_behaviour,
        "uncertainty_z": float(version.uncertainty_z),
        "signoff_titles": list(version.signoff_titles),
        "advisory_titles": list(version.advisory_titles),
        # Versions stored before settings had sources read as a reload would: pack choices.
        "sources": {
            key: str(version.settings_sources.get(key, PACK_CHOICE)) for key in SETTINGS_KEYS
        },
    }


def api_representation(version: PolicyVersion) -> dict[str, Any]:
    """``GET /api/v1/policy/``: the pack plus id, status and content hash."""
    pack = to_pack(version)
    return {
        "id": version.pk,
        "key": pack["key"],
        "name": pack["name"],
        "version": pack["version"],
        "status": version.status,
        "content_sha256": version.content_sha256,
        "source": pack["source"],
        "disclaimer": pack["disclaimer"],
        "settings": pack["settings"],
        "levels": pack["levels"],
        "standards": pack["standards"],
        "domains": pack["domains"],
        "metrics": pack["metrics"],
        "thresholds": pack["thresholds"],
        "family": pack["family"],
        "report_kinds": pack["report_kinds"],
        "commitments": pack["commitments"],
        "noncompliance_recipients": pack["noncompliance_recipients"],
    }


def export(version: PolicyVersion, actor: Actor = None) -> str:
    """The version as pack YAML; audited as ``policy.export`` with the content hash."""
    pack = to_pack(version)
    text = dump_pack(pack)
    with transaction.atomic():
        audit.record(
            "policy.export",
            version,
            {
                "version": version.pk,
                "status": version.status,
                "content_sha256": content_sha256(pack),
            },
            actor,
        )
    return text


def refresh_draft_hash(version: PolicyVersion) -> None:
    """Recompute a draft's content hash after an edit (Django admin). Drafts only."""
    if not version.is_draft:
        raise FrozenPolicyError(f"Policy version #{version.pk} is {version.status}.")
    fresh = _with_children(version.pk)
    version.content_sha256 = content_sha256(to_pack(fresh))
    version.save(update_fields=["content_sha256"])
