"""The scaling gate engine: a pure function from plain data to a verdict.

The package, by topic: ``codes`` (scopes, statuses, reason codes), ``inputs`` and ``verdict``
(the frozen data in and out), ``determinations`` (where the model stands), ``requirements``
(standards, safeguards, halts), ``decisions`` (evaluations due, approval, pauses) and
``engine`` (``evaluate``). Import from ``governance.gate``; the names below are its API.

Contract (binding; docs/how-the-gate-decides.md explains it for readers):

* ``evaluate(GateInput) -> Verdict``. The verdict is ``approved`` only when every
  check passes; otherwise it is ``paused`` with one :class:`Reason` per failed
  check, each carrying one of the stable codes in :data:`REASON_CODES`.
* ``evaluate`` never raises (for ``Exception`` subclasses). Any error inside the
  engine, including malformed input, yields ``paused`` with the single reason
  ``internal_error``. The state is derived from the reason list, and an empty list
  is only reached by running every check to completion.
* No Django, no ORM, no I/O, no clock: the caller passes ``now``. The same input
  always gives the same verdict, with reasons and determinations in a stable
  order, so ``Verdict.to_dict()`` is suitable for hashed dossiers.

How capabilities are judged, the way the frameworks do:

* **Once crossed, stays crossed.** Capability evidence for an indicator is every
  current result of its metric that is not post-mitigation, on any checkpoint the
  adapter passes (the model's and its ancestors'). The determining value is the most
  capable one at its conservative bound (``value + z·stderr`` toward "more capable").
  A later, weaker or post-mitigation result never lowers it; only a correction (which
  removes the corrected result from the evidence) can.
* **Weak evidence proves danger, never safety.** A partial run or one below the
  metric's ``min_samples`` counts when it reaches a line and is ignored otherwise.
* **Missing means none at all.** An indicator without usable evidence is presumed
  crossed (``missing_evidence``); a new checkpoint does not make evidence missing.
  The re-evaluation triggers (compute multiple, months) decide when fresh evidence is
  due, measured from the reference *full* evaluation: the largest checkpoint with strong
  evidence for every indicator metric, dated by the evaluations' own dates. Planned
  compute defaults to the largest checkpoint's, whatever the registration order.
* **A precaution** (recorded by leadership, lifted only by a signed decision) treats a
  threshold as crossed without evidence.

What a crossing requires: the scope's standards of every crossed or presumed
red line (and of warnings under ``require_safeguards``) join the baseline; with them
verified and an approved decision of the scope that covers the crossing, the gate
opens. An ``early_warning`` threshold never pauses by itself. A crossed threshold that
is ``halt`` or whose required standard is undefined pauses with ``threshold_crossed``.
An approved decision stops counting (``decision_outdated``) once a threshold it did not
show as crossed is crossed, or a standard it did not show becomes required.

Time boundaries are inclusive; comparisons put NaN on the unsafe side (see
:mod:`policies.rules`, shared with the model pages and the policy diff).
"""

from __future__ import annotations

from governance.gate.codes import (
    AUDIT_UNVERIFIED,
    COMMITMENT_OVERDUE,
    CROSSED_STATUSES,
    DECISION_OUTDATED,
    EVALUATION_DUE_COMPUTE,
    EVALUATION_DUE_TIME,
    EXCEEDS_APPROVED_COMPUTE,
    INTERNAL_ERROR,
    MANUAL_PAUSE,
    MISSING_EVIDENCE,
    NO_ACTIVE_POLICY,
    NO_APPROVAL,
    NO_CHECKPOINT,
    RANK,
    REASON,
    REASON_CODES,
    REASONS,
    SAFEGUARD_EXPIRED,
    SAFEGUARD_MISSING,
    SCOPES,
    THRESHOLD_CROSSED,
    WARNING_BEHAVIOURS,
    GateInputError,
    GateState,
    IndicatorStatus,
    ObjectId,
    ReasonInfo,
    SafeguardStatus,
    Scope,
    ThresholdStatus,
    WarningBehaviour,
    codes_of,
)
from governance.gate.determinations import (
    below_line,
    determine_indicator,
    last_full_evaluation,
)
from governance.gate.engine import (
    audit_unverified_verdict,
    evaluate,
    internal_error_verdict,
)
from governance.gate.inputs import (
    ApprovalInfo,
    CheckpointInfo,
    Evidence,
    GateInput,
    IndicatorSpec,
    MetricTally,
    PauseInfo,
    PolicySnapshot,
    PrecautionInfo,
    ResultInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
)
from governance.gate.requirements import (
    expand_standards,
    requirements_of,
)
from governance.gate.verdict import (
    Determination,
    IndicatorDetermination,
    Reason,
    Verdict,
    reasons_key,
    subject_of,
)
from policies.rules import add_months

__all__ = [
    "AUDIT_UNVERIFIED",
    "COMMITMENT_OVERDUE",
    "CROSSED_STATUSES",
    "DECISION_OUTDATED",
    "EVALUATION_DUE_COMPUTE",
    "EVALUATION_DUE_TIME",
    "EXCEEDS_APPROVED_COMPUTE",
    "INTERNAL_ERROR",
    "MANUAL_PAUSE",
    "MISSING_EVIDENCE",
    "NO_ACTIVE_POLICY",
    "NO_APPROVAL",
    "NO_CHECKPOINT",
    "RANK",
    "REASON",
    "REASONS",
    "REASON_CODES",
    "SAFEGUARD_EXPIRED",
    "SAFEGUARD_MISSING",
    "SCOPES",
    "THRESHOLD_CROSSED",
    "WARNING_BEHAVIOURS",
    "ApprovalInfo",
    "CheckpointInfo",
    "Determination",
    "Evidence",
    "GateInput",
    "GateInputError",
    "GateState",
    "IndicatorDetermination",
    "IndicatorSpec",
    "IndicatorStatus",
    "MetricTally",
    "ObjectId",
    "PauseInfo",
    "PolicySnapshot",
    "PrecautionInfo",
    "Reason",
    "ReasonInfo",
    "ResultInfo",
    "SafeguardInfo",
    "SafeguardStatus",
    "Scope",
    "StandardSpec",
    "ThresholdSpec",
    "ThresholdStatus",
    "Verdict",
    "WarningBehaviour",
    "add_months",
    "audit_unverified_verdict",
    "below_line",
    "codes_of",
    "determine_indicator",
    "evaluate",
    "expand_standards",
    "internal_error_verdict",
    "last_full_evaluation",
    "reasons_key",
    "requirements_of",
    "subject_of",
]
