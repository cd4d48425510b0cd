"""What governance answers on the event path (``core.events``, ADR 0021): the gate recomputes
inside the transaction of every write that can change it (after result writes, a worker does:
ADR 0052); notices become notifications; the
evidence pages ask it for the gate."""

from __future__ import annotations

from audit.reconcile import STORED_VERDICT_FAULT
from audit.verification import OUTCOME_CHANGED
from core import outbox
from core.events import NOTIFY, SEED_DEMO, answer, subscribe
from evaluations.services import EVIDENCE_CHANGED, GATE_OF
from evaluations.views import GATE_PANEL
from governance.demo import seed_demo
from governance.gatemac import first_unverified
from governance.notifications import on_notice
from governance.services.gates import gate_for
from governance.services.hooks import (
    SETTLE_TASK,
    on_audit_outcome_changed,
    on_evidence_event,
    on_policy_activated,
    settle_delay,
)
from governance.views import gate_panel_context
from policies.services import POLICY_ACTIVATED


def connect(gate_order: int, notify_order: int, demo_order: int) -> None:
    subscribe(EVIDENCE_CHANGED, on_evidence_event, order=gate_order)
    outbox.send_after(SETTLE_TASK, settle_delay)  # a burst of result writes, one recomputation
    subscribe(POLICY_ACTIVATED, on_policy_activated, order=gate_order)
    subscribe(OUTCOME_CHANGED, on_audit_outcome_changed, order=gate_order)
    subscribe(NOTIFY, on_notice, order=notify_order)
    subscribe(SEED_DEMO, seed_demo, order=demo_order)
    answer(GATE_OF, gate_for)
    answer(GATE_PANEL, gate_panel_context)
    answer(STORED_VERDICT_FAULT, first_unverified)
