"""State changes of policies: load a pack as a draft, activate it, export it.

Packs (``policies/packs.py``) are the exchange format: ``load_pack`` turns a normalised pack
into a draft ``PolicyVersion``, ``to_pack`` turns any version back into exactly that
normalised pack, so ``to_pack(load_pack(x)) == x`` and the content hashes agree.
Every write is audited in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from policies.models import (
    ActivationApproval,
    CapabilityThreshold,
    FrozenPolicyError,
    Indicator,
    Metric,
    PolicyVersion,
    RiskDomain,
    SafeguardRequirement,
    SafetyLevel,
    SelfAssessmentRecord,
    Standard,
)
from policies.packs import PackError, content_sha256, dump_pack, validate_pack
from policies.selfassessment import ELEMENTS, computed
from rsp_portal.authz import require

if TYPE_CHECKING:
    from core.models import User
    from rsp_portal.types import Actor


__all__ = [
    "ON_ACTIVATE",
    "ActivationError",
    "activate",
    "activation_status",
    "active_policy",
    "approve_activation",
    "export",
    "find_loaded",
    "load_pack",
    "to_pack",
]

#: Called with the newly active version inside activate()'s transaction, after the switch.
#: The gate engine registers its recomputation here; an exception rolls the activation back.
ON_ACTIVATE: list[Callable[[PolicyVersion], None]] = []


class ActivationError(Exception):
    """The version cannot be activated (not a draft, or its content is no longer valid)."""


def _user_or_none(actor: Actor) -> User | None:
    return cast("User", actor) if getattr(actor, "is_authenticated", False) else None


# ------------------------------------------------------------------------------ load


def find_loaded(pack: Mapping[str, Any]) -> PolicyVersion | None:
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
    data: Mapping[str, Any], actor: Actor = None, activate: bool = False
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


def _create_version(pack: dict[str, Any], digest: str, user: User | None) -> PolicyVersion:
    settings = pack["settings"]
    version = PolicyVersion.objects.create(
        key=pack["key"],
        name=pack["name"],
        version=pack["version"],
        status=PolicyVersion.Status.DRAFT,
        content_sha256=digest,
        source=pack["source"],
        disclaimer=pack["disclaimer"],
        baseline_level=settings["baseline_level"],
        baseline_standards=settings["baseline_standards"],
        effective_compute_multiple=settings["effective_compute_multiple"],
        months_between_assessments=settings["months_between_assessments"],
        safeguard_reapproval_months=settings["safeguard_reapproval_months"],
        warning_behaviour=settings["warning_behaviour"],
        uncertainty_z=settings["uncertainty_z"],
        signoff_titles=settings["signoff_titles"],
        advisory_titles=settings["advisory_titles"],
        created_by=user,
    )
    levels = {
        row.code: row
        for row in SafetyLevel.objects.bulk_create(
            SafetyLevel(
                version=version,
                code=lv["code"],
                rank=lv["rank"],
                name=lv["name"],
                description=lv["description"],
            )
            for lv in pack["levels"]
        )
    }
    standards = {
        row.code: row
        for row in Standard.objects.bulk_create(
            Standard(
                version=version,
                code=st["code"],
                level=levels[st["level"]],
                kind=st["kind"],
                includes=st["includes"],
            )
            for st in pack["standards"]
        )
    }
    SafeguardRequirement.objects.bulk_create(
        SafeguardRequirement(
            version=version,
            standard=standards[st["code"]],
            code=req["code"],
            title=req["title"],
            evidence=req["evidence"],
        )
        for st in pack["standards"]
        for req in st["requirements"]
    )
    domains = {
        row.code: row
        for row in RiskDomain.objects.bulk_create(
            RiskDomain(
                version=version,
                code=d["code"],
                name=d["name"],
                tier=d["tier"],
                category=d["category"] or "",
            )
            for d in pack["domains"]
        )
    }
    metrics = {
        row.key: row
        for row in Metric.objects.bulk_create(
            Metric(
                version=version,
                key=m["key"],
                name=m["name"],
                unit=m["unit"],
                min=m["min"],
                max=m["max"],
                higher_is_more_capable=m["higher_is_more_capable"],
                domain=domains[m["domain"]] if m["domain"] is not None else None,
                min_samples=m["min_samples"],
            )
            for m in pack["metrics"]
        )
    }
    thresholds = {
        row.code: row
        for row in CapabilityThreshold.objects.bulk_create(
            CapabilityThreshold(
                version=version,
                domain=domains[t["domain"]],
                code=t["code"],
                name=t["name"],
                description=t["description"],
                tier=t["tier"],
                halt=t["halt"],
                requires_scaling=t["requires"]["scaling"],
                requires_deployment=t["requires"]["deployment"],
            )
            for t in pack["thresholds"]
        )
    }
    Indicator.objects.bulk_create(
        Indicator(
            version=version,
            threshold=thresholds[t["code"]],
            metric=metrics[ind["metric"]],
            warning=ind["warning"],
            critical=ind["critical"],
        )
        for t in pack["thresholds"]
        for ind in t["indicators"]
    )
    return version


# -------------------------------------------------------------------------- activate


def _lock_draft(version: PolicyVersion) -> tuple[PolicyVersion, PolicyVersion | None]:
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
    locked; ``ON_ACTIVATE`` hooks run inside the same transaction.
    """
    if _user_or_none(actor) is not None:
        require(actor, "policy.activate")
    with transaction.atomic():
        target, in_force = _lock_draft(version)
        try:
            pack = validate_pack(to_pack(_with_children(target.pk)), f"version #{target.pk}")
        except PackError as exc:
            raise ActivationError(str(exc)) from exc
        digest = content_sha256(pack)
        previous = in_force
        # Loosening the policy in force needs its sign-off titles (core.activation).
        from core.activation import ActivationSignoffError, check_activation

        try:
            check_activation(target, previous, actor)
        except ActivationSignoffError as exc:
            raise ActivationError(str(exc)) from None
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
        for hook in ON_ACTIVATE:
            hook(target)
    version.refresh_from_db()
    return target


# -------------------------------------------------------------- activation sign-off


def activation_status(
    version: PolicyVersion, active: PolicyVersion | None = None
) -> dict[str, Any]:
    """Who must approve activating ``version`` and who has: the sign-off rule in force.

    The rule is the *active* version's ``signoff_titles`` (a policy cannot pass itself with a
    weaker rule of its own). With no active version there is no rule in force and one
    leadership user activates. ``approvals`` count only for the draft's current content and
    the current rule. Returns ``{"rule_version", "required_titles", "approvals",
    "pending_titles"}`` with approvals as ``{"title", "user", "at"}``.
    """
    if active is None:
        active = PolicyVersion.objects.active().first()
    if active is None or active.pk == version.pk:
        return {"rule_version": None, "required_titles": [], "approvals": [], "pending_titles": []}
    required = list(active.signoff_titles)
    rows = ActivationApproval.objects.filter(
        version=version, rule_version=active, content_sha256=version.content_sha256
    ).select_related("approver")
    approvals = [
        {"title": row.title, "user": row.approver.get_username(), "at": row.created_at}
        for row in rows
    ]
    done = {row["title"] for row in approvals}
    return {
        "rule_version": active.pk,
        "required_titles": required,
        "approvals": approvals,
        "pending_titles": [title for title in required if title not in done],
    }


def approve_activation(version: PolicyVersion, actor: Actor) -> PolicyVersion:
    """Approve activating a draft as one sign-off title of the policy in force; the last
    title needed activates it (``activate``). Audited as ``policy.activation_approve``.

    The approver must hold ``policy.activate`` and a title of the active version's sign-off
    rule not yet approved for this content; one person fills one title. Without an active
    version the draft is activated at once (nothing is in force to follow). Raises
    :class:`ActivationError` when the version is not a draft or the actor holds no pending
    title.
    """
    actor = require(actor, "policy.activate")
    with transaction.atomic():
        target, in_force = _lock_draft(version)
        active = in_force
        if active is None:
            return activate(target, actor)
        status = activation_status(target, active)
        held = set(getattr(actor, "titles", frozenset()))
        if any(row["user"] == actor.get_username() for row in status["approvals"]):
            raise ActivationError(
                f"You have already approved activating policy version #{target.pk}; "
                "one person fills one title."
            )
        title = next((t for t in status["pending_titles"] if t in held), None)
        if title is None:
            needed = ", ".join(status["pending_titles"]) or "none"
            raise ActivationError(
                "Activation follows the sign-off rule of the policy in force "
                f"(#{active.pk}): titles still needed: {needed}; you hold none of them."
            )
        ActivationApproval.objects.create(
            version=target,
            rule_version=active,
            title=title,
            approver=actor,
            content_sha256=target.content_sha256,
        )
        pending = [t for t in status["pending_titles"] if t != title]
        audit.record(
            "policy.activation_approve",
            target,
            {
                "version": target.pk,
                "title": title,
                "rule_version": active.pk,
                "content_sha256": target.content_sha256,
                "pending_titles": pending,
            },
            actor,
        )
        if not pending:
            return activate(target, actor)
    target.refresh_from_db()
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
    if status in ("met", "partly") and not evidence_url:
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


def to_pack(version: PolicyVersion) -> dict[str, Any]:
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
        # Versions loaded before packs had ``source.notes`` get the default, as a reload would.
        "source": {**dict(version.source), "notes": list(version.source.get("notes", []))},
        "disclaimer": version.disclaimer,
        "settings": settings_of(version),
        "levels": [
            {"code": lv.code, "rank": lv.rank, "name": lv.name, "description": lv.description}
            for lv in levels
        ],
        "standards": [
            {
                "code": st.code,
                "level": st.level.code,
                "kind": st.kind,
                "includes": sorted(st.includes),
                "requirements": [
                    {"code": req.code, "title": req.title, "evidence": req.evidence}
                    for req in sorted(st.requirements.all(), key=lambda r: r.code)
                ],
            }
            for st in standards
        ],
        "domains": [
            {"code": d.code, "name": d.name, "tier": d.tier, "category": d.category or None}
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
                },
                "indicators": [
                    {
                        "metric": ind.metric.key,
                        "warning": float(ind.warning) if ind.warning is not None else None,
                        "critical": float(ind.critical),
                    }
                    for ind in sorted(t.indicators.all(), key=lambda i: i.metric.key)
                ],
            }
            for t in thresholds
        ],
    }


def settings_of(version: PolicyVersion) -> dict[str, Any]:
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
