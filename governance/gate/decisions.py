"""Checks on time and on people: evaluations due, the approved decision, manual pauses."""

from __future__ import annotations

from datetime import datetime

from governance.gate.codes import (
    DECISION_OUTDATED,
    EVALUATION_DUE_COMPUTE,
    EVALUATION_DUE_TIME,
    EXCEEDS_APPROVED_COMPUTE,
    MANUAL_PAUSE,
    MISSING_EVIDENCE,
    NO_APPROVAL,
)
from governance.gate.inputs import ApprovalInfo, CheckpointInfo, PauseInfo, PolicySnapshot
from governance.gate.values import fmt_date, fmt_flop, fmt_number
from governance.gate.verdict import Determination, Reason, crossed_red_lines
from policies import rules


def due_reasons(
    policy: PolicySnapshot,
    planned: float | None,
    last: CheckpointInfo | None,
    last_at: datetime | None,
    now: datetime,
    so_far: list[Reason],
) -> list[Reason]:
    if last is None or last_at is None:
        if any(r.code == MISSING_EVIDENCE for r in so_far):
            return []  # missing evidence already says an evaluation is needed
        return [
            Reason(
                code=EVALUATION_DUE_COMPUTE,
                message=(
                    "No checkpoint has a complete evaluation (strong evidence for every "
                    "indicator of the policy on one checkpoint); a comprehensive capability "
                    "evaluation is due."
                ),
            )
        ]
    reasons: list[Reason] = []
    multiple = policy.effective_compute_multiple
    if planned is not None and rules.due_by_compute(planned, last.effective_compute, multiple):
        reasons.append(
            Reason(
                code=EVALUATION_DUE_COMPUTE,
                message=(
                    f"The planned effective compute ({fmt_flop(planned)}) is at least "
                    f"{fmt_number(multiple)}x that of {last.name} "
                    f"({fmt_flop(last.effective_compute)}), the last fully evaluated "
                    "checkpoint; a comprehensive capability evaluation is due."
                ),
                checkpoint=last.name,
            )
        )
    months = policy.months_between_assessments
    if rules.due_by_time(last_at, now, months):
        reasons.append(
            Reason(
                code=EVALUATION_DUE_TIME,
                message=(
                    f"The last full evaluation (checkpoint {last.name}, run on "
                    f"{fmt_date(last_at)}) is {months} months old or more; the policy "
                    f"requires a comprehensive evaluation every {months} months."
                ),
                checkpoint=last.name,
            )
        )
    return reasons


def approval_reasons(
    approval: ApprovalInfo | None,
    scope: str,
    planned: float | None,
    determinations: tuple[Determination, ...],
    required: tuple[str, ...],
    policy: PolicySnapshot | None = None,
    checkpoint: str | None = None,
) -> list[Reason]:
    if approval is None or approval.scope != scope:
        return [
            Reason(
                code=NO_APPROVAL,
                message=(
                    f"No approved {scope} decision covers this model; leadership must sign "
                    "one before it can proceed."
                ),
            )
        ]
    if approval.checkpoints is not None and checkpoint not in approval.checkpoints:
        named = ", ".join(sorted(approval.checkpoints))
        return [
            Reason(
                code=NO_APPROVAL,
                message=(
                    f"Decision {approval.decision_id} deploys checkpoint(s) {named}; checkpoint "
                    f"{checkpoint or '(none)'}, the model's largest, is not among them. A "
                    "deployment decision that names it must be signed before it is deployed."
                ),
                decision=approval.decision_id,
            )
        ]
    reasons = []
    if (
        policy is not None
        and approval.policy_version_id is not None
        and approval.policy_version_id != policy.version_id
    ):
        changes = version_changes(approval, determinations, required)
        if changes:
            reasons.append(
                Reason(
                    code=DECISION_OUTDATED,
                    message=(
                        f"Decision {approval.decision_id} was signed under policy "
                        f"{approval.policy_version_label or 'an earlier version'}; under "
                        f"{policy.version_label}, now active, {'; '.join(changes)}. Its "
                        "dossier no longer describes the model: a new decision is needed."
                    ),
                    decision=approval.decision_id,
                )
            )
            return reasons + _limit_reasons(approval, planned)
    crossed_now = set(crossed_red_lines(determinations))
    new_crossings = (
        sorted(crossed_now - approval.crossed_thresholds)
        if approval.crossed_thresholds is not None
        else []
    )
    new_standards = (
        sorted(set(required) - approval.required_standards)
        if approval.required_standards is not None
        else []
    )
    if new_crossings or new_standards:
        parts = []
        if new_crossings:
            parts.append(f"threshold(s) {', '.join(new_crossings)} are now crossed or presumed")
        if new_standards:
            parts.append(f"standard(s) {', '.join(new_standards)} are now required")
        reasons.append(
            Reason(
                code=DECISION_OUTDATED,
                message=(
                    f"Decision {approval.decision_id} no longer describes the model: "
                    f"{'; '.join(parts)}, which its dossier did not show. A new decision is "
                    "needed."
                ),
                decision=approval.decision_id,
            )
        )
    return reasons + _limit_reasons(approval, planned)


def version_changes(
    approval: ApprovalInfo, determinations: tuple[Determination, ...], required: tuple[str, ...]
) -> list[str]:
    """What differs, under the active policy version, from the dossier of a decision signed
    under another one: each threshold whose determination changed (or is new, or gone) and
    the required standards added or dropped; empty when the dossier still describes the
    model (the decision stays in force)."""
    changes: list[str] = []
    shown = dict(approval.determinations or {})
    now = {d.threshold: str(d.status) for d in determinations}
    for code in sorted(set(shown) | set(now)):
        before, after = shown.get(code), now.get(code)
        if before == after:
            continue
        if before is None:
            changes.append(f"threshold {code} is new ({after})")
        elif after is None:
            changes.append(f"threshold {code} ({before}) is no longer in the policy")
        else:
            changes.append(f"threshold {code} is {after}, not {before}")
    previously = approval.required_standards or frozenset()
    added = sorted(set(required) - previously)
    dropped = sorted(previously - set(required))
    if added:
        changes.append(f"standard(s) {', '.join(added)} are now required")
    if dropped:
        changes.append(f"standard(s) {', '.join(dropped)} are no longer required")
    return changes


def _limit_reasons(approval: ApprovalInfo, planned: float | None) -> list[Reason]:
    reasons: list[Reason] = []
    limit = approval.compute_limit
    if planned is not None and limit is not None and not planned <= limit:
        reasons.append(
            Reason(
                code=EXCEEDS_APPROVED_COMPUTE,
                message=(
                    f"The planned effective compute ({fmt_flop(planned)}) is above "
                    f"the limit of {fmt_flop(limit)} approved by "
                    f"decision {approval.decision_id}."
                ),
                decision=approval.decision_id,
            )
        )
    return reasons


def pause_reasons(pauses: tuple[PauseInfo, ...]) -> list[Reason]:
    return [
        Reason(
            code=MANUAL_PAUSE,
            message=(
                f"The model was paused on {fmt_date(p.created_at)}: "
                f"{p.reason or 'no reason given'}. Resuming needs a new approved "
                "decision."
            ),
            pause=p.id,
        )
        for p in pauses
    ]
