"""Reports: drafted from the record, signed by the policy's titles, published with redactions.

A report's **snapshot** freezes what the record said when it was written (each model's stored
gates with their determinations and the result ids behind them, safeguard statuses and
decisions) as canonical JSON with its SHA-256, like a decision's dossier. Authored sections are
Markdown, rendered sanitised. Editing a draft writes a new version that supersedes it (and
freezes the record again); a signature signs the snapshot hash the signer was shown; once every
title of the report kind approved it is ``signed``; publishing derives the public edition by
recorded redactions. Every step is audited in its own transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from accountability.models import Redaction, Report, ReportSignature, ReportStatus, Review
from audit.services import json_safe
from audit.verify_bundle import canonical_json
from evaluations.models import AIModel
from governance.models import SafeguardRecord, ScalingDecision
from governance.services import current_rows, recompute, recompute_all
from policies.models import PolicyVersion
from rsp_portal.authz import can, require
from rsp_portal.errors import ConflictError, ServiceError

if TYPE_CHECKING:
    from rsp_portal.types import Actor, PortalUser

MAX_SECTIONS = 50
MAX_SECTION_CHARS = 50_000
MAX_TITLE_CHARS = 300
#: How many models a policy-wide report (e.g. a Risk Report) freezes.
MAX_SNAPSHOT_MODELS = 200


def report_kinds(version: PolicyVersion | None) -> dict[str, dict[str, Any]]:
    """The report kinds the policy names, by code."""
    if version is None:
        return {}
    return {
        str(kind["code"]): dict(kind)
        for kind in (version.report_kinds or [])
        if isinstance(kind, Mapping) and kind.get("code")
    }


def active_version() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()


# --- The snapshot ----------------------------------------------------------------------------


def _model_record(model: AIModel) -> dict[str, Any]:
    gates = {
        g.scope: {
            "state": g.state,
            "computed_at": g.computed_at.isoformat(),
            "reasons": [r.get("code") for r in g.reasons if isinstance(r, Mapping)],
            "determinations": g.verdict.get("determinations", []),
            "required_standards": g.verdict.get("required_standards", []),
            "crossed_thresholds": g.verdict.get("crossed_thresholds", []),
        }
        for _, g in sorted(current_rows(model).items())
    }
    safeguards = {
        code: {"status": rec.status, "recorded_at": rec.recorded_at.isoformat()}
        for code, rec in sorted(SafeguardRecord.objects.latest_per_requirement(model).items())
    }
    decisions = [
        {
            "id": d.pk,
            "scope": d.scope,
            "status": d.status,
            "compute_limit": d.compute_limit,
            "dossier_sha256": d.dossier_sha256,
            "requested_at": d.requested_at.isoformat(),
        }
        for d in ScalingDecision.objects.filter(model=model).order_by("pk")
    ]
    return {
        "model": model.slug,
        "name": model.name,
        "gates": gates,
        "safeguards": safeguards,
        "decisions": decisions,
    }


def build_snapshot(version: PolicyVersion, model: AIModel | None, now: datetime) -> dict[str, Any]:
    """What the record says now: about ``model``, or about every model for a policy-wide
    report."""
    models = (
        [model]
        if model is not None
        else list(AIModel.objects.order_by("slug")[:MAX_SNAPSHOT_MODELS])
    )
    snapshot = {
        "taken_at": now.isoformat(),
        "policy_version": {
            "id": version.pk,
            "key": version.key,
            "version": version.version,
            "content_sha256": version.content_sha256,
        },
        "scope": model.slug if model is not None else "policy",
        "models": [_model_record(m) for m in models],
    }
    return dict(json_safe(snapshot))


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


# --- Input -----------------------------------------------------------------------------------


def _sections(raw: object) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ServiceError({"sections": ['Give at least one section: [{"heading", "body"}].']})
    if len(raw) > MAX_SECTIONS:
        raise ServiceError({"sections": [f"At most {MAX_SECTIONS} sections."]})
    sections = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) - {"heading", "body"}:
            raise ServiceError({f"sections[{i}]": ['Each section is {"heading", "body"}.']})
        heading, body = item.get("heading"), item.get("body", "")
        if not isinstance(heading, str) or not heading.strip() or len(heading) > MAX_TITLE_CHARS:
            raise ServiceError({f"sections[{i}].heading": ["A heading of 1-300 characters."]})
        if not isinstance(body, str) or len(body) > MAX_SECTION_CHARS:
            raise ServiceError(
                {
                    f"sections[{i}].body": [
                        f"Markdown text of at most {MAX_SECTION_CHARS} characters."
                    ]
                }
            )
        if "\x00" in heading or "\x00" in body:
            raise ServiceError({f"sections[{i}]": ["NUL characters are not allowed."]})
        sections.append({"heading": heading.strip(), "body": body})
    return sections


def _title(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TITLE_CHARS or "\x00" in raw:
        raise ServiceError({"title": ["A title of 1-300 characters."]})
    return raw.strip()


# --- Writing ---------------------------------------------------------------------------------


def create_report(
    kind: object, model: AIModel | None, title: object, sections: object, actor: Actor
) -> Report:
    """Draft a report of ``kind`` (a code of the active policy's report kinds)."""
    user = require(actor, "report.write")
    version = active_version()
    kinds = report_kinds(version)
    if version is None:
        raise ServiceError({"kind": ["No policy version is active; it names the report kinds."]})
    if not isinstance(kind, str) or kind not in kinds:
        names = ", ".join(sorted(kinds)) or "none"
        raise ServiceError(
            {"kind": [f"Not a report kind of the active policy (it names: {names})."]}
        )
    clean_title, clean_sections = _title(title), _sections(sections)
    now = timezone.now()
    with transaction.atomic():
        snapshot = build_snapshot(version, model, now)
        report = Report.objects.create(
            kind=kind,
            kind_name=str(kinds[kind].get("name") or kind),
            model=model,
            policy_version=version,
            title=clean_title,
            sections=clean_sections,
            snapshot=snapshot,
            snapshot_sha256=snapshot_hash(snapshot),
            required_titles=list(kinds[kind].get("signoff_titles") or version.signoff_titles),
            created_by=user,
            created_at=now,
        )
        audit.record("report.create", report, _audit_data(report), user)
    return report


def revise_report(report: Report, title: object, sections: object, actor: Actor) -> Report:
    """A new version of a draft (its record frozen again); the old one is superseded."""
    user = require(actor, "report.write")
    clean_title, clean_sections = _title(title), _sections(sections)
    now = timezone.now()
    with transaction.atomic():
        old = Report.objects.select_for_update().get(pk=report.pk)
        if old.status != ReportStatus.DRAFT:
            raise ConflictError(
                {"report": [f"Only a draft can be revised; this one is {old.status}."]}
            )
        snapshot = build_snapshot(old.policy_version, old.model, now)
        old.status = ReportStatus.SUPERSEDED
        old.save(update_fields=["status"])
        new = Report.objects.create(
            kind=old.kind,
            kind_name=old.kind_name,
            model=old.model,
            policy_version=old.policy_version,
            title=clean_title,
            sections=clean_sections,
            snapshot=snapshot,
            snapshot_sha256=snapshot_hash(snapshot),
            required_titles=old.required_titles,
            version=old.version + 1,
            supersedes=old,
            created_by=user,
            created_at=now,
        )
        audit.record("report.revise", new, {**_audit_data(new), "supersedes": old.pk}, user)
    return new


def signing_title(
    report: Report, user: PortalUser | None, signatures: list[ReportSignature] | None = None
) -> str | None:
    """The title ``user`` would sign ``report`` with now, or None when they may not: the one
    answer to "may this user sign this report?" (not its author, a title still open)."""
    if report.status != ReportStatus.DRAFT or user is None or report.created_by_id == user.pk:
        return None
    if not can(user, "report.sign"):
        return None
    signatures = list(report.signatures.all()) if signatures is None else signatures
    if any(s.signer_id == user.pk for s in signatures):
        return None
    signed = {s.title for s in signatures}
    held: frozenset[str] = getattr(user, "titles", frozenset())
    return next((t for t in report.required_titles if t not in signed and t in held), None)


def sign_report(
    report: Report, verdict: object, shown_sha256: Any, comment: object, actor: Actor
) -> ReportSignature:
    """Approve or reject ``report`` over the snapshot hash the signer was shown."""
    user = require(actor, "report.sign")
    if verdict not in ReportSignature.Verdict.values:
        raise ServiceError({"verdict": ["Must be approve or reject."]})
    if not isinstance(comment, str | type(None)):
        raise ServiceError({"comment": ["Must be text."]})
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if shown_sha256 != locked.snapshot_sha256:
            raise ConflictError(
                {
                    "snapshot_sha256": [
                        "The report's snapshot is not the one you were shown; reload it."
                    ]
                }
            )
        title = signing_title(locked, user)
        if title is None:
            raise ConflictError(
                {
                    "report": [
                        "You cannot sign this report: it is not a draft, you wrote it, you "
                        "signed it already, or you hold none of its open titles."
                    ]
                }
            )
        try:
            with transaction.atomic():
                signature = ReportSignature.objects.create(
                    report=locked,
                    signer=user,
                    author=locked.created_by,
                    title=title,
                    verdict=verdict,
                    snapshot_sha256=shown_sha256,
                    comment=(comment or "").strip(),
                )
        except IntegrityError:
            raise ConflictError({"report": ["This title has signed already."]}) from None
        audit.record(
            "report.sign",
            signature,
            {
                "model": locked.model.slug if locked.model else "",
                "report": locked.pk,
                "title": title,
                "verdict": verdict,
                "snapshot_sha256": shown_sha256,
            },
            user,
        )
        _settle(locked, user)
    return signature


def _settle(report: Report, user: Actor) -> None:
    signatures = list(report.signatures.all())
    if any(s.verdict == ReportSignature.Verdict.REJECT for s in signatures):
        status = ReportStatus.REJECTED
    elif {s.title for s in signatures} >= set(report.required_titles):
        status = ReportStatus.SIGNED
    else:
        return
    report.status = status
    report.signed_at = timezone.now() if status == ReportStatus.SIGNED else None
    report.save(update_fields=["status", "signed_at"])
    audit.record(f"report.{status}", report, _audit_data(report), user)
    if status == ReportStatus.SIGNED:
        # A signed report can make a commitment due, which a gate may depend on.
        recompute_gates(report.model, f"report.{status}", user)


def recompute_gates(model: AIModel | None, cause: str, actor: Actor) -> None:
    """Recompute the gate of ``model`` (every gate for a policy-wide change), in the caller's
    transaction."""
    if model is not None:
        recompute(model, cause, actor)
    else:
        recompute_all(cause, actor)


def publish_report(report: Report, redactions: object, actor: Actor) -> Report:
    """Publish a signed report; ``redactions`` ([{"section", "reason"}]) are left out of the
    public edition, which lists them."""
    user = require(actor, "report.publish")
    if redactions is None:
        redactions = []
    if not isinstance(redactions, list):
        raise ServiceError({"redactions": ['A list of {"section", "reason"}.']})
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if locked.status != ReportStatus.SIGNED:
            raise ConflictError(
                {"report": [f"Only a signed report can be published; this one is {locked.status}."]}
            )
        chosen: dict[int, str] = {}
        for i, item in enumerate(redactions):
            section = item.get("section") if isinstance(item, Mapping) else None
            reason = item.get("reason") if isinstance(item, Mapping) else None
            if (
                not isinstance(section, int)
                or isinstance(section, bool)
                or not 0 <= section < len(locked.sections)
            ):
                raise ServiceError(
                    {
                        f"redactions[{i}].section": [
                            f"A section number from 0 to {len(locked.sections) - 1}."
                        ]
                    }
                )
            if not isinstance(reason, str) or not reason.strip() or "\x00" in reason:
                raise ServiceError(
                    {f"redactions[{i}].reason": ["Say why this section is withheld."]}
                )
            if section in chosen:
                raise ServiceError({f"redactions[{i}].section": ["Each section is redacted once."]})
            chosen[section] = reason.strip()[:2000]
        for section, reason in sorted(chosen.items()):
            Redaction.objects.create(
                report=locked,
                section=section,
                heading=locked.sections[section]["heading"],
                reason=reason,
                redacted_by=user,
            )
        locked.public_sections = [
            {"heading": s["heading"], "body": s["body"], "redacted": False}
            if i not in chosen
            else {"heading": s["heading"], "body": "", "redacted": True, "reason": chosen[i]}
            for i, s in enumerate(locked.sections)
        ]
        locked.status = ReportStatus.PUBLISHED
        locked.published_at = timezone.now()
        locked.published_by = user
        locked.save(update_fields=["public_sections", "status", "published_at", "published_by"])
        audit.record(
            "report.publish",
            locked,
            {
                **_audit_data(locked),
                "redactions": [{"section": k, "reason": v} for k, v in sorted(chosen.items())],
            },
            user,
        )
    return locked


def _audit_data(report: Report) -> dict[str, object]:
    return {
        "model": report.model.slug if report.model else "",
        "kind": report.kind,
        "title": report.title,
        "version": report.version,
        "status": report.status,
        "snapshot_sha256": report.snapshot_sha256,
        "policy_version": report.policy_version_id,
    }


def signed_reports(model: AIModel) -> list[Report]:
    """The model's (and the policy-wide) signed or published reports, newest first."""
    return list(
        Report.objects.filter(status__in=[ReportStatus.SIGNED, ReportStatus.PUBLISHED])
        .filter(model__in=[model])
        .order_by("-signed_at", "-pk")
    ) + list(
        Report.objects.filter(
            status__in=[ReportStatus.SIGNED, ReportStatus.PUBLISHED], model__isnull=True
        ).order_by("-signed_at", "-pk")
    )


def decision_reports(question: tuple[AIModel, str]) -> dict[str, list[Any]]:
    """For a decision on ``model`` of ``scope``: the signed reports it relies on (the newest of
    each kind) and the kinds the policy requires for the scope that have none."""
    model, scope = question
    version = active_version()
    kinds = report_kinds(version)
    newest: dict[str, Report] = {}
    for report in signed_reports(model):
        newest.setdefault(report.kind, report)
    reviews = reviews_of(r.pk for r in newest.values())
    relied_on = [
        {
            "id": r.pk,
            "kind": r.kind,
            "title": r.title,
            "version": r.version,
            "snapshot_sha256": r.snapshot_sha256,
            # External reviews of the report: advisory, never a signature.
            "reviews": reviews.get(r.pk, []),
        }
        for _, r in sorted(newest.items())
    ]
    # The reports document a capability determination and the safeguards it requires: they are
    # required once the model has crossed a threshold (docs/accountability.md). Below every
    # line the model proceeds under the baseline, with routine assessments.
    # Evidence that shows the crossing, not a presumption for want of evidence (that pauses the
    # gate as missing_evidence, and evaluating is the way out).
    state = current_rows(model).get(scope)
    determinations = (state.verdict or {}).get("determinations", []) if state else []
    crossed = any(isinstance(d, dict) and d.get("status") == "crossed" for d in determinations)
    missing = [
        str(kind.get("name") or code)
        for code, kind in sorted(kinds.items())
        if crossed and scope in (kind.get("required_for") or []) and code not in newest
    ]
    return {"relied_on": relied_on, "missing": missing}


def reviews_of(report_ids: Iterable[int]) -> dict[int, list[dict[str, object]]]:
    """The reviews of these reports, oldest first, as a dossier shows them (advisory). One
    query."""
    found: dict[int, list[dict[str, object]]] = {}
    for review in (
        Review.objects.filter(report_id__in=list(report_ids))
        .select_related("reviewer")
        .order_by("created_at", "pk")
    ):
        found.setdefault(review.report_id, []).append(
            {
                "id": review.pk,
                "reviewer": review.reviewer.username,
                "organisation": review.organisation,
                "at": review.created_at.isoformat(),
                "snapshot_sha256": review.snapshot_sha256,
                "body": review.body,
                "advisory": True,
            }
        )
    return found
