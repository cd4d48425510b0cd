"""Work that follows a transaction: run after it commits, never inside it.

A write that owes follow-up work (a result write owes its gate: ADR 0045) registers it with
:func:`follow_up`. Inside :func:`atomic_then`, the work waits until that block's transaction
has committed and then runs, in order, before the block returns; anywhere else it runs at
once (inside whatever transaction the caller holds, as a plain nested write would). So a
caller that wraps a write in its own transaction (``rsp_portal.idempotency``) does not hold
its locks through the follow-up, and a test, whose own transaction never commits, sees the
same order of work as production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("followups", default=None)


def follow_up(work: Callable[[], None]) -> None:
    """Run ``work`` after the enclosing :func:`atomic_then` block commits, or now."""
    pending = _pending.get()
    if pending is None:
        work()
    else:
        pending.append(work)


@contextmanager
def atomic_then() -> Iterator[None]:
    """``transaction.atomic()``, then the work registered inside it (none if it rolled back)."""
    pending: list[Callable[[], None]] = []
    token = _pending.set(pending)
    try:
        with transaction.atomic():
            yield
    finally:
        _pending.reset(token)
    for work in pending:
        work()
