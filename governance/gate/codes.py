"""The gate's vocabulary: scopes, statuses and the one table of reason codes.

Each reason code is spelled here and nowhere else (``tests/project/test_reason_table.py``):
its place in the one order, its group, the words pages use, what it means and the next step.
Pure data: the engine, the pages, the e-mails and the docs read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ObjectId = int | str
"""A primary key or natural key as the adapter knows it (DB id, UUID string)."""

Scope = Literal["scaling", "deployment"]
WarningBehaviour = Literal["notify", "require_safeguards"]
SafeguardStatus = Literal["planned", "implemented", "verified"]
GateState = Literal["approved", "paused"]
ThresholdStatus = Literal["below", "warning", "crossed", "presumed"]
IndicatorStatus = Literal["below", "warning", "crossed", "missing"]

SCOPES: Final[tuple[str, ...]] = ("scaling", "deployment")
WARNING_BEHAVIOURS: Final[tuple[str, ...]] = ("notify", "require_safeguards")
#: Determinations that make a threshold's standards required.
CROSSED_STATUSES: Final = frozenset({"crossed", "presumed"})
# The codes (each spelled once: here). Their order, words and next steps are the table below.
INTERNAL_ERROR: Final = "internal_error"
AUDIT_UNVERIFIED: Final = "audit_unverified"
NO_ACTIVE_POLICY: Final = "no_active_policy"
NO_CHECKPOINT: Final = "no_checkpoint"
MANUAL_PAUSE: Final = "manual_pause"
THRESHOLD_CROSSED: Final = "threshold_crossed"
MISSING_EVIDENCE: Final = "missing_evidence"
EVALUATION_DUE_COMPUTE: Final = "evaluation_due_compute"
EVALUATION_DUE_TIME: Final = "evaluation_due_time"
SAFEGUARD_MISSING: Final = "safeguard_missing"
SAFEGUARD_EXPIRED: Final = "safeguard_expired"
COMMITMENT_OVERDUE: Final = "commitment_overdue"
DECISION_OUTDATED: Final = "decision_outdated"
EXCEEDS_APPROVED_COMPUTE: Final = "exceeds_approved_compute"
NO_APPROVAL: Final = "no_approval"


@dataclass(frozen=True)
class ReasonInfo:
    """Everything about one reason code, for the engine, the pages, e-mails and the docs."""

    #: The stable string the API and stored verdicts carry.
    code: str
    #: The kind of problem; pages show the reasons of one group on one line.
    group: str
    #: A few words for a page (headings, badges, the dashboard).
    label: str
    #: What it means, one line (``docs/how-the-gate-decides.md`` lists it).
    meaning: str
    #: What a person does about it.
    next_step: str
    #: The URL name of the page that resolves it ("" for none) and the link's words.
    link: str = ""
    link_label: str = ""


#: Every reason code, in its one order: what stops everything first, paperwork last. The
#: engine lists a verdict's reasons in this order and the pages show them in it. A new code
#: is one row here (and the check that emits it); see CONTRIBUTING.md.
REASONS: Final[tuple[ReasonInfo, ...]] = (
    ReasonInfo(
        INTERNAL_ERROR,
        "error",
        "Gate could not be computed",
        "the gate could not be computed (never treated as approval)",
        "Contact the administrators: the gate could not be computed.",
    ),
    ReasonInfo(
        AUDIT_UNVERIFIED,
        "audit",
        "Audit trail not verified",
        "no audit verification passed within the bound, or the last one failed",
        "Start the worker and beat, which verify the audit trail every minute, or run "
        "manage.py verify_audit; a failed verification is investigated by an auditor first.",
        "audit-status",
        "Audit trail status",
    ),
    ReasonInfo(
        NO_ACTIVE_POLICY,
        "policy",
        "No policy in force",
        "no policy is active: nothing can be checked",
        "An administrator loads a policy pack and leadership activates it.",
        "policy-versions",
        "Policy versions",
    ),
    ReasonInfo(
        NO_CHECKPOINT,
        "evidence",
        "No checkpoint reported",
        "the model has reported no checkpoint",
        "The training pipeline reports a checkpoint with its effective compute.",
    ),
    ReasonInfo(
        MANUAL_PAUSE,
        "pause",
        "Paused by a person",
        "someone paused the model",
        "Resolve the cause of the pause, then request a new decision.",
        "decision-request",
        "Request a decision to resume",
    ),
    ReasonInfo(
        THRESHOLD_CROSSED,
        "policy",
        "Threshold crossed with no way forward",
        "a crossed threshold halts, or the standard it requires is not defined",
        "The policy has no way forward past this threshold (it halts, or its standard is not "
        "defined): leadership must adopt a policy version that defines one.",
        "policy-versions",
        "Policy versions",
    ),
    ReasonInfo(
        MISSING_EVIDENCE,
        "evidence",
        "Evidence missing",
        "an indicator has no usable evidence: its threshold is presumed crossed",
        "Run or import the evaluations named above for the evaluated checkpoint.",
        "result-create",
        "Log or import results",
    ),
    ReasonInfo(
        EVALUATION_DUE_COMPUTE,
        "due",
        "Evaluation due (compute)",
        "the planned compute reached the multiple of the last full evaluation",
        "Evaluate a recent checkpoint: compute grew past the policy's trigger.",
        "model-detail",
        "Triggers",
    ),
    ReasonInfo(
        EVALUATION_DUE_TIME,
        "due",
        "Evaluation due (time)",
        "the last full evaluation is older than the policy allows",
        "Re-run the full evaluation: the last one is older than the policy allows.",
        "model-detail",
        "Triggers",
    ),
    ReasonInfo(
        SAFEGUARD_MISSING,
        "safeguards",
        "Safeguards to verify",
        "a requirement of a required standard is not verified",
        "Record and verify the missing safeguards on the safeguards checklist.",
        "safeguards",
        "Safeguards checklist",
    ),
    ReasonInfo(
        SAFEGUARD_EXPIRED,
        "safeguards",
        "Safeguards to re-verify",
        "its verification is older than the re-approval period",
        "Re-verify the expired safeguards.",
        "safeguards",
        "Safeguards checklist",
    ),
    ReasonInfo(
        COMMITMENT_OVERDUE,
        "commitments",
        "Commitment overdue",
        "a procedural commitment the policy marks as gating is past its deadline",
        "Fulfil the overdue commitment (or record why not) and have it confirmed.",
    ),
    ReasonInfo(
        DECISION_OUTDATED,
        "decision",
        "Decision outdated",
        "the approved decision no longer describes the model (under a new policy version: "
        "the message names the versions and what changed)",
        "A threshold crossed or a standard became required after the decision was signed: "
        "verify the required safeguards, then request a new decision.",
        "decision-request",
        "Request a decision",
    ),
    ReasonInfo(
        EXCEEDS_APPROVED_COMPUTE,
        "decision",
        "Above the approved compute",
        "the planned compute is above the decision's limit",
        "Request a new decision with a higher compute limit.",
        "decision-request",
        "Request a decision",
    ),
    ReasonInfo(
        NO_APPROVAL,
        "decision",
        "No approved decision",
        "no approved decision of this scope exists",
        "Request a decision of this scope; leadership signs it.",
        "decision-request",
        "Request a decision",
    ),
)

#: Each code's row.
REASON: Final[dict[str, ReasonInfo]] = {row.code: row for row in REASONS}
#: Every reason code, in the one order (the verdict's and the pages').
REASON_CODES: Final[tuple[str, ...]] = tuple(row.code for row in REASONS)
#: A code's place in that order (unknown codes last).
RANK: Final[dict[str, int]] = {code: rank for rank, code in enumerate(REASON_CODES)}


def register(row: ReasonInfo, *, after: str) -> None:
    """Add a reason code from a plugin, placed right after ``after`` in the one order.

    The shipped codes are the rows above; a plugin (or a test) that brings its own check calls
    this once. ``REASON`` and ``RANK`` (what the engine, pages and e-mails read) include it.
    """
    if row.code in REASON:
        raise ValueError(f"reason code {row.code!r} exists already")
    order = sorted(RANK, key=RANK.__getitem__)
    order.insert(order.index(after) + 1, row.code)
    REASON[row.code] = row
    RANK.clear()
    RANK.update({code: rank for rank, code in enumerate(order)})


def unregister(code: str) -> None:
    """Take a plugin's code out again (tests)."""
    if code in REASON_CODES:
        raise ValueError(f"{code!r} is a shipped reason code")
    del REASON[code]
    order = [c for c in sorted(RANK, key=RANK.__getitem__) if c != code]
    RANK.clear()
    RANK.update({c: rank for rank, c in enumerate(order)})


def codes_of(group: str) -> frozenset[str]:
    """The codes of one group (``"decision"``: the reasons a new decision clears)."""
    return frozenset(row.code for row in REASON.values() if row.group == group)


class GateInputError(ValueError):
    """The input is inconsistent; ``evaluate`` turns this into ``internal_error``."""
