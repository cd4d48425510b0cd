"""What the audit app answers on the event path (``core.events``, ADR 0021)."""

from __future__ import annotations

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


def verify_after_demo(stdout: TextIO, actor: Actor) -> None:
    """Gates trust the trail only after a verification (the worker repeats it every minute)."""
    run_verification("manage.py seed_demo", quick=True)


def connect(record_order: int, demo_order: int) -> None:
    events.subscribe(events.RECORD, on_record, order=record_order)
    events.subscribe(events.SEED_DEMO, verify_after_demo, order=demo_order)
