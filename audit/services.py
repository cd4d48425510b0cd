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
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from audit.models import AuditEntry, LogHead
from audit.verify_bundle import entry_body, leaf_hash, rfc3339_utc

SYSTEM_ACTOR = "system"


class AuditError(RuntimeError):
    """The audit trail could not be appended to; the caller's transaction must not commit."""


def _json_safe(value: Any, path: str = "data") -> Any:
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
        return {str(k): _json_safe(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_json_safe(v, f"{path}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, models.Model):
        return str(value.pk)
    raise AuditError(f"{path}: cannot audit a value of type {type(value).__name__}")


def describe_actor(actor: Any, via: str | None = None) -> dict[str, Any]:
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


def describe_object(obj: Any) -> dict[str, str]:
    """``{"type": "app.model", "id": "..."}`` for a model instance or a ``(type, id)`` pair."""
    if isinstance(obj, models.Model):
        return {"type": obj._meta.label_lower, "id": str(obj.pk)}
    object_type, object_id = obj
    return {"type": str(object_type), "id": str(object_id)}


def _actor_label(actor: dict[str, Any]) -> str:
    return str(actor.get("username") or f"system:{actor.get('system', SYSTEM_ACTOR)}")[:150]


def record(
    action: str,
    obj: Any,
    data: Mapping[str, Any] | None = None,
    actor: Any = None,
    *,
    via: str | None = None,
) -> AuditEntry:
    """Append one entry describing ``action`` on ``obj`` in the caller's transaction.

    ``actor`` is a user, or None / a string for a system process (e.g. ``"worker"``); ``via``
    names how a user acted (``"token:<key_id>"``). ``data`` must be JSON-like; floats are stored
    as decimal strings and non-finite numbers are refused. If ``data`` has a ``"model"`` key
    (an AI model slug), the entry is findable by model on the timeline.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit.record() must be called inside transaction.atomic()")
    safe_data = _json_safe(dict(data or {}))
    actor_desc = describe_actor(actor, via)
    object_desc = describe_object(obj)
    head = _locked_head()
    now = timezone.now()
    body = entry_body(
        origin=settings.AUDIT_ORIGIN,
        seq=head.size,
        prev=bytes.fromhex(head.head_hash),
        ts=rfc3339_utc(now),
        actor=actor_desc,
        action=action,
        obj=object_desc,
        data=safe_data,
    )
    digest = leaf_hash(body).hex()
    columns = filter_columns(json.loads(body))
    columns["ts"] = now
    entry = AuditEntry.objects.create(seq=head.size, leaf_hash=digest, body=body, **columns)
    head.size += 1
    head.head_hash = digest
    head.save(update_fields=["size", "head_hash"])
    return entry


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


def _locked_head() -> LogHead:
    """The head row, locked until commit (created on first use, e.g. after a test flush)."""
    head = LogHead.objects.select_for_update(no_key=True).filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            LogHead.objects.create(pk=1)
    except IntegrityError:
        pass  # another writer created it first
    return LogHead.objects.select_for_update(no_key=True).get(pk=1)
