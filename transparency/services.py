"""State changes of transparency: publicity acts, noncompliance reports, incidents.

Each runs in one transaction with its audit entry. Who may do what is decided in
``rsp_portal.authz``; whether a user is a **recipient** of noncompliance reports (a holder of a
title the policy in force names in ``noncompliance_recipients``; RSP packs name the RSO and an
executive outside the RSO's chain) is decided here, in :func:`is_recipient`, and nowhere else.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, cast

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

import audit
from evaluations.models import AIModel
from governance import services as governance
from policies.models import PolicyVersion
from rsp_portal.authz import can, require
from rsp_portal.errors import ConflictError, ServiceError
from transparency.models import Incident, ModelPublicity, NoncomplianceReport, NoncomplianceStatus

if TYPE_CHECKING:
    from core.models import User
    from rsp_portal.types import Actor, PortalUser

MAX_SUMMARY = 300
MAX_DETAILS = 20_000
RECEIPT_PREFIX = "nc_"
#: received → investigating → closed; a report is never reopened (a new report is filed).
NEXT_STATUS = {
    NoncomplianceStatus.RECEIVED: {NoncomplianceStatus.INVESTIGATING, NoncomplianceStatus.CLOSED},
    NoncomplianceStatus.INVESTIGATING: {NoncomplianceStatus.CLOSED},
    NoncomplianceStatus.CLOSED: set(),
}


def _text(raw: object, field: str, limit: int, *, required: bool = True) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or "\x00" in raw or len(raw) > limit:
        raise ServiceError({field: [f"Text of at most {limit:,} characters."]})
    if required and not raw.strip():
        raise ServiceError({field: ["Required."]})
    return raw.strip()


# --- Publicity --------------------------------------------------------------------------------


def set_publicity(
    model: AIModel, public: bool, values_public: bool, reason: object, actor: Actor
) -> ModelPublicity:
    """Record whether ``model``'s gate history (and its values) is public."""
    user = require(actor, "publicity.manage")
    why = _text(reason, "reason", 2000)
    with transaction.atomic():
        act = ModelPublicity.objects.create(
            model=model,
            public=bool(public),
            values_public=bool(public and values_public),
            reason=why,
            decided_by=user,
        )
        audit.record(
            "model.publicity",
            act,
            {
                "model": model.slug,
                "public": act.public,
                "values_public": act.values_public,
                "reason": why,
            },
            user,
        )
    return act


def publicity() -> dict[int, ModelPublicity]:
    """The act in force per model id (the newest), for models that have one."""
    found: dict[int, ModelPublicity] = {}
    for act in ModelPublicity.objects.select_related("model").order_by("decided_at", "pk"):
        found[act.model_id] = act
    return found


def public_models() -> list[tuple[AIModel, bool]]:
    """Models marked public by the act in force, with whether their values are public."""
    return sorted(
        ((act.model, act.values_public) for act in publicity().values() if act.public),
        key=lambda pair: pair[0].slug,
    )


# --- Noncompliance ----------------------------------------------------------------------------


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode("utf-8")).hexdigest()


def file_report(
    summary: object, details: object, reporter: PortalUser | None
) -> tuple[NoncomplianceReport, str]:
    """File a report; returns it and the receipt (shown once) to follow its status.

    The audit entry names neither the reporter nor the text (only recipients see those): it
    records that a report was received, with the SHA-256 of its text.
    """
    clean_summary = _text(summary, "summary", MAX_SUMMARY)
    clean_details = _text(details, "details", MAX_DETAILS)
    receipt = RECEIPT_PREFIX + secrets.token_urlsafe(18)
    user = cast("User", reporter) if getattr(reporter, "is_authenticated", False) else None
    with transaction.atomic():
        report = NoncomplianceReport.objects.create(
            summary=clean_summary,
            details=clean_details,
            reporter=user,
            receipt_sha256=receipt_hash(receipt),
        )
        audit.record(
            "noncompliance.receive",
            report,
            {
                "text_sha256": hashlib.sha256(
                    f"{clean_summary}\n{clean_details}".encode()
                ).hexdigest(),
                "signed_in": user is not None,
            },
            "public",
        )
    return report, receipt


def status_of(receipt: object) -> NoncomplianceReport | None:
    if not isinstance(receipt, str) or not receipt.startswith(RECEIPT_PREFIX) or len(receipt) > 100:
        return None
    return NoncomplianceReport.objects.filter(receipt_sha256=receipt_hash(receipt)).first()


def recipient_titles() -> frozenset[str]:
    """The titles the policy in force names as recipients of noncompliance reports.

    A pack that names none sends them to its sign-off titles; with no policy in force nobody
    receives them (they are kept, counted publicly, and read once a policy names recipients).
    Changing them is an activation of a policy version: audited, and signed off when it
    removes one (a loosening).
    """
    active = PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()
    if active is None:
        return frozenset()
    named = [str(r["title"]) for r in active.noncompliance_recipients]
    return frozenset(named or active.signoff_titles)


def is_recipient(user: Actor) -> bool:
    """The one answer to "may this user see noncompliance reports and their reporters?"."""
    held: frozenset[str] = getattr(user, "titles", frozenset())
    return can(user, "noncompliance.handle") and bool(held & recipient_titles())


def require_recipient(actor: Actor) -> PortalUser:
    user = require(actor, "noncompliance.handle")
    if not is_recipient(user):
        raise PermissionDenied(
            "Only the policy's recipients of noncompliance reports (holders of "
            f"{', '.join(sorted(recipient_titles()))}) see and handle them."
        )
    return user


def update_status(
    report: NoncomplianceReport, status: object, finding: object, actor: Actor
) -> NoncomplianceReport:
    """Move a report on (received → investigating → closed); closing needs a finding."""
    user = require_recipient(actor)
    if status not in NoncomplianceStatus.values:
        raise ServiceError({"status": [f"One of {', '.join(NoncomplianceStatus.values)}."]})
    text = _text(finding, "finding", MAX_DETAILS, required=status == NoncomplianceStatus.CLOSED)
    with transaction.atomic():
        locked = NoncomplianceReport.objects.select_for_update().get(pk=report.pk)
        if status not in NEXT_STATUS[NoncomplianceStatus(locked.status)]:
            raise ConflictError({"status": [f"A {locked.status} report cannot become {status}."]})
        locked.status = status
        if text:
            locked.finding = text
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "finding", "updated_at"])
        audit.record("noncompliance.status", locked, {"status": status, "finding": text}, user)
    return locked


# --- Incidents --------------------------------------------------------------------------------


def open_incident(
    model: AIModel | None, title: object, description: object, measures: object, actor: Actor
) -> Incident:
    """Record an incident and its interim measures; a ``pause`` measure pauses the model now."""
    user = require(actor, "incident.record")
    clean_title = _text(title, "title", 300)
    clean_description = _text(description, "description", MAX_DETAILS)
    if not isinstance(measures, list) or not all(m in Incident.Measure.values for m in measures):
        raise ServiceError({"measures": [f"A list of: {', '.join(Incident.Measure.values)}."]})
    if Incident.Measure.PAUSE in measures and model is None:
        raise ServiceError({"model": ["A pause needs the model to pause."]})
    with transaction.atomic():
        pause = None
        if Incident.Measure.PAUSE in measures and model is not None:
            pause = governance.pause(model, f"Incident: {clean_title}", user)
        incident = Incident.objects.create(
            model=model,
            title=clean_title,
            description=clean_description,
            measures=sorted(set(measures)),
            pause=pause,
            opened_by=user,
        )
        audit.record(
            "incident.open",
            incident,
            {
                "model": model.slug if model else "",
                "title": clean_title,
                "measures": incident.measures,
                "pause": pause.pk if pause else None,
            },
            user,
        )
    return incident


def close_incident(incident: Incident, closure: object, actor: Actor) -> Incident:
    user = require(actor, "incident.record")
    text = _text(closure, "closure", MAX_DETAILS)
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.status == Incident.Status.CLOSED:
            raise ConflictError({"incident": ["It is closed already."]})
        locked.status = Incident.Status.CLOSED
        locked.closure = text
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closure", "closed_at"])
        audit.record(
            "incident.close",
            locked,
            {"model": locked.model.slug if locked.model else "", "closure": text},
            user,
        )
    return locked


def set_incident_public(incident: Incident, public: bool, actor: Actor) -> Incident:
    """A recorded act: the incident is (or is no longer) shown on the public view."""
    user = require(actor, "publicity.manage")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        locked.public = bool(public)
        locked.save(update_fields=["public"])
        audit.record(
            "incident.publicity",
            locked,
            {"model": locked.model.slug if locked.model else "", "public": locked.public},
            user,
        )
    return locked
