"""Fixed statements that PostgreSQL plans once per connection (``PREPARE`` / ``EXECUTE``).

The hot paths run a few fixed statements built once from ``_meta`` (``rsp_portal.rows``).
PostgreSQL still planned each one on every request. For the bearer token's statement, planning
took about 0.35 ms against 0.1 ms of execution (``BENCHMARKS.md``, round four). Here such a
statement is prepared the first time a connection runs it. ``PREPARE`` and the first
``EXECUTE`` go in one round trip, so a request still sends one statement. Later runs on that
connection send only ``EXECUTE``.

- **A new connection starts with nothing prepared.** Django reconnects after
  ``CONN_MAX_AGE`` or an error, and the record of what is prepared belongs to the raw connection
  object, so it goes with it.
- **A prepared statement outlives a rolled-back transaction.** It lasts for the session.
- **Other databases (SQLite) run the statement as it is.**
- **A pooler in transaction mode is not supported.** PgBouncer in that mode hands each
  transaction a different server session, and the portal connects to PostgreSQL directly
  (``docs/adr/0049-prepared-hot-statements.md``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from django.db.backends.utils import CursorWrapper

_PLACEHOLDER = re.compile(r"%s")
#: Statement text -> (its name, its body with $n placeholders, the parameter count).
_STATEMENTS: dict[str, tuple[str, str, int]] = {}
_NAMES = itertools.count(1)


def _statement(sql: str) -> tuple[str, str, int]:
    found = _STATEMENTS.get(sql)
    if found is None:
        numbers = itertools.count(1)
        body = _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)
        # dict.setdefault: two threads that prepare the same text at once agree on one name.
        found = _STATEMENTS.setdefault(sql, (f"rsp_hot_{next(_NAMES)}", body, next(numbers) - 1))
    return found


def execute(cursor: CursorWrapper, sql: str, params: Sequence[Any]) -> None:
    """Run ``sql`` (``%s`` placeholders, ``%%`` for a literal ``%``) with ``params`` on
    ``cursor``, prepared on this connection on PostgreSQL; fetch from ``cursor`` as usual."""
    wrapper = cursor.db
    if wrapper.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    name, body, count = _statement(sql)
    if len(params) != count:
        raise ValueError(f"{name} takes {count} parameters, not {len(params)}")
    raw = wrapper.connection
    prepared: set[str] | None = None
    held = getattr(wrapper, "_rsp_prepared", None)
    if held is not None and held[0] is raw:
        prepared = held[1]
    run = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
    if prepared is not None and name in prepared:
        cursor.execute(run, params)
        return
    cursor.execute(f"PREPARE {name} AS {body}; {run}", params)
    if prepared is None:
        prepared = set()
        wrapper._rsp_prepared = (raw, prepared)
    prepared.add(name)
