"""Appending to the audit trail. Every app records its writes through ``record``.

Usage, inside the transaction of the write being recorded::

    with transaction.atomic():
        result = EvalResult.objects.create(...)
        audit.record("result.create", result, {"model": slug, "value": "0.41"}, actor=user)

``record`` must run inside ``transaction.atomic()``: the entry commits or rolls back with the
write it describes. It locks the one-row log head, so take it last, after any other row locks,
and keep the transaction short (no network I/O while it is held).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import json
import math
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from audit.models import AuditEntry, LogHead
from audit.verify_bundle import BODY_VERSION, canonical_json, rfc3339_utc
from rsp_portal import prepared
from rsp_portal.rows import Carried, LockedRows

if TYPE_CHECKING:
    from rsp_portal.types import Actor


SYSTEM_ACTOR = "system"


#: What an entry is about: a model instance, or a ``(type, id)`` pair for anything else.
AuditObject: TypeAlias = "models.Model | tuple[str, object]"


class AuditError(RuntimeError):
    """The audit trail could not be appended to; the caller's transaction must not commit."""


def json_safe(value: Any, path: str = "data") -> Any:
    """Plain JSON for the canonical body: no floats (they are written as decimal strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(f"{path}: non-finite number {value!r} cannot be audited")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v, f"{path}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, models.Model):
        return str(value.pk)
    raise AuditError(f"{path}: cannot audit a value of type {type(value).__name__}")


def describe_actor(actor: Actor, via: str | None = None) -> dict[str, Any]:
    """The actor as stored in the body: a user (with roles) or a named system process."""
    if actor is None or isinstance(actor, str):
        return {"system": actor or SYSTEM_ACTOR}
    described: dict[str, Any] = {
        "id": actor.pk,
        "username": actor.get_username(),
        "roles": sorted(getattr(actor, "roles", ())),
    }
    if via:
        described["via"] = via
    return described


def describe_object(obj: AuditObject) -> dict[str, str]:
    """``{"type": "app.model", "id": "..."}`` for a model instance or a ``(type, id)`` pair.

    A model that moved between apps keeps its old type in ``AUDIT_TYPE``, so its history stays
    under one name."""
    if isinstance(obj, models.Model):
        return {"type": getattr(obj, "AUDIT_TYPE", obj._meta.label_lower), "id": str(obj.pk)}
    object_type, object_id = obj
    return {"type": str(object_type), "id": str(object_id)}


def _actor_label(actor: dict[str, Any]) -> str:
    return str(actor.get("username") or f"system:{actor.get('system', SYSTEM_ACTOR)}")[:150]


def record(
    action: str,
    obj: AuditObject,
    data: Mapping[str, object] | None = None,
    actor: Actor = None,
    *,
    via: str | None = None,
) -> AuditEntry:
    """Append one entry describing ``action`` on ``obj`` in the caller's transaction.

    ``actor`` is a user, or None / a string for a system process (e.g. ``"worker"``); ``via``
    names how a user acted (``"token:<key_id>"``). ``data`` must be JSON-like; floats are stored
    as decimal strings and non-finite numbers are refused. If ``data`` has a ``"model"`` key
    (an AI model slug), the entry is findable by model on the timeline.

    Inside :func:`batch` the entry is prepared now and appended when the batch closes (the
    returned instance gets its ``seq`` and hash then); otherwise it is appended at once.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit.record() must be called inside transaction.atomic()")
    entry = _prepare(action, obj, data, actor, via)
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.append(entry)
    else:
        _append([entry])
    return entry.instance


class _Prepared:
    """An entry encoded up to what only the log head can give (seq, prev, ts)."""

    __slots__ = ("action", "actor_json", "columns", "data_json", "instance", "object_json")

    def __init__(self, action: str, actor: dict[str, Any], obj: dict[str, str], data: Any) -> None:
        self.action = action
        self.actor_json = canonical_json(actor).decode()
        self.object_json = canonical_json(obj).decode()
        self.data_json = canonical_json(data).decode()
        model = data.get("model", "") if isinstance(data, Mapping) else ""
        self.columns = {
            "actor": _actor_label(actor),
            "action": action,
            "object_type": str(obj["type"]),
            "object_id": str(obj["id"]),
            "model_slug": str(model)[:100],
        }
        self.instance = AuditEntry()


def _prepare(
    action: str, obj: AuditObject, data: Mapping[str, object] | None, actor: Actor, via: str | None
) -> _Prepared:
    if not isinstance(action, str) or not action:
        raise AuditError("action must be a non-empty str")
    try:
        return _Prepared(
            action, describe_actor(actor, via), describe_object(obj), json_safe(dict(data or {}))
        )
    except (TypeError, ValueError) as exc:
        raise AuditError(str(exc)) from exc


def assemble_body(entry: _Prepared, *, origin_json: str, seq: int, prev: str, ts: str) -> bytes:
    """The canonical body of ``entry`` at ``seq``: the bytes ``entry_body`` gives, assembled
    from the pieces encoded when the entry was prepared (canonical JSON nests: a sorted-key
    object is its sorted members' encodings joined). A test holds it equal to ``entry_body``.
    """
    return body_prefix(entry, origin_json) + _body_suffix(prev, seq, ts)


def body_prefix(entry: _Prepared, origin_json: str) -> bytes:
    """The body's members before ``prev``: all that is known before the log head is read.
    PostgreSQL appends the rest under the head's lock (``audit_append``, ADR 0057)."""
    return (
        f'{{"action":{_json_str(entry.action)},"actor":{entry.actor_json},'
        f'"data":{entry.data_json},"object":{entry.object_json},"origin":{origin_json},'
    ).encode()


def _body_suffix(prev: str, seq: int, ts: str) -> bytes:
    """The body's members from ``prev`` on: what only the log head gives."""
    return f'"prev":"{prev}","seq":{seq},"ts":"{ts}","v":{BODY_VERSION}}}'.encode()


def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _append(entries: list[_Prepared], carried: Carried | None = None) -> None:
    """Chain ``entries`` after the log head, insert them and advance the head, under the
    head's lock (held to commit, so callers prepare everything, the gate included, before the
    append and commit right after it). ``carried`` runs first: in the append's statement on
    PostgreSQL (ADR 0058), else on its own."""
    if carried is not None and (not entries or connection.vendor != "postgresql"):
        carried.run()
        carried = None
    if not entries:
        return
    origin_json = _json_str(settings.AUDIT_ORIGIN)
    if connection.vendor == "postgresql":
        _append_in_database(entries, origin_json, carried)
        return
    prefixes = [body_prefix(entry, origin_json) for entry in entries]
    head = _locked_head()
    now = timezone.now()
    _chain(entries, prefixes, head.size, head.head_hash, now, rfc3339_utc(now), None)
    rows = [entry.instance for entry in entries]
    # One UPDATE for the batch: the head's guard trigger accepts it only onto the entries
    # just inserted (they continue the old head, none is missing, the hash is the last one's).
    head.size = rows[-1].seq + 1
    head.head_hash = rows[-1].leaf_hash
    AuditEntry.objects.bulk_create(rows)
    head.save(update_fields=["size", "head_hash"])


def _chain(
    entries: list[_Prepared],
    prefixes: list[bytes],
    seq: int,
    prev: str,
    now: dt.datetime,
    ts: str,
    hashes: list[str] | None,
) -> None:
    """Give each entry's instance its place after ``seq``/``prev``: its body (its prefix, as
    ``body_prefix`` gave it, and the members from ``prev`` on), and its leaf hash (computed
    here, or the ``hashes`` the database computed). ``ts`` is ``now`` in RFC 3339."""
    for index, (entry, prefix) in enumerate(zip(entries, prefixes, strict=True)):
        body = prefix + _body_suffix(prev, seq, ts)
        row = entry.instance
        row.seq = seq
        row.prev = prev
        row.leaf_hash = (
            hashlib.sha256(b"\x00" + body).hexdigest()  # leaf_hash, RFC 6962
            if hashes is None
            else hashes[index]
        )
        row.body = body
        row.ts = now
        for name, value in entry.columns.items():
            setattr(row, name, value)
        seq += 1
        prev = row.leaf_hash


def _append_in_database(
    entries: list[_Prepared], origin_json: str, carried: Carried | None = None
) -> None:
    """PostgreSQL: the head's read, the chain, the entries' INSERT and the head's advance in
    one statement (``audit_append``, migration ``audit.0010``, ADR 0057), so the head's lock
    is taken and held for no round trip of this process before its commit. The database
    appends to each body its members from ``prev`` on and hashes it; the instances are then
    filled in as the rows were stored. The time is taken before the head's lock, not under it
    as SQLite's writer takes it: concurrent writers' entries may be out of time order by their
    wait for the lock, and ``seq`` is the order.

    ``carried`` (an Idempotency-Key's row) runs in the same statement, before the append: the
    call's arguments depend on its result (``LATERAL``), so it has run, and waited for any
    concurrent insert of the same key, before the head is locked (ADR 0058)."""
    columns = [entry.columns for entry in entries]
    prefixes = [body_prefix(entry, origin_json) for entry in entries]
    # The writer's time, as the rest of the application takes it, just before the append.
    now = timezone.now()
    ts = rfc3339_utc(now)
    args: list[list[bytes] | list[str]] = [
        prefixes,
        *([c[name] for c in columns] for name in _FILTER_COLUMNS),
    ]
    sql = _APPEND_SQL if carried is None else _carrying_append_sql(carried.sql)
    params = [*(carried.params if carried is not None else ()), *args, BODY_VERSION, now, ts]
    with connection.cursor() as cursor:
        # Planned once per connection (rsp_portal.prepared), but for a carried shape per call.
        prepared.execute(cursor, sql, params, prepare=carried is None or carried.prepare)
        seq, prev, hashes, keys = cursor.fetchone()
    if carried is not None:
        carried.keys = list(keys or ())
    _chain(entries, prefixes, seq, prev, now, ts, hashes)
    for entry in entries:
        entry.instance._state.adding = False  # stored: a later save() is refused


# The append's statement; the NULL stands for the keys a carried statement would return.
_APPEND_SQL = (
    "SELECT first_seq, first_prev, hashes, NULL "
    "FROM audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


@functools.lru_cache(maxsize=16)
def _carrying_append_sql(carried: str) -> str:
    """The append's statement carrying ``carried`` (an INSERT returning ``carried_key``).
    The version argument is written to depend on ``got``: PostgreSQL then calls the function
    for ``got``'s row, after the carried statement ran to its end, whatever plan it picks."""
    return (
        f"WITH carried AS ({carried}), "  # noqa: S608 (a statement built from _meta)
        "got AS (SELECT array_agg(carried_key ORDER BY carried_key) AS keys, "
        "COUNT(*) AS n FROM carried) "
        "SELECT a.first_seq, a.first_prev, a.hashes, got.keys FROM got CROSS JOIN LATERAL "
        "audit_append(%s, %s, %s, %s, %s, %s, (%s + 0 * got.n)::integer, %s, %s) a"
    )


_FILTER_COLUMNS = ("actor", "action", "object_type", "object_id", "model_slug")


class Carrier:
    """What :func:`batch` yields when it appends on leaving: a statement for its append to
    carry (:meth:`carry`), run before the append and in its statement on PostgreSQL (ADR
    0058)."""

    def __init__(self) -> None:
        self.carried: Carried | None = None

    def carry(self, carried: Carried) -> None:
        """Run ``carried`` with the batch's append (its ``keys`` set once the batch left)."""
        if self.carried is not None:
            raise ValueError("a batch carries one statement")
        self.carried = carried


@contextmanager
def batch() -> Iterator[Carrier | None]:
    """Prepare the entries recorded inside, and append them together on leaving.

    Use inside the write's ``transaction.atomic()``, around the work whose entries it should
    gather (``with transaction.atomic(), audit.batch():``): the log-head lock is then taken
    only for the append, after the work (a gate recomputation, say) is done, and held for the
    short rest of the transaction. Nested batches join the outermost one. On an exception
    nothing is appended (the transaction rolls back anyway).

    Yields a :class:`Carrier`, or None from a nested batch (the outermost one appends).
    """
    if getattr(_local, "pending", None) is not None:
        yield None
        return
    _local.pending = []
    carrier = Carrier()
    try:
        yield carrier
        pending, _local.pending = _local.pending, None
        _append(pending, carrier.carried)
    finally:
        _local.pending = None


_local = threading.local()


def filter_columns(body: Mapping[str, Any]) -> dict[str, Any]:
    """The columns an entry stores beside its body, derived from the body alone.

    ``record`` writes them and ``verify_audit`` recomputes them, so a column edited to hide an
    entry from a filter is detected. ``ts`` is the body's RFC 3339 text here.
    """
    data = body.get("data")
    model = data.get("model", "") if isinstance(data, Mapping) else ""
    return {
        "prev": body["prev"],
        "ts": body["ts"],
        "actor": _actor_label(body["actor"]),
        "action": body["action"],
        "object_type": str(body["object"]["type"]),
        "object_id": str(body["object"]["id"]),
        "model_slug": str(model)[:100],
    }


# The head's locking read (``select_for_update(no_key=True)``), built once (rsp_portal.rows).
_HEAD = LockedRows(LogHead, "pk", "pk", no_key=True)


def _locked_head() -> LogHead:
    """The head row, locked until commit (created on first use, e.g. after a test flush)."""
    found = _HEAD.fetch([1])
    if found:
        return found[0]
    try:
        with transaction.atomic():
            LogHead.objects.create(pk=1)
    except IntegrityError:
        pass  # another writer created it first
    return LogHead.objects.select_for_update(no_key=True).get(pk=1)
