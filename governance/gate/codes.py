"""The gate's vocabulary: scopes, statuses and the stable reason codes."""

from __future__ import annotations

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

NO_ACTIVE_POLICY: Final = "no_active_policy"
NO_CHECKPOINT: Final = "no_checkpoint"
MISSING_EVIDENCE: Final = "missing_evidence"
THRESHOLD_CROSSED: Final = "threshold_crossed"
SAFEGUARD_MISSING: Final = "safeguard_missing"
SAFEGUARD_EXPIRED: Final = "safeguard_expired"
EVALUATION_DUE_COMPUTE: Final = "evaluation_due_compute"
EVALUATION_DUE_TIME: Final = "evaluation_due_time"
NO_APPROVAL: Final = "no_approval"
DECISION_OUTDATED: Final = "decision_outdated"
EXCEEDS_APPROVED_COMPUTE: Final = "exceeds_approved_compute"
MANUAL_PAUSE: Final = "manual_pause"
#: No audit verification passed within the bound, or the last one failed (set before the engine
#: runs: the record the inputs come from is in doubt).
AUDIT_UNVERIFIED: Final = "audit_unverified"
INTERNAL_ERROR: Final = "internal_error"

REASON_CODES: Final[tuple[str, ...]] = (
    NO_ACTIVE_POLICY,
    NO_CHECKPOINT,
    MISSING_EVIDENCE,
    THRESHOLD_CROSSED,
    SAFEGUARD_MISSING,
    SAFEGUARD_EXPIRED,
    EVALUATION_DUE_COMPUTE,
    EVALUATION_DUE_TIME,
    NO_APPROVAL,
    DECISION_OUTDATED,
    EXCEEDS_APPROVED_COMPUTE,
    MANUAL_PAUSE,
    AUDIT_UNVERIFIED,
    INTERNAL_ERROR,
)
"""Every reason code, in the order reasons are listed in a verdict."""


class GateInputError(ValueError):
    """The input is inconsistent; ``evaluate`` turns this into ``internal_error``."""
