"""What the evidence app answers on the event path (``core.events``, ADR 0021)."""

from __future__ import annotations

from core.events import SEED_DEMO, subscribe
from evaluations.demo import seed_demo
from evaluations.services import rebuild_summaries
from policies.services import POLICY_ACTIVATED


def connect(summary_order: int, demo_order: int) -> None:
    subscribe(POLICY_ACTIVATED, rebuild_summaries, order=summary_order)
    subscribe(SEED_DEMO, seed_demo, order=demo_order)
