from __future__ import annotations

from django.apps import AppConfig

#: Where governance's handlers run among each event's handlers (``core.events``): the
#: evidence summary (order 10, ``evaluations.apps``) is rebuilt before the gate reads it.
GATE_ORDER = 20
NOTIFY_ORDER = 10


class GovernanceConfig(AppConfig):
    """The verdict: scaling gate, safeguards, decisions, pauses."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        # The gate is recomputed inside the transaction of every write that can change it
        # (ADR 0021: one typed event path, handlers run in the emitter's transaction).
        from audit.verification import OUTCOME_CHANGED
        from core.events import NOTIFY, answer, subscribe
        from evaluations.services import EVIDENCE_CHANGED, GATE_OF
        from evaluations.views import GATE_PANEL
        from governance.notifications import on_notice
        from governance.services.gates import gate_for
        from governance.services.hooks import (
            on_audit_outcome_changed,
            on_evidence_event,
            on_policy_activated,
        )
        from governance.views import gate_panel_context
        from policies.services import POLICY_ACTIVATED

        subscribe(EVIDENCE_CHANGED, on_evidence_event, order=GATE_ORDER)
        subscribe(POLICY_ACTIVATED, on_policy_activated, order=GATE_ORDER)
        subscribe(OUTCOME_CHANGED, on_audit_outcome_changed, order=GATE_ORDER)
        subscribe(NOTIFY, on_notice, order=NOTIFY_ORDER)
        answer(GATE_OF, gate_for)
        answer(GATE_PANEL, gate_panel_context)
