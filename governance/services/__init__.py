"""State changes of the verdict, one module per topic; import them from here.

- ``gates``: run the engine, store its verdict and transitions, read the gate back.
- ``safeguards``: safeguard records.
- ``decisions``: scaling decisions, their dossier, signatures, staleness and expiry.
- ``pauses``: precautionary determinations and pauses.
- ``hooks``: what other apps call when evidence, the audit outcome or the policy changes.

Every function runs in one transaction with its audit entry and the gate recomputation it
causes, so a committed write and the gate it implies are never out of step.
"""

from __future__ import annotations

from governance.services.decisions import (
    DECISION_TTL,
    build_dossier,
    dossier_hash,
    expire_if_due,
    mark_stale_decisions,
    request_decision,
    sign_decision,
)
from governance.services.errors import ConflictError, GovernanceError
from governance.services.gates import (
    GATE_MAX_AGE,
    current_rows,
    evaluate_model,
    failed_gate,
    gate_as_of,
    gate_for,
    recompute,
    recompute_all,
    stored_gate,
    stored_gate_body,
    stored_gate_from_row,
    stored_gate_rider,
)
from governance.services.hooks import (
    on_audit_outcome_changed,
    on_evidence_changed,
    on_policy_activated,
)
from governance.services.pauses import pause, record_precaution
from governance.services.safeguards import record_safeguard

__all__ = [
    "DECISION_TTL",
    "GATE_MAX_AGE",
    "ConflictError",
    "GovernanceError",
    "build_dossier",
    "current_rows",
    "dossier_hash",
    "evaluate_model",
    "expire_if_due",
    "failed_gate",
    "gate_as_of",
    "gate_for",
    "mark_stale_decisions",
    "on_audit_outcome_changed",
    "on_evidence_changed",
    "on_policy_activated",
    "pause",
    "recompute",
    "recompute_all",
    "record_precaution",
    "record_safeguard",
    "request_decision",
    "sign_decision",
    "stored_gate",
    "stored_gate_body",
    "stored_gate_from_row",
    "stored_gate_rider",
]
