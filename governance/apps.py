from __future__ import annotations

from django.apps import AppConfig

#: Where governance's handlers run among each event's handlers (``core.events``): the
#: evidence summary (order 10, ``evaluations.apps``) is rebuilt before the gate reads it.
GATE_ORDER = 20
NOTIFY_ORDER = 10
#: Governance's demo data is seeded last of the apps (it needs policies and evidence).
DEMO_ORDER = 40


class GovernanceConfig(AppConfig):
    """The verdict: scaling gate, safeguards, decisions, pauses."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        # ADR 0021: one typed event path; handlers run in the emitter's transaction.
        from governance import wiring

        wiring.connect(GATE_ORDER, NOTIFY_ORDER, DEMO_ORDER)
