"""State changes of the verdict: gate recomputation, safeguards, decisions, approvals, pauses.

Every function here runs in one transaction with its audit entry and the gate recomputation it
causes, so a committed write and the gate it implies are never out of step.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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
    Precaution,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
    Scope,
)
from rsp_portal.authz import require
from rsp_portal.errors import ServiceError

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from policies.models import PolicyVersion
    from rsp_portal.types import Actor


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
    model: AIModel, scope: str, planned_compute: float | None = None, *, now: datetime | None = None
) -> tuple[Verdict, datetime | None]:
    """Run the engine for ``model`` now; returns the verdict and when time could change it."""
    now = now or timezone.now()
    inp, valid_until = _read_input(model, scope, planned_compute, now)
    if inp is None:
        return _unreadable(), None
    return evaluate(inp), valid_until


def _trust() -> tuple[bool, datetime | None]:
    """Whether the audit trail is trusted (its latest verification passed, recently enough:
    ``audit.verification.trail_trusted``) and when that trust runs out by time alone."""
    from audit.verification import trust_state

    return trust_state()


def _read_input(
    model: AIModel,
    scope: str,
    planned_compute: float | None,
    now: datetime,
    reads: adapter.Reads | None = None,
    trust: tuple[bool, datetime | None] | None = None,
) -> tuple[Any, datetime | None]:
    try:
        trusted, trust_until = trust if trust is not None else _trust()
        if not trusted:
            return None, None
        inp, valid_until = adapter.build_input(
            model, scope, planned_compute, now, require_verified_trail=True, reads=reads
        )
        # The stored gate expires with the trail's trust.
        moments = [m for m in (valid_until, trust_until) if m is not None]
        return inp, min(moments) if moments else None
    except adapter.TrailNotVerified:
        return None, None
    except Exception:
        logger.exception("building gate input for %s failed", model)
        return None, None


def _safe_reads(model: AIModel) -> adapter.Reads | None:
    try:
        return adapter.read_inputs(model)
    except Exception:
        logger.exception("reading the gate's inputs for %s failed", model)
        return None


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


def recompute(model: AIModel, cause: str, actor: Actor = None) -> dict[str, GateState]:
    """Recompute both scopes of ``model``'s gate inside the caller's transaction.

    A change of state, reasons or determinations writes a GateTransition, an audit entry
    naming ``cause`` and ``actor``, and notifications.
    """
    now = timezone.now()
    states = {}
    # One set of reads for both scopes (3 queries); a failed read leaves both unreadable.
    reads = _safe_reads(model)
    try:
        trust = _trust()
    except Exception:
        trust = (False, None)
    for scope in Scope.values:
        inp, valid_until = (
            _read_input(model, scope, None, now, reads, trust)
            if reads is not None
            else (None, None)
        )
        verdict = evaluate(inp) if inp else _unreadable()
        states[scope] = _store_verdict(model, scope, verdict, valid_until, now, cause, actor)
    return states


def _recompute_scope(model: AIModel, scope: str, cause: str, actor: Actor) -> GateState:
    now = timezone.now()
    verdict, valid_until = evaluate_model(model, scope, now=now)
    return _store_verdict(model, scope, verdict, valid_until, now, cause, actor)


def _flagged(verdict: dict[str, Any]) -> dict[str, str]:
    """Thresholds not below their lines: code → status (what a transition must show)."""
    return {
        d["threshold"]: d["status"]
        for d in verdict.get("determinations", [])
        if isinstance(d, dict) and d.get("status") not in (None, "below")
    }


def _store_verdict(
    model: AIModel,
    scope: str,
    verdict: Verdict,
    valid_until: datetime | None,
    now: datetime,
    cause: str,
    actor: Actor,
) -> GateState:
    payload = verdict.to_dict()
    reasons = payload["reasons"]
    state = GateState.objects.select_for_update().filter(model=model, scope=scope).first()
    previous_state = state.state if state else ""
    previous_key = _key_of(state.reasons) if state else None
    new_key = tuple(sorted((r["code"], _subject(r)) for r in reasons))
    previous_flags = _flagged(state.verdict) if state else {}
    flags = _flagged(payload)
    if state is None:
        state = GateState(model=model, scope=scope)
    state.state = verdict.state
    state.reasons = reasons
    state.verdict = payload
    state.computed_at = now
    state.valid_until = valid_until
    state.save()
    if previous_state != verdict.state or previous_key != new_key or previous_flags != flags:
        GateTransition.objects.create(
            model=model,
            scope=scope,
            from_state=previous_state,
            to_state=verdict.state,
            reasons=reasons,
            verdict=payload,
            cause=cause[: GateTransition._meta.get_field("cause").max_length or 80],
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
                "determinations": flags,
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
        new_flags = {
            code: status for code, status in flags.items() if previous_flags.get(code) != status
        }
        if new_flags and scope == Scope.SCALING:
            crossed = set(payload.get("crossed_thresholds", [])) & set(new_flags)
            notifications.notify(
                "threshold.crossed" if crossed else "warning.crossed",
                {"model": model.slug, "scope": scope, "determinations": new_flags, "cause": cause},
                roles=("leadership", "safety"),
            )
        if any(r["code"] in ("evaluation_due_compute", "evaluation_due_time") for r in reasons):
            notifications.notify("evaluation.due", {"model": model.slug, "reasons": reasons})
    return state


def _subject(reason: dict[str, Any]) -> str:
    keys = ("threshold", "metric", "requirement", "standard", "decision", "checkpoint", "pause")
    return " ".join(f"{k}={reason[k]}" for k in keys if reason.get(k) is not None)


def _key_of(reasons: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((r["code"], _subject(r)) for r in reasons))


def gate_as_of(model: AIModel, scope: str, as_of: datetime) -> dict[str, Any] | None:
    """The gate as it stood at ``as_of``, from the stored transitions; None when no gate had
    been recorded by then."""
    transition = (
        GateTransition.objects.filter(model=model, scope=scope, created_at__lte=as_of)
        .order_by("-created_at", "-pk")
        .first()
    )
    if transition is None:
        return None
    payload = _gate_payload(model, scope, transition.verdict, transition.created_at)
    payload["as_of"] = as_of.isoformat()
    return payload


def gate_for(
    model: AIModel, scope: str = Scope.SCALING, compute: float | None = None
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


def stored_gate(slug: str, scope: str = Scope.SCALING) -> dict[str, Any] | None:
    """The stored gate of the model ``slug`` in one query (the state row joined to its model),
    or None when there is no fresh row (no model, never computed, or stale: then use
    :func:`gate_for`)."""
    now = timezone.now()
    state = (
        GateState.objects.select_related("model")
        .filter(model__slug=slug, scope=scope)
        .only(*_STORED_GATE_FIELDS)
        .first()
    )
    if state is None or _is_stale(state, now):
        return None
    return _gate_payload(state.model, scope, state.verdict, state.computed_at)


_STORED_GATE_FIELDS = (
    "state",
    "verdict",
    "computed_at",
    "valid_until",
    "scope",
    "model__id",
    "model__slug",
)


def failed_gate(model: AIModel, scope: str) -> dict[str, Any]:
    """The answer when even reading the gate failed: paused, internal_error."""
    verdict = internal_error_verdict(RuntimeError("the stored gate could not be read"))
    return _gate_payload(model, scope, verdict.to_dict(), timezone.now())


def _is_stale(state: GateState, now: datetime) -> bool:
    if state.valid_until is not None and now >= state.valid_until:
        return True
    return now - state.computed_at > GATE_MAX_AGE


def _gate_payload(
    model: AIModel, scope: str, verdict: dict[str, Any], computed_at: datetime
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
        "approved_decision": verdict.get("approved_decision"),
        "planned_compute": _float_or_none(verdict.get("planned_compute")),
        "policy_version": verdict.get("policy_version"),
        "latest_checkpoint": verdict.get("latest_checkpoint"),
        "evaluated_checkpoint": verdict.get("evaluated_checkpoint"),
        "last_full_evaluation_at": verdict.get("last_full_evaluation_at"),
        "crossed_thresholds": verdict.get("crossed_thresholds", []),
        "warning": verdict.get("warning", False),
        "determinations": verdict.get("determinations", []),
        "computed_at": computed_at.isoformat(),
    }


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def recompute_all(cause: str, actor: Actor = None) -> int:
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
    model: AIModel,
    requirement_code: str,
    status: str,
    actor: Actor,
    *,
    evidence_url: str = "",
    notes: str = "",
    via: str | None = None,
) -> SafeguardRecord:
    """Record a safeguard requirement's status for a model (a new history row)."""
    actor = require(actor, "safeguard.update")
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


#: Reasons a decision is asked to resolve, so they are not part of its case.
_DECISION_REASONS = frozenset({"no_approval", "decision_outdated", "exceeds_approved_compute"})


def build_dossier(
    model: AIModel,
    compute_limit: float,
    now: datetime,
    *,
    scope: str = Scope.SCALING,
    lifts_precautions: list[int] | None = None,
) -> tuple[dict[str, Any], Any]:
    """The frozen inputs a decision is made on, and the active policy version."""
    verdict, _ = evaluate_model(model, scope, compute_limit, now=now)
    payload = verdict.to_dict()
    policy = adapter.active_version()
    if policy is None:
        raise GovernanceError({"model": ["No policy version is active; nothing can be approved."]})
    if payload["state"] == "paused" and any(
        r["code"] == "internal_error" for r in payload["reasons"]
    ):
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
        for p in adapter.precautions_in_force(model)
    ]
    dossier = {
        "model": model.slug,
        "scope": scope,
        "compute_limit": compute_limit,
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
    }
    return _json_safe(dossier), policy


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
    via: str | None = None,
) -> ScalingDecision:
    """Ask leadership to approve scaling ``model`` up to ``compute_limit`` FLOP (scope
    ``scaling``) or deploying it (scope ``deployment``: the limit defaults to the latest
    checkpoint's compute, the checkpoint being deployed)."""
    actor = require(actor, "decision.request")
    if scope not in Scope.values:
        raise GovernanceError({"scope": [f"Must be one of {', '.join(Scope.values)}."]})
    if scope == Scope.DEPLOYMENT and compute_limit is None:
        latest = model.checkpoints.order_by("-reported_at", "-pk").first()
        if latest is None:
            raise GovernanceError({"model": ["The model has no checkpoint to deploy."]})
        compute_limit = latest.effective_compute or 1.0
    limit = _positive_number(compute_limit, "compute_limit")
    if not isinstance(rationale, str) or not rationale.strip():
        raise GovernanceError({"rationale": [f"Explain why {scope} should be approved."]})
    lifts = _precaution_ids(model, lifts_precautions)
    now = timezone.now()
    with transaction.atomic():
        dossier, policy = build_dossier(model, limit, now, scope=scope, lifts_precautions=lifts)
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


def _precaution_ids(model: AIModel, raw: Any) -> list[int]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in raw
    ):
        raise GovernanceError({"lifts_precautions": ["Must be a list of precaution ids."]})
    in_force = {p.pk for p in adapter.precautions_in_force(model)}
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
        title = decision.signing_title_for(actor, list(signed.values()))
        if title is None:
            raise PermissionDenied(
                "You hold none of the titles still needed: "
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
            from audit.checkpoints import request_checkpoint

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


def _expire_if_due(decision: ScalingDecision) -> None:
    if decision.status == DecisionStatus.PENDING and timezone.now() >= decision.expires_at:
        _set_status(decision, DecisionStatus.EXPIRED, "no verdict before the deadline", None)


def _mark_stale_if_changed(decision: ScalingDecision, actor: Actor) -> bool:
    dossier, _ = build_dossier(
        decision.model,
        decision.compute_limit or 0.0,
        timezone.now(),
        scope=decision.scope,
        lifts_precautions=list(decision.lifts_precautions or []),
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
        _expire_if_due(decision)
        if decision.status == DecisionStatus.PENDING and _mark_stale_if_changed(decision, actor):
            count += 1
    return count


# --- Precautionary determinations ---------------------------------------------------------------


def record_precaution(
    model: AIModel, threshold_code: Any, reason: Any, actor: Actor, *, via: str | None = None
) -> Precaution:
    """Treat ``threshold_code`` as crossed for ``model`` without evidence ("we cannot rule it
    out"). Takes effect at once; lifting it needs an approved decision that lists it."""
    actor = require(actor, "precaution.record")
    version = adapter.active_version()
    if version is None:
        raise GovernanceError({"threshold": ["No policy version is active."]})
    codes = sorted(t.code for t in version.thresholds.all())
    if not isinstance(threshold_code, str) or threshold_code not in codes:
        raise GovernanceError(
            {"threshold": [f"Unknown threshold; one of {', '.join(codes) or '(none)'}."]}
        )
    if not isinstance(reason, str) or not reason.strip():
        raise GovernanceError({"reason": ["Say why the threshold cannot be ruled out."]})
    if len(reason) > 10_000:
        raise GovernanceError({"reason": ["Must be at most 10000 characters."]})
    with transaction.atomic():
        record = Precaution.objects.create(
            model=model, threshold_code=threshold_code, reason=reason.strip(), created_by=actor
        )
        audit.record(
            "precaution.record",
            record,
            {"model": model.slug, "threshold": threshold_code, "reason": record.reason},
            actor=actor,
            via=via,
        )
        mark_stale_decisions(model, actor)
        recompute(model, f"precaution.record #{record.pk}", actor)
    return record


# --- Pause ------------------------------------------------------------------------------------


def pause(model: AIModel, reason: str, actor: Actor, *, via: str | None = None) -> Pause:
    """Pause a model at once. One safety or leadership user is enough."""
    actor = require(actor, "model.pause")
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


def on_evidence_changed(model: AIModel, cause: str = "evidence", actor: Actor = None) -> None:
    """Called inside every evidence write's transaction: stale decisions, then the gate."""
    mark_stale_decisions(model, actor)
    recompute(model, cause, actor)


def on_audit_outcome_changed(run: Any) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok")


def on_policy_activated(version: PolicyVersion) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    from evaluations.models import AIModel

    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model)
        recompute(model, "policy.activate")
