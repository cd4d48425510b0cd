"""``evaluate``: runs every check in order and turns the failed ones into a verdict."""

from __future__ import annotations

from datetime import datetime

from governance.gate.codes import (
    AUDIT_UNVERIFIED,
    INTERNAL_ERROR,
    NO_ACTIVE_POLICY,
    NO_CHECKPOINT,
    RANK,
    SCOPES,
    WARNING_BEHAVIOURS,
    GateInputError,
)
from governance.gate.commitments import commitment_reasons
from governance.gate.decisions import approval_reasons, due_reasons, pause_reasons
from governance.gate.determinations import checkpoint_order, determine, last_full_evaluation
from governance.gate.inputs import ApprovalInfo, CheckpointInfo, GateInput, PolicySnapshot
from governance.gate.requirements import (
    halt_reasons,
    raised_by,
    required_level,
    required_standards,
    safeguard_reasons,
)
from governance.gate.verdict import Determination, Reason, Verdict
from policies import rules


def evaluate(inp: GateInput) -> Verdict:
    """Compute the gate verdict for ``inp``. Never raises for ordinary exceptions.

    Any ``Exception`` yields ``paused`` with the single reason ``internal_error``.
    """
    try:
        return _evaluate(inp)
    except Exception as exc:  # failing closed is the contract
        return internal_error_verdict(exc)


def _evaluate(inp: GateInput) -> Verdict:
    scope = inp.scope
    if scope not in SCOPES:
        raise GateInputError(f"unknown scope {scope!r}")
    evidence = inp.evidence
    ids = [c.id for c in evidence.checkpoints]
    if len(set(ids)) != len(ids):
        raise GateInputError("checkpoint ids are not unique")
    own = [c for c in evidence.checkpoints if c.own]
    # The largest checkpoint decides, whatever the order they were registered in: a smaller
    # one registered later (a distillation) never lowers the planned compute.
    latest = max(own, key=checkpoint_order, default=None)
    planned = inp.planned_compute
    if latest is not None and (planned is None or planned < latest.effective_compute):
        planned = latest.effective_compute  # a model is already as far as its largest checkpoint

    reasons: list[Reason] = pause_reasons(inp.pauses)
    policy = inp.policy
    if policy is None:
        reasons.append(
            Reason(
                code=NO_ACTIVE_POLICY,
                message=(
                    "No policy version is active, so no capability or safeguard "
                    "check can be run; the model stays paused until leadership "
                    "activates a policy."
                ),
            )
        )
        return _verdict(reasons, scope=scope, planned=planned, latest=latest)
    if policy.warning_behaviour not in WARNING_BEHAVIOURS:
        raise GateInputError(f"unknown warning behaviour {policy.warning_behaviour!r}")
    codes = [t.code for t in policy.thresholds]
    if len(set(codes)) != len(codes):
        raise GateInputError("threshold codes are not unique")

    if latest is None:
        reasons.append(
            Reason(
                code=NO_CHECKPOINT,
                message=(
                    "The model has no registered checkpoint, so its capabilities "
                    "cannot be assessed; every threshold is presumed crossed."
                ),
            )
        )
    determinations, evidence_reasons = determine(policy, inp, has_checkpoint=latest is not None)
    reasons.extend(evidence_reasons)

    required = required_standards(policy, scope, determinations)
    reasons.extend(halt_reasons(policy, scope, determinations))
    origins = raised_by(policy, scope, determinations)
    reasons.extend(safeguard_reasons(policy, required, inp.safeguards, inp.now, origins))

    last_checkpoint, last_at = last_full_evaluation(policy, evidence)
    if latest is not None:
        reasons.extend(due_reasons(policy, planned, last_checkpoint, last_at, inp.now, reasons))
    reasons.extend(
        approval_reasons(
            inp.approval,
            scope,
            planned,
            determinations,
            required,
            policy,
            checkpoint=latest.name if latest is not None else None,
        )
    )
    reasons.extend(commitment_reasons(inp.overdue_commitments))

    return _verdict(
        reasons,
        scope=scope,
        approval=inp.approval,
        planned=planned,
        latest=latest,
        policy=policy,
        required=required,
        last_checkpoint=last_checkpoint,
        last_at=last_at,
        determinations=determinations,
    )


def _verdict(
    reasons: list[Reason],
    *,
    scope: str,
    planned: float | None,
    latest: CheckpointInfo | None,
    approval: ApprovalInfo | None = None,
    policy: PolicySnapshot | None = None,
    required: tuple[str, ...] = (),
    last_checkpoint: CheckpointInfo | None = None,
    last_at: datetime | None = None,
    determinations: tuple[Determination, ...] = (),
) -> Verdict:
    ordered = tuple(sorted(reasons, key=lambda r: (RANK[r.code], r.subject, r.message)))
    level = required_level(policy, required) if policy is not None else None
    return Verdict(
        # The only place a state is chosen: approved means no check failed.
        state="paused" if ordered else "approved",
        reasons=ordered,
        scope=scope,
        policy_version=policy.version_label if policy is not None else None,
        policy_version_id=policy.version_id if policy is not None else None,
        required_standards=required,
        required_level=level,
        approved_compute_limit=approval.compute_limit if approval is not None else None,
        approved_decision=approval.decision_id if approval is not None else None,
        planned_compute=planned,
        latest_checkpoint=latest.name if latest is not None else None,
        evaluated_checkpoint=last_checkpoint.name if last_checkpoint is not None else None,
        last_full_evaluation_at=last_at,
        determinations=determinations,
        warning=any(
            d.status == "warning" or (d.tier == rules.EARLY_WARNING and d.status != "below")
            for d in determinations
        ),
    )


def internal_error_verdict(exc: BaseException) -> Verdict:
    try:
        detail = f"{type(exc).__name__}: {exc}"[:300]
    except Exception:  # an exception whose __str__ fails
        detail = type(exc).__name__
    return Verdict(
        state="paused",
        reasons=(
            Reason(
                code=INTERNAL_ERROR,
                message=(
                    f"The gate could not be computed ({detail}). The model stays "
                    "paused until this is fixed; an error is never treated as "
                    "approval."
                ),
            ),
        ),
    )


def audit_unverified_verdict(message: str) -> Verdict:
    """Paused because the audit trail is not trusted now (no passing verification within the
    bound, or the last one failed); ``message`` says which and what to run."""
    return Verdict(state="paused", reasons=(Reason(code=AUDIT_UNVERIFIED, message=message),))
