"""External review: time-limited read access for outside reviewers, and their reviews.

Leadership grants a reviewer (an account in the ``reviewer`` role, for an outside body) access
to one report, or to one model's reports, for a number of days. Where the policy's report kind
says so (``external_review.approved_by``, e.g. the LTBT under RSP v3.2+), a holder of that
title approves the grant first, and the period starts at the approval. Access **ends by
itself**: every check compares the period with the time of the request, so no job has to run.

A grant is authority, so it is checked against the trail like roles and titles (ADR 0024): a
grant is in force only if its ``review.grant`` (and ``review.approve``) entries name the same
reviewer, subject and period as the row, and no ``review.end`` entry ended it. A row forged in
SQL confers nothing.

A reviewer reads the reports the grants name (and the record frozen in them) and records a
**review**: append-only, audited, shown in the report and in the dossier of a decision relying
on it as advisory, never as a signature. Where the kind names an access commitment
(``external_review.access_commitment``, "reviewers get access within a week"), the grant that
starts a reviewer's access to a signed report keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

import audit
from accountability import commitments
from accountability.models import (
    CommitmentFulfilment,
    GrantStatus,
    Report,
    ReportStatus,
    Review,
    ReviewerGrant,
)

__all__ = ["reviews_of"]
from accountability.reports import MAX_SECTION_CHARS, active_version, report_kinds, reviews_of
from audit.models import AuditEntry
from audit.verify_bundle import JsonObject as Body
from core import authority
from core.models import Role, User
from evaluations.models import AIModel
from rsp_portal.authz import can, require
from rsp_portal.errors import ConflictError, ServiceError

if TYPE_CHECKING:
    from rsp_portal.types import Actor

GRANT_TYPE = "accountability.reviewergrant"
GRANT_ACTIONS = ("review.grant", "review.approve", "review.refuse", "review.end")
MAX_DAYS = 366
MAX_ORGANISATION = 200


# --- What the policy says ------------------------------------------------------------------


def external_review(report_kind: Mapping[str, object] | None) -> Mapping[str, object]:
    """The kind's ``external_review`` settings ({} when the pack names none)."""
    review = (report_kind or {}).get("external_review")
    return review if isinstance(review, Mapping) else {}


def approval_title(report: Report | None) -> str:
    """The title that approves a reviewer's access first ("" when none must): the report's
    kind for a report grant; for a model grant, any kind of the active policy that asks for
    one (the strictest)."""
    if report is not None:
        kind = report_kinds(report.policy_version).get(report.kind)
        return str(external_review(kind).get("approved_by") or "")
    for kind in report_kinds(active_version()).values():
        title = external_review(kind).get("approved_by")
        if title:
            return str(title)
    return ""


# --- Granting ------------------------------------------------------------------------------


def _days(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DAYS:
        raise ServiceError({"days": [f"A whole number of days from 1 to {MAX_DAYS}."]})
    return raw


def _organisation(raw: object) -> str:
    if (
        not isinstance(raw, str)
        or not raw.strip()
        or len(raw.strip()) > MAX_ORGANISATION
        or "\x00" in raw
    ):
        raise ServiceError(
            {"organisation": [f"The outside body the reviewer reviews for (1-{MAX_ORGANISATION})."]}
        )
    return raw.strip()


def grant_access(
    reviewer: User | None,
    *,
    report: Report | None = None,
    model: AIModel | None = None,
    organisation: object,
    days: object,
    actor: Actor,
) -> ReviewerGrant:
    """Grant ``reviewer`` read access to ``report`` or to ``model``'s reports for ``days``.

    Starts at once, unless the policy names a title that approves reviewers first."""
    user = require(actor, "review.grant")
    if reviewer is None or reviewer.role != Role.REVIEWER or not reviewer.is_active:
        raise ServiceError({"reviewer": ["Name an active account in the external reviewer role."]})
    if (report is None) == (model is None):
        raise ServiceError({"report": ["Grant access to one report or to one model's reports."]})
    if report is not None and report.status == ReportStatus.SUPERSEDED:
        raise ServiceError({"report": ["This version is superseded: grant the newest one."]})
    clean_days, clean_org = _days(days), _organisation(organisation)
    title = approval_title(report)
    now = timezone.now()
    with transaction.atomic():
        grant = ReviewerGrant.objects.create(
            reviewer=reviewer,
            organisation=clean_org,
            report=report,
            model=model,
            days=clean_days,
            approval_title=title,
            granted_by=user,
            granted_at=now,
        )
        audit.record("review.grant", grant, _grant_data(grant), user)
        if not title:
            _start(grant, now, user)
    return grant


def approve_grant(grant: ReviewerGrant, actor: Actor) -> ReviewerGrant:
    """A holder of the grant's approval title approves it; its period starts now."""
    user = require(actor, "review.grant")
    with transaction.atomic():
        locked = ReviewerGrant.objects.select_for_update().get(pk=grant.pk)
        _check_approver(locked, user)
        locked.approved_by = user
        locked.approved_at = timezone.now()
        locked.save(update_fields=["approved_by", "approved_at"])
        audit.record(
            "review.approve",
            locked,
            {"reviewer": locked.reviewer.username, "title": locked.approval_title},
            user,
        )
        _start(locked, locked.approved_at, user)
    return locked


def refuse_grant(grant: ReviewerGrant, actor: Actor) -> ReviewerGrant:
    """A holder of the approval title refuses a pending grant."""
    user = require(actor, "review.grant")
    with transaction.atomic():
        locked = ReviewerGrant.objects.select_for_update().get(pk=grant.pk)
        _check_approver(locked, user)
        locked.status = GrantStatus.REFUSED
        locked.save(update_fields=["status"])
        audit.record(
            "review.refuse",
            locked,
            {"reviewer": locked.reviewer.username, "title": locked.approval_title},
            user,
        )
    return locked


def _check_approver(grant: ReviewerGrant, user: User) -> None:
    if grant.status != GrantStatus.PENDING or not grant.approval_title:
        raise ConflictError(
            {"grant": [f"This grant is not waiting for approval ({grant.status})."]}
        )
    if user.pk in (grant.granted_by_id, grant.reviewer_id):
        raise ConflictError({"grant": ["Whoever granted access cannot also approve it."]})
    if authority.signing_title(user, [grant.approval_title]) is None:
        raise ConflictError(
            {"grant": [f"Only a holder of the {grant.approval_title} title approves reviewers."]}
        )


def end_grant(grant: ReviewerGrant, actor: Actor) -> ReviewerGrant:
    """End a grant before its period is over (leadership)."""
    user = require(actor, "review.grant")
    now = timezone.now()
    with transaction.atomic():
        locked = ReviewerGrant.objects.select_for_update().get(pk=grant.pk)
        if locked.status not in (GrantStatus.ACTIVE, GrantStatus.PENDING):
            raise ConflictError({"grant": [f"This grant is {locked.status} already."]})
        locked.status = GrantStatus.ENDED
        if locked.ends_at is not None and locked.ends_at > now:
            locked.ends_at = now
        locked.save(update_fields=["status", "ends_at"])
        audit.record("review.end", locked, {"reviewer": locked.reviewer.username}, user)
    return locked


def _start(grant: ReviewerGrant, now: datetime, actor: User) -> None:
    grant.status = GrantStatus.ACTIVE
    grant.starts_at = now
    grant.ends_at = now + timedelta(days=grant.days)
    grant.save(update_fields=["status", "starts_at", "ends_at"])
    audit.record(
        "review.start",
        grant,
        {
            "reviewer": grant.reviewer.username,
            "starts_at": grant.starts_at.isoformat(),
            "ends_at": grant.ends_at.isoformat(),
        },
        actor,
    )
    _keep_access_commitment(grant, actor)


def _keep_access_commitment(grant: ReviewerGrant, actor: User) -> None:
    """The grant that starts access to a signed report keeps the kind's access commitment."""
    report = grant.report
    if report is None or report.signed_at is None:
        return
    kind = report_kinds(report.policy_version).get(report.kind)
    code = external_review(kind).get("access_commitment")
    if not code:
        return
    key = f"{report.policy_version_id}.{code}.report.{report.pk}"
    already = CommitmentFulfilment.objects.filter(
        policy_version_id=report.policy_version_id,
        code=code,
        subject_type="report",
        subject_id=str(report.pk),
    ).exists()
    if already:
        return
    try:
        commitments.fulfil(
            key,
            "",
            f"Access granted to {grant.reviewer.username} ({grant.organisation}), "
            f"grant #{grant.pk}, until {grant.ends_at:%Y-%m-%d %H:%M} UTC.",
            actor,
        )
    except ValidationError:
        return  # not due (the report is not of the commitment's kind or not signed)


def _grant_data(grant: ReviewerGrant) -> dict[str, object]:
    return {
        "model": grant.model.slug
        if grant.model
        else (grant.report.model.slug if grant.report and grant.report.model else ""),
        "reviewer": grant.reviewer.username,
        "reviewer_id": grant.reviewer_id,
        "organisation": grant.organisation,
        "report": grant.report_id,
        "ai_model": grant.model_id,
        "days": grant.days,
        "approval_title": grant.approval_title,
    }


# --- Who sees what -------------------------------------------------------------------------


def _trail(grants: Iterable[ReviewerGrant]) -> dict[str, list[Body]]:
    ids = [str(g.pk) for g in grants]
    found: dict[str, list[Body]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = AuditEntry.objects.filter(
        object_type=GRANT_TYPE, object_id__in=ids, action__in=[*GRANT_ACTIONS, "review.start"]
    ).order_by("seq")
    for object_id, body in rows.values_list("object_id", "body"):
        found[object_id].append(json.loads(bytes(body)))
    return found


def _confirmed(grant: ReviewerGrant, bodies: list[Body]) -> bool:
    """The trail granted exactly this: same reviewer and subject, started with this period
    (approved by the title's holder where one must), and not ended since."""
    granted = next((b for b in bodies if b["action"] == "review.grant"), None)
    started = [b for b in bodies if b["action"] == "review.start"]
    if granted is None or len(started) != 1:
        return False
    data = granted.get("data") or {}
    if (
        data.get("reviewer_id") != grant.reviewer_id
        or data.get("report") != grant.report_id
        or data.get("ai_model") != grant.model_id
    ):
        return False
    if data.get("approval_title") and not any(b["action"] == "review.approve" for b in bodies):
        return False
    if any(b["action"] in ("review.end", "review.refuse") for b in bodies):
        return False
    window = started[0].get("data") or {}
    return bool(
        grant.starts_at
        and grant.ends_at
        and window.get("starts_at") == grant.starts_at.isoformat()
        and window.get("ends_at") == grant.ends_at.isoformat()
    )


def grants_in_force(user: Actor, now: datetime | None = None) -> list[ReviewerGrant]:
    """The reviewer's grants in force now, as the trail records them. Two queries."""
    if not can(user, "review.read"):
        return []
    rows = list(
        ReviewerGrant.objects.in_force(now or timezone.now())
        .filter(reviewer_id=getattr(user, "pk", None))
        .select_related("report", "model")
    )
    trail = _trail(rows)
    return [g for g in rows if _confirmed(g, trail[str(g.pk)])]


def _reach(grants: Iterable[ReviewerGrant]) -> Q:
    report_ids = [g.report_id for g in grants if g.report_id]
    model_ids = [g.model_id for g in grants if g.model_id]
    return Q(pk__in=report_ids) | Q(model_id__in=model_ids)


def visible_reports(user: Actor) -> QuerySet[Report]:
    """The reports ``user`` may read: all for the lab's readers; for a reviewer, only those
    the grants in force name (a model grant covers the model's reports); none otherwise."""
    if can(user, "report.view"):
        return Report.objects.all()
    grants = grants_in_force(user)
    if not grants:
        return Report.objects.none()
    return Report.objects.filter(_reach(grants)).exclude(status=ReportStatus.SUPERSEDED)


def grant_for(user: Actor, report: Report) -> ReviewerGrant | None:
    """The reviewer's grant in force that covers ``report`` (None: no access)."""
    return next(
        (
            g
            for g in grants_in_force(user)
            if g.report_id == report.pk or (g.model_id and g.model_id == report.model_id)
        ),
        None,
    )


# --- Reviewing -----------------------------------------------------------------------------


def record_review(report: Report, body: object, shown_sha256: object, actor: Actor) -> Review:
    """A reviewer's review of ``report`` (advisory), over the snapshot hash they read."""
    user = require(actor, "review.write")
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_SECTION_CHARS:
        raise ServiceError({"body": [f"Markdown text of 1-{MAX_SECTION_CHARS} characters."]})
    if "\x00" in body:
        raise ServiceError({"body": ["NUL characters are not allowed."]})
    grant = grant_for(user, report)
    if grant is None:
        raise ConflictError(
            {"report": ["Your access to this report has ended or was never granted."]}
        )
    if shown_sha256 != report.snapshot_sha256:
        raise ConflictError(
            {"snapshot_sha256": ["The report's snapshot is not the one you read; reload it."]}
        )
    with transaction.atomic():
        review = Review.objects.create(
            report=report,
            grant=grant,
            reviewer=user,
            organisation=grant.organisation,
            body=body.strip(),
            snapshot_sha256=report.snapshot_sha256,
        )
        audit.record(
            "review.record",
            review,
            {
                "model": report.model.slug if report.model else "",
                "report": report.pk,
                "grant": grant.pk,
                "organisation": grant.organisation,
                "snapshot_sha256": report.snapshot_sha256,
                "body_chars": len(review.body),
            },
            user,
        )
    return review
