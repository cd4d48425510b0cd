"""Statements PostgreSQL plans once per connection (``PREPARE``) and then runs by name.

The gate's two reads (the governance state and the evidence, each one long ``UNION ALL``) run
on every recomputation, and the bearer token's (with the stored gate's row on the gate's read)
on every API request; PostgreSQL spent longer planning them than running them (ADR 0047). A
:class:`Prepared` statement is sent as ``PREPARE name AS …; EXECUTE name (…)`` the first time
a connection runs it (one round trip, as the plain statement) and as ``EXECUTE name (…)``
after that, so it is planned once per connection instead of once per use.

- A session's prepared statements are remembered against its DB-API connection object: a
  new connection (``CONN_MAX_AGE``, a failed health check, a test's reconnect) starts with
  none and prepares again.
- ``PREPARE`` is not transactional: a statement prepared in a transaction that rolls back
  stays prepared. After any error while running one, whether its name exists on the session
  is unknown, so its next use prepares it again under a new name; nothing is left to fail
  twice.
- Prepare only statements whose parameters are compared by equality (a key, a status).
  After five runs PostgreSQL keeps a generic plan, which estimates a range (``id > $1``) at
  a third of the table: the write's read of the rows above the watermark, prepared, scanned
  the results table (ADR 0047) and is left unprepared.
- A generic plan lasts until its tables are analyzed again. Made on the statistics of an empty
  table, a unique-key lookup is kept as a sequential scan as the table grows; autovacuum
  (PostgreSQL's default) analyzes a growing table and the plan follows (ADR 0059).
- Anything but PostgreSQL (SQLite) runs the plain statement, and so does PostgreSQL with
  ``DATABASE_PREPARED_STATEMENTS`` off (a pooler that hands one client several sessions, or
  several clients one, would lose or share the names).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import weakref
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db.backends.utils import CursorWrapper

_PLACEHOLDER = re.compile(r"%%|%s")

#: A statement's parameter, as the database adapter takes it (a list is sent as an array).
Param = (
    bool
    | int
    | float
    | Decimal
    | str
    | bytes
    | date
    | datetime
    | UUID
    | list[bytes]
    | list[str]
    | None
)

#: Names prepared on each session: DB-API connection -> statement digest -> name.
_sessions: weakref.WeakKeyDictionary[object, dict[str, str]] = weakref.WeakKeyDictionary()
_serial = itertools.count(1)


class Prepared:
    """One statement (``%s`` placeholders, ``%%`` for a literal ``%``), prepared per
    connection on PostgreSQL and run by name; elsewhere run as it is."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.digest = hashlib.sha256(sql.encode()).hexdigest()[:16]
        numbers = itertools.count(1)
        # ``$1, $2…`` in order; ``%%`` stays escaped (the text is sent with parameters).
        self.body = _PLACEHOLDER.sub(
            lambda m: "%%" if m.group() == "%%" else f"${next(numbers)}", sql
        )
        self.arity = next(numbers) - 1

    def execute(self, cursor: CursorWrapper, params: Sequence[Param]) -> None:
        """Run the statement on ``cursor`` (read its rows from the cursor, as after
        ``cursor.execute``)."""
        if (
            cursor.db.vendor != "postgresql"
            or not settings.DATABASE_PREPARED_STATEMENTS
            or not params
            or len(params) != self.arity
        ):
            cursor.execute(self.sql, params)
            return
        session = _sessions.setdefault(cursor.db.connection, {})
        # Unknown until it runs: an error leaves the name out, and the next use prepares
        # the statement again under a new one.
        name = session.pop(self.digest, None)
        args = ", ".join("%s" for _ in params)
        if name is None:
            name = f"rsp_{self.digest}_{next(_serial)}"
            text = f"PREPARE {name} AS {self.body};\nEXECUTE {name} ({args})"
        else:
            text = f"EXECUTE {name} ({args})"
        cursor.execute(text, params)
        session[self.digest] = name


_BY_TEXT: dict[str, Prepared] = {}
#: Distinct statements kept; callers prepare only fixed shapes (one model), so a few.
_MAX_STATEMENTS = 32


def statement(sql: str) -> Prepared:
    """The :class:`Prepared` statement of ``sql``, built once per text."""
    found = _BY_TEXT.get(sql)
    if found is None:
        if len(_BY_TEXT) >= _MAX_STATEMENTS:
            _BY_TEXT.clear()
        found = _BY_TEXT[sql] = Prepared(sql)
    return found


def execute(
    cursor: CursorWrapper, sql: str, params: Sequence[Param], *, prepare: bool = True
) -> None:
    """Run ``sql`` on ``cursor``: as its :class:`Prepared` statement, or as it is when not
    ``prepare`` (a text with a shape per call, a row count say, is not worth a name)."""
    if prepare:
        statement(sql).execute(cursor, params)
    else:
        cursor.execute(sql, params)


_EXECUTE = re.compile(r"EXECUTE rsp_([0-9a-f]{16})_[0-9]+ \(")


def source(sql: str) -> str:
    """The statement an ``EXECUTE`` of a prepared statement runs (its text as given, ``%s``
    placeholders), for a reader of captured queries; any other text as it is."""
    found = _EXECUTE.match(sql)
    if found is not None:
        for statement in _BY_TEXT.values():
            if statement.digest == found.group(1):
                return statement.sql
    return sql
