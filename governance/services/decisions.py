"""Scaling decisions: the frozen dossier, the request, the signatures, staleness and expiry."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit.checkpoints import request_checkpoint
from audit.services import json_safe
from audit.verify_bundle import canonical_json
from core.events import Query, ask
from evaluations import corrections
from governance import adapter, notifications
from governance.gate.codes import AUDIT_UNVERIFIED, INTERNAL_ERROR, codes_of
from governance.models import (
    Approval,
    ApprovalVerdict,
    DecisionStatus,
    GateStatus,
    SafeguardRecord,
    ScalingDecision,
    Scope,
)
from governance.services.errors import ConflictError, GovernanceError
from governance.services.gates import evaluate_model, recompute
from rsp_portal.authz import require

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import Actor

#: The reports a decision relies on, and the report kinds its scope still lacks:
#: asked here, answered by the accountability app. The answer is
#: ``{"relied_on": [{"id", "kind", "version", "snapshot_sha256"}], "missing": [kind names]}``.
DECISION_REPORTS: Query[tuple[AIModel, str], dict[str, list[Any]]] = Query(
    "decision.reports", "the signed reports a decision relies on, and the kinds it lacks"
)

# A pending decision that gathers no verdict in this time expires.
DECISION_TTL = timedelta(days=14)

#: Reasons a decision is asked to resolve, so they are not part of its case.
#: Procedural commitments change with time and with fulfilments recorded after the request, so
#: they are not part of the frozen case either (else a decision would go stale by itself).
_DECISION_REASONS = codes_of("decision") | codes_of("commitments")


def build_dossier(
    model: AIModel,
    compute_limit: float | None,
    now: datetime,
    *,
    scope: str = Scope.SCALING,
    lifts_precautions: list[int] | None = None,
    checkpoints: list[str] | None = None,
) -> tuple[dict[str, Any], Any]:
    """The frozen inputs a decision is made on, and the active policy version."""
    verdict, _ = evaluate_model(model, scope, compute_limit, now=now)
    payload = verdict.to_dict()
    policy = adapter.active_version()
    if policy is None:
        raise GovernanceError({"model": ["No policy version is active; nothing can be approved."]})
    if payload["state"] == GateStatus.PAUSED:
        unverified = [r["message"] for r in payload["reasons"] if r["code"] == AUDIT_UNVERIFIED]
        if unverified:
            what = "No decision can be requested while the audit trail is unverified"
            raise ConflictError({"model": [f"{what}: {unverified[0]}"]})
        if any(r["code"] == INTERNAL_ERROR for r in payload["reasons"]):
            raise GovernanceError({"model": ["The gate cannot be computed now; try again later."]})
    reasons = [r for r in payload["reasons"] if r["code"] not in _DECISION_REASONS]
    safeguards = {
        code: {
            "status": rec.status,
            "recorded_at": rec.recorded_at.isoformat(),
            "evidence_url": rec.evidence_url,
        }
        for code, rec in sorted(SafeguardRecord.objects.latest_per_requirement(model).items())
    }
    precautions = [
        {"id": p.pk, "threshold": p.threshold_code, "reason": p.reason}
        for p in adapter.precautions_in_force(model, scope)
    ]
    dossier = {
        "model": model.slug,
        "scope": scope,
        "compute_limit": compute_limit,
        # A deployment decision deploys these checkpoints and covers only them.
        "checkpoints": sorted(checkpoints or []),
        "policy_version": {
            "id": policy.pk,
            "key": policy.key,
            "version": policy.version,
            "content_sha256": policy.content_sha256,
        },
        "latest_checkpoint": payload.get("latest_checkpoint"),
        "evaluated_checkpoint": payload.get("evaluated_checkpoint"),
        "last_full_evaluation_at": payload.get("last_full_evaluation_at"),
        "required_standards": payload.get("required_standards", []),
        "required_level": payload.get("required_level"),
        "crossed_thresholds": payload.get("crossed_thresholds", []),
        "determinations": payload.get("determinations", []),
        "safeguards": safeguards,
        "precautions": precautions,
        "lifts_precautions": sorted(lifts_precautions or []),
        "signoff_titles": list(policy.signoff_titles),
        "advisory_titles": list(policy.advisory_titles),
        "automatic_checks": reasons,
        # Corrections that lower a determination of this model or an ancestor: who proposed
        # each, who confirmed it (or that it still waits).
        "corrections": corrections.dossier_entries(model.lineage_ids()),
        "reports": ask(DECISION_REPORTS, (model, scope))["relied_on"],
    }
    return json_safe(dossier), policy


def dossier_hash(dossier: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dossier)).hexdigest()


def request_decision(
    model: AIModel,
    compute_limit: Any,
    rationale: str,
    actor: Actor,
    *,
    scope: str = Scope.SCALING,
    lifts_precautions: Any = None,
    checkpoints: Any = None,
    via: str | None = None,
) -> ScalingDecision:
    """Ask leadership to approve scaling ``model`` up to ``compute_limit`` FLOP (scope
    ``scaling``) or deploying it (scope ``deployment``: the limit defaults to the latest
    checkpoint's compute, the checkpoint being deployed)."""
    actor = require(actor, "decision.request")
    if scope not in Scope.values:
        raise GovernanceError({"scope": [f"Must be one of {', '.join(Scope.values)}."]})
    names: list[str] = []
    limit: float | None
    if scope == Scope.DEPLOYMENT:
        if compute_limit is not None:
            raise GovernanceError(
                {
                    "compute_limit": [
                        "A deployment decision takes no compute limit: it names the "
                        "checkpoints it deploys (checkpoints) and covers those only."
                    ]
                }
            )
        names = _checkpoint_names(model, checkpoints)
        limit = None
    else:
        if checkpoints not in (None, []):
            raise GovernanceError(
                {"checkpoints": ["Only a deployment decision names checkpoints."]}
            )
        limit = _positive_number(compute_limit, "compute_limit")
    if not isinstance(rationale, str) or not rationale.strip():
        raise GovernanceError({"rationale": [f"Explain why {scope} should be approved."]})
    lifts = _precaution_ids(model, lifts_precautions, scope)
    distrust = adapter.audit_trail_distrust()
    if distrust:  # the record itself is in doubt: say so first, and what to run
        what = "No decision can be requested while the audit trail is unverified"
        raise ConflictError({"model": [f"{what}: {distrust}"]})
    missing = ask(DECISION_REPORTS, (model, scope))["missing"]
    if missing:
        raise GovernanceError(
            {
                "scope": [
                    f"The policy requires a signed {', '.join(missing)} before a {scope} decision; "
                    "write it on the Reports page and have it signed first."
                ]
            }
        )
    now = timezone.now()
    with transaction.atomic():
        dossier, policy = build_dossier(
            model, limit, now, scope=scope, lifts_precautions=lifts, checkpoints=names
        )
        decision = ScalingDecision.objects.create(
            model=model,
            scope=scope,
            compute_limit=limit,
            lifts_precautions=lifts,
            rationale=rationale.strip(),
            policy_version=policy,
            dossier=dossier,
            dossier_sha256=dossier_hash(dossier),
            required_titles=list(policy.signoff_titles),
            requested_by=actor,
            requested_at=now,
            expires_at=now + DECISION_TTL,
        )
        audit.record(
            "decision.request",
            decision,
            {
                "model": model.slug,
                "scope": scope,
                "compute_limit": limit,
                "lifts_precautions": lifts,
                "checkpoints": names,
                "dossier_sha256": decision.dossier_sha256,
                "required_titles": decision.required_titles,
                "policy_version": policy.pk,
            },
            actor=actor,
            via=via,
        )
        notifications.notify(
            "decision.requested",
            {
                "decision": decision.pk,
                "model": model.slug,
                "scope": scope,
                "compute_limit": limit,
                "required_titles": decision.required_titles,
            },
            roles=("leadership",),
        )
    return decision


def _checkpoint_names(model: AIModel, raw: Any) -> list[str]:
    """The checkpoints a deployment decision deploys: required, each one of ``model``'s."""
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise GovernanceError(
            {
                "checkpoints": [
                    "Required for a deployment decision: the names of the checkpoints of "
                    f"{model.slug} it deploys."
                ]
            }
        )
    known = set(model.checkpoints.filter(name__in=raw).values_list("name", flat=True))
    unknown = sorted(set(raw) - known)
    if unknown:
        raise GovernanceError(
            {"checkpoints": [f"Not a checkpoint of {model.slug}: {', '.join(unknown)}."]}
        )
    return sorted(set(raw))


def _precaution_ids(model: AIModel, raw: Any, scope: str = Scope.SCALING) -> list[int]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in raw
    ):
        raise GovernanceError({"lifts_precautions": ["Must be a list of precaution ids."]})
    in_force = {p.pk for p in adapter.precautions_in_force(model, scope)}
    unknown = sorted(set(raw) - in_force)
    if unknown:
        raise GovernanceError(
            {
                "lifts_precautions": [
                    f"Not a precaution in force for {model.slug}: "
                    + ", ".join(str(i) for i in unknown)
                ]
            }
        )
    return sorted(set(raw))


def _positive_number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise GovernanceError({field: ["Must be a number."]})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GovernanceError({field: ["Must be a number."]}) from None
    if not math.isfinite(number) or number <= 0:
        raise GovernanceError({field: ["Must be a finite number above zero."]})
    return number


def sign_decision(
    decision_id: int,
    actor: Actor,
    verdict: str,
    shown_sha256: str,
    comment: str = "",
    *,
    via: str | None = None,
) -> ScalingDecision:
    """Approve or reject a pending decision as one of the policy's sign-off titles.

    The signer names the dossier hash they were shown; it must still be the decision's, and
    the dossier's inputs must not have changed since (otherwise the decision turns stale).
    """
    actor = require(actor, "decision.sign")
    if verdict not in ApprovalVerdict.values:
        raise GovernanceError({"verdict": ["Must be approve or reject."]})
    with transaction.atomic():
        decision = (
            ScalingDecision.objects.select_for_update().select_related("model").get(pk=decision_id)
        )
        expire_if_due(decision)
        if decision.status != DecisionStatus.PENDING:
            raise ConflictError(
                {"status": [f"This decision is {decision.status}; it can no longer be signed."]}
            )
        if decision.requested_by_id == actor.pk:
            raise PermissionDenied("You requested this decision; someone else must sign it.")
        if shown_sha256 != decision.dossier_sha256:
            raise ConflictError(
                {
                    "dossier_sha256": [
                        "This is not the dossier of this decision; reload and review it."
                    ]
                }
            )
        signed = {a.title: a for a in decision.approvals.all()}
        if any(a.approver_id == actor.pk for a in signed.values()):
            raise ConflictError({"approver": ["You have already signed this decision."]})
        title = decision.can_be_signed_by(actor, list(signed.values()))
        if title is None:
            from core.authority import refusal

            raise PermissionDenied(
                refusal(actor)
                or "You hold none of the titles still needed (as the audit trail records "
                "your titles): "
                + ", ".join(decision.open_titles(list(signed.values())))
            )
        if _mark_stale_if_changed(decision, actor):
            raise ConflictError(
                {
                    "dossier_sha256": [
                        "The evidence changed since this dossier was frozen; the decision "
                        "is now stale. Request a new one."
                    ]
                }
            )
        is_advisory = title not in decision.required_titles
        try:
            with transaction.atomic():
                Approval.objects.create(
                    decision=decision,
                    approver=actor,
                    requester_id=decision.requested_by_id,
                    title=title,
                    verdict=verdict,
                    dossier_sha256=shown_sha256,
                    comment=comment,
                )
        except IntegrityError:
            raise ConflictError(
                {"approver": ["This title or signer has already signed."]}
            ) from None
        audit.record(
            f"decision.{verdict}",
            decision,
            {
                "model": decision.model.slug,
                "title": title,
                "advisory": is_advisory,
                "dossier_sha256": shown_sha256,
                "comment": comment,
            },
            actor=actor,
            via=via,
        )
        signed_titles = set(signed) | {title}
        if is_advisory:
            return decision  # a recommendation is recorded; it neither approves nor rejects
        if verdict == ApprovalVerdict.REJECT:
            _set_status(decision, DecisionStatus.REJECTED, f"rejected by {title}", actor)
        elif all(t in signed_titles for t in decision.required_titles):
            _set_status(decision, DecisionStatus.APPROVED, "all titles approved", actor)
        if decision.status != DecisionStatus.PENDING:
            recompute(decision.model, f"decision.{decision.status}", actor)

            request_checkpoint()
    return decision


def _set_status(decision: ScalingDecision, status: str, reason: str, actor: Actor) -> None:
    decision.status = status
    decision.status_reason = reason
    decision.decided_at = timezone.now()
    decision.save(update_fields=["status", "status_reason", "decided_at"])
    audit.record(
        "decision.status",
        decision,
        {"model": decision.model.slug, "status": status, "reason": reason},
        actor=actor,
    )
    notifications.notify(
        f"decision.{status}",
        {"decision": decision.pk, "model": decision.model.slug, "status": status, "reason": reason},
    )


def expire_if_due(decision: ScalingDecision) -> None:
    if decision.status == DecisionStatus.PENDING and timezone.now() >= decision.expires_at:
        _set_status(decision, DecisionStatus.EXPIRED, "no verdict before the deadline", None)


def _mark_stale_if_changed(decision: ScalingDecision, actor: Actor) -> bool:
    dossier, _ = build_dossier(
        decision.model,
        decision.compute_limit,
        timezone.now(),
        scope=decision.scope,
        lifts_precautions=list(decision.lifts_precautions or []),
        checkpoints=list((decision.dossier or {}).get("checkpoints") or []),
    )
    if dossier_hash(dossier) == decision.dossier_sha256:
        return False
    _set_status(
        decision, DecisionStatus.STALE, "the dossier's inputs changed before completion", actor
    )
    return True


def mark_stale_decisions(model: AIModel, actor: Actor = None) -> int:
    """Pending decisions of ``model`` whose dossier inputs changed turn stale."""
    count = 0
    for decision in ScalingDecision.objects.select_for_update().filter(
        model=model, status=DecisionStatus.PENDING
    ):
        expire_if_due(decision)
        if decision.status == DecisionStatus.PENDING and _mark_stale_if_changed(decision, actor):
            count += 1
    return count
