"""What the audit app answers on the event path (``core.events``, ADR 0021)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, cast

from audit.dbguard import register_sqlite_functions
from audit.services import AuditObject, record
from audit.verification import run_verification
from core import events

if TYPE_CHECKING:
    from rsp_portal.types import Actor

__all__ = ["connect", "register_sqlite_functions"]


def on_record(fact: events.Record, actor: Actor) -> None:
    """Append core's fact to the trail in the write's transaction."""
    record(fact.action, cast(AuditObject, fact.obj), fact.data, actor, via=fact.via)


def verify_for_demo(stdout: TextIO, actor: Actor) -> None:
    """The beat's quick verification, run while seeding; a trail that fails it stops the seed
    (gates would pause every demo model)."""
    outcome, _ = run_verification("manage.py seed_demo", quick=True)
    if not outcome.ok:
        raise DemoTrailError(
            f"The audit trail failed verification: {outcome.message} (see `manage.py "
            "verify_audit`; a checkpoint log or keys left from another database fail here)."
        )


class DemoTrailError(RuntimeError):
    """The demo cannot be seeded on a trail that fails verification."""


@functools.cache
def _demo_verifier(order: int) -> Callable[[TextIO, Actor], None]:
    """One handler per place in the seed (the same object each time: ``subscribe`` is
    idempotent per handler and refuses two handlers at one order)."""

    def verify(stdout: TextIO, actor: Actor) -> None:
        verify_for_demo(stdout, actor)

    verify.__qualname__ = f"verify_for_demo@{order}"
    return verify


def connect(record_order: int, demo_orders: tuple[int, ...]) -> None:
    events.subscribe(events.RECORD, on_record, order=record_order)
    for order in demo_orders:
        events.subscribe(events.SEED_DEMO, _demo_verifier(order), order=order)
