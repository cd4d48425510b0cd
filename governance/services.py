"""State changes of the verdict: gate recomputation, safeguards, decisions, approvals, pauses.

Every function here runs in one transaction with its audit entry and the gate recomputation it
causes, so a committed write and the gate it implies are never out of step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit.services import _json_safe
from audit.verify_bundle import canonical_json
from governance import adapter, notifications
from governance.gate import Verdict, evaluate, internal_error_verdict
from governance.models import (
    Approval,
    ApprovalVerdict,
    DecisionStatus,
    GateState,
    GateTransition,
    Pause,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
    Scope,
)
from rsp_portal.authz import require
from rsp_portal.errors import ServiceError

logger = logging.getLogger(__name__)

# A pending decision that gathers no verdict in this time expires.
DECISION_TTL = timedelta(days=14)
# A stored gate is recomputed on read when older than this, even if no time boundary passed:
# a bound on how long a missed recomputation could go unnoticed.
GATE_MAX_AGE = timedelta(minutes=15)


class GovernanceError(ServiceError):
    """A refused governance action, with a message for the person who tried it."""


class ConflictError(GovernanceError):
    """The action conflicts with the current state (answered with 409)."""

    status_code = 409


# --- The gate ---------------------------------------------------------------------------------


def evaluate_model(
    model: Any, scope: str, planned_compute: float | None = None, *, now: datetime | None = None
) -> tuple[Verdict, datetime | None]:
    """Run the engine for ``model`` now; returns the verdict and when time could change it."""
    now = now or timezone.now()
    inp, valid_until = _read_input(model, scope, planned_compute, now)
    if inp is None:
        return _unreadable(), None
    return evaluate(inp), valid_until


def _read_input(
    model: Any, scope: str, planned_compute: float | None, now: datetime
) -> tuple[Any, datetime | None]:
    try:
        if not adapter.audit_trail_verified():
            return None, None
        return adapter.build_input(model, scope, planned_compute, now)
    except Exception:
        logger.exception("building gate input for %s failed", model)
        return None, None


def _unreadable() -> Verdict:
    if not _safe(adapter.audit_trail_verified):
        return internal_error_verdict(
            RuntimeError(
                "the audit trail failed its last verification; every gate stays paused until "
                "an auditor resolves it and verification passes again"
            )
        )
    return internal_error_verdict(RuntimeError("the gate's inputs could not be read"))


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def recompute(model: Any, cause: str, actor: Any = None) -> dict[str, GateState]:
    """Recompute both scopes of ``model``'s gate inside the caller's transaction.

    The inputs are read once for both scopes. A change of state or reasons writes a
    GateTransition, an audit entry and notifications.
    """
    now = timezone.now()
    inp, valid_until = _read_input(model, Scope.SCALING, None, now)
    states = {}
    for scope in Scope.values:
        verdict = evaluate(dataclasses.replace(inp, scope=scope)) if inp else _unreadable()
        states[scope] = _store_verdict(model, scope, verdict, valid_until, now, cause, actor)
    return states


def _recompute_scope(model: Any, scope: str, cause: str, actor: Any) -> GateState:
    now = timezone.now()
    verdict, valid_until = evaluate_model(model, scope, now=now)
    return _store_verdict(model, scope, verdict, valid_until, now, cause, actor)


def _store_verdict(
    model: Any,
    scope: str,
    verdict: Verdict,
    valid_until: datetime | None,
    now: datetime,
    cause: str,
    actor: Any,
) -> GateState:
    payload = verdict.to_dict()
    reasons = payload["reasons"]
    state = GateState.objects.select_for_update().filter(model=model, scope=scope).first()
    previous_state = state.state if state else ""
    previous_key = _key_of(state.reasons) if state else None
    new_key = tuple(sorted((r["code"], _subject(r)) for r in reasons))
    if state is None:
        state = GateState(model=model, scope=scope)
    state.state = verdict.state
    state.reasons = reasons
    state.verdict = payload
    state.computed_at = now
    state.valid_until = valid_until
    state.save()
    if previous_state != verdict.state or previous_key != new_key:
        GateTransition.objects.create(
            model=model,
            scope=scope,
            from_state=previous_state,
            to_state=verdict.state,
            reasons=reasons,
            verdict=payload,
            cause=cause,
            created_at=now,
        )
        audit.record(
            "gate.transition",
            model,
            {
                "model": model.slug,
                "scope": scope,
                "from": previous_state,
                "to": verdict.state,
                "reasons": [r["code"] for r in reasons],
                "cause": cause,
            },
            actor=actor,
        )
        notifications.notify(
            "gate.transition",
            {
                "model": model.slug,
                "scope": scope,
                "from": previous_state,
                "to": verdict.state,
                "reasons": reasons,
                "cause": cause,
            },
        )
        if verdict.warning and scope == Scope.SCALING:
            notifications.notify("warning.crossed", {"model": model.slug, "scope": scope})
        if any(r["code"] in ("evaluation_due_compute", "evaluation_due_time") for r in reasons):
            notifications.notify("evaluation.due", {"model": model.slug, "reasons": reasons})
    return state


def _subject(reason: dict[str, Any]) -> str:
    keys = ("threshold", "metric", "requirement", "standard", "decision", "checkpoint", "pause")
    return " ".join(f"{k}={reason[k]}" for k in keys if reason.get(k) is not None)


def _key_of(reasons: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((r["code"], _subject(r)) for r in reasons))


def gate_for(
    model: Any, scope: str = Scope.SCALING, compute: float | None = None
) -> dict[str, Any]:
    """The gate as the API answers it. Without ``compute``: the stored row (recomputed first
    if time may have changed it). With ``compute``: evaluated for that planned compute."""
    now = timezone.now()
    if compute is not None:
        verdict, _ = evaluate_model(model, scope, compute, now=now)
        return _gate_payload(model, scope, verdict.to_dict(), now)
    state = GateState.objects.filter(model=model, scope=scope).first()
    if state is None or _is_stale(state, now):
        with transaction.atomic():
            state = _recompute_scope(model, scope, "gate.read", None)
    return _gate_payload(model, scope, state.verdict, state.computed_at)


def failed_gate(model: Any, scope: str) -> dict[str, Any]:
    """The answer when even reading the gate failed: paused, internal_error."""
    verdict = internal_error_verdict(RuntimeError("the stored gate could not be read"))
    return _gate_payload(model, scope, verdict.to_dict(), timezone.now())


def _is_stale(state: GateState, now: datetime) -> bool:
    if state.valid_until is not None and now >= state.valid_until:
        return True
    return now - state.computed_at > GATE_MAX_AGE


def _gate_payload(
    model: Any, scope: str, verdict: dict[str, Any], computed_at: datetime
) -> dict[str, Any]:
    return {
        "model": model.slug,
        "scope": scope,
        "state": verdict.get("state", "paused"),
        "reasons": verdict.get("reasons", []),
        "required_standards": verdict.get("required_standards", []),
        "required_level": verdict.get("required_level"),
        # JSON columns may hand large numbers back as integers; the API speaks floats.
        "approved_compute_limit": _float_or_none(verdict.get("approved_compute_limit")),
        "planned_compute": _float_or_none(verdict.get("planned_compute")),
        "policy_version": verdict.get("policy_version"),
        "evaluated_checkpoint": verdict.get("evaluated_checkpoint"),
        "warning": verdict.get("warning", False),
        "determinations": verdict.get("determinations", []),
        "computed_at": computed_at.isoformat(),
    }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def recompute_all(cause: str, actor: Any = None) -> int:
    """Recompute every model's gate (policy activation, the periodic sweep)."""
    from evaluations.models import AIModel

    count = 0
    for model in AIModel.objects.order_by("pk"):
        with transaction.atomic():
            recompute(model, cause, actor)
        count += 1
    return count


# --- Safeguards -------------------------------------------------------------------------------


def record_safeguard(
    model: Any,
    requirement_code: str,
    status: str,
    actor: Any,
    *,
    evidence_url: str = "",
    notes: str = "",
    via: str | None = None,
) -> SafeguardRecord:
    """Record a safeguard requirement's status for a model (a new history row)."""
    require(actor, "safeguard.update")
    known = adapter.requirement_codes()
    if requirement_code not in known:
        raise GovernanceError(
            {
                "requirement_code": [
                    f"Unknown requirement {requirement_code!r} in the active policy."
                ]
            }
        )
    if status not in SafeguardState.values:
        raise GovernanceError({"status": [f"Must be one of {', '.join(SafeguardState.values)}."]})
    if status == SafeguardState.VERIFIED and not evidence_url:
        raise GovernanceError({"evidence_url": ["Verification needs a link to its evidence."]})
    with transaction.atomic():
        record = SafeguardRecord.objects.create(
            model=model,
            requirement_code=requirement_code,
            status=status,
            evidence_url=evidence_url,
            notes=notes,
            recorded_by=actor,
        )
        audit.record(
            "safeguard.record",
            record,
            {
                "model": model.slug,
                "requirement": requirement_code,
                "status": status,
                "evidence_url": evidence_url,
            },
            actor=actor,
            via=via,
        )
        on_evidence_changed(model, "safeguard.record", actor)
    return record


# --- Decisions --------------------------------------------------------------------------------


def build_dossier(model: Any, compute_limit: float, now: datetime) -> tuple[dict[str, Any], Any]:
    """The frozen inputs a decision is made on, and the active policy version."""
    verdict, _ = evaluate_model(model, Scope.SCALING, compute_limit, now=now)
    payload = verdict.to_dict()
    policy = adapter.active_version()
    if policy is None:
        raise GovernanceError({"model": ["No policy version is active; nothing can be approved."]})
    # The decision itself is what is being asked for, so its absence is not part of the case.
    reasons = [
        r
        for r in payload["reasons"]
        if r["code"] not in ("no_approval", "exceeds_approved_compute")
    ]
    safeguards = {
        code: {
            "status": rec.status,
            "recorded_at": rec.recorded_at.isoformat(),
            "evidence_url": rec.evidence_url,
        }
        for code, rec in sorted(SafeguardRecord.objects.latest_per_requirement(model).items())
    }
    dossier = {
        "model": model.slug,
        "compute_limit": compute_limit,
        "policy_version": {
            "id": policy.pk,
            "key": policy.key,
            "version": policy.version,
            "content_sha256": policy.content_sha256,
        },
        "evaluated_checkpoint": payload.get("evaluated_checkpoint"),
        "required_standards": payload.get("required_standards", []),
        "required_level": payload.get("required_level"),
        "determinations": payload.get("determinations", []),
        "safeguards": safeguards,
        "automatic_checks": reasons,
    }
    return _json_safe(dossier), policy


def dossier_hash(dossier: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dossier)).hexdigest()


def request_decision(
    model: Any, compute_limit: Any, rationale: str, actor: Any, *, via: str | None = None
) -> ScalingDecision:
    """Ask leadership to approve scaling ``model`` up to ``compute_limit`` FLOP."""
    require(actor, "decision.request")
    limit = _positive_number(compute_limit, "compute_limit")
    if not rationale or not rationale.strip():
        raise GovernanceError({"rationale": ["Explain why scaling should be approved."]})
    now = timezone.now()
    with transaction.atomic():
        dossier, policy = build_dossier(model, limit, now)
        decision = ScalingDecision.objects.create(
            model=model,
            compute_limit=limit,
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
                "compute_limit": limit,
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
                "compute_limit": limit,
                "required_titles": decision.required_titles,
            },
            roles=("leadership",),
        )
    return decision


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
    actor: Any,
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
    require(actor, "decision.sign")
    if verdict not in ApprovalVerdict.values:
        raise GovernanceError({"verdict": ["Must be approve or reject."]})
    with transaction.atomic():
        decision = (
            ScalingDecision.objects.select_for_update().select_related("model").get(pk=decision_id)
        )
        _expire_if_due(decision)
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
        open_titles = [t for t in decision.required_titles if t not in signed and t in actor.titles]
        if not open_titles:
            raise PermissionDenied(
                "You hold none of the titles still needed: "
                + ", ".join(t for t in decision.required_titles if t not in signed)
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
        title = open_titles[0]
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
                "dossier_sha256": shown_sha256,
                "comment": comment,
            },
            actor=actor,
            via=via,
        )
        signed_titles = set(signed) | {title}
        if verdict == ApprovalVerdict.REJECT:
            _set_status(decision, DecisionStatus.REJECTED, f"rejected by {title}", actor)
        elif all(t in signed_titles for t in decision.required_titles):
            _set_status(decision, DecisionStatus.APPROVED, "all titles approved", actor)
        if decision.status != DecisionStatus.PENDING:
            recompute(decision.model, f"decision.{decision.status}", actor)
            from audit.checkpoints import request_checkpoint

            request_checkpoint()
    return decision


def _set_status(decision: ScalingDecision, status: str, reason: str, actor: Any) -> None:
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


def _expire_if_due(decision: ScalingDecision) -> None:
    if decision.status == DecisionStatus.PENDING and timezone.now() >= decision.expires_at:
        _set_status(decision, DecisionStatus.EXPIRED, "no verdict before the deadline", None)


def _mark_stale_if_changed(decision: ScalingDecision, actor: Any) -> bool:
    dossier, _ = build_dossier(decision.model, decision.compute_limit, timezone.now())
    if dossier_hash(dossier) == decision.dossier_sha256:
        return False
    _set_status(
        decision, DecisionStatus.STALE, "the dossier's inputs changed before completion", actor
    )
    return True


def mark_stale_decisions(model: Any, actor: Any = None) -> int:
    """Pending decisions of ``model`` whose dossier inputs changed turn stale."""
    count = 0
    for decision in ScalingDecision.objects.select_for_update().filter(
        model=model, status=DecisionStatus.PENDING
    ):
        _expire_if_due(decision)
        if decision.status == DecisionStatus.PENDING and _mark_stale_if_changed(decision, actor):
            count += 1
    return count


# --- Pause ------------------------------------------------------------------------------------


def pause(model: Any, reason: str, actor: Any, *, via: str | None = None) -> Pause:
    """Pause a model at once. One safety or leadership user is enough."""
    require(actor, "model.pause")
    if not reason or not reason.strip():
        raise GovernanceError({"reason": ["Say why the model is paused."]})
    with transaction.atomic():
        record = Pause.objects.create(model=model, reason=reason.strip(), created_by=actor)
        audit.record(
            "model.pause",
            record,
            {"model": model.slug, "reason": record.reason},
            actor=actor,
            via=via,
        )
        recompute(model, "model.pause", actor)
        notifications.notify(
            "model.paused",
            {"model": model.slug, "reason": record.reason},
            roles=("leadership", "safety"),
        )
    return record


# --- Hooks ------------------------------------------------------------------------------------


def on_evidence_changed(model: Any, cause: str = "evidence", actor: Any = None) -> None:
    """Called inside every evidence write's transaction: stale decisions, then the gate."""
    mark_stale_decisions(model, actor)
    recompute(model, cause, actor)


def on_audit_outcome_changed(run: Any) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok")


def on_policy_activated(version: Any) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    from evaluations.models import AIModel

    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model)
        recompute(model, "policy.activate")
