"""Django's PostgreSQL backend, whose per-request health check reads no reply (ADR 0057).

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before a request's first
query by sending ``SELECT 1`` and waiting for the answer: one round trip on every request, the
cheapest read included. Here the check first asks the operating system whether the idle
connection's socket has anything to read. It has not, unless the server spoke unasked: it
closed the connection or is closing it (a restart, ``pg_terminate_backend``, an idle timeout,
a pooler hanging up), or it sent a notice. Only then does Django's own check run, and its
answer decides. So does every case this check does not know: errors since the last commit, a
connection inside a transaction, a closed or unknown one.

A connection whose peer vanished without a word (a host gone, a cable cut) gives nothing to
read; Django's ``SELECT 1`` would not tell either, it would wait for TCP to give up.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base

#: libpq's ``PQTRANS_IDLE``: no transaction open, as psycopg2 and psycopg 3 both report it.
_IDLE = 0


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if (
            raw is None
            or raw.closed
            or self.errors_occurred
            or raw.info.transaction_status != _IDLE
            or _has_input(raw.fileno())
        ):
            return bool(super().is_usable())
        return True


def _has_input(fd: int) -> bool:
    """Whether ``fd`` is readable, hung up or in error now (``poll`` with no wait)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
