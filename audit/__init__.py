"""The audit trail. Other apps call ``audit.record(action, obj, data, actor)`` (see services)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.models import AuditEntry
    from audit.services import AuditObject, Carrier
    from rsp_portal.types import Actor


def record(
    action: str,
    obj: AuditObject,
    data: Mapping[str, object] | None = None,
    actor: Actor = None,
    *,
    via: str | None = None,
) -> AuditEntry:
    """Append an audit entry in the caller's transaction; see ``audit.services.record``."""
    from audit.services import record as _record

    return _record(action, obj, data, actor, via=via)


def batch() -> AbstractContextManager[Carrier | None]:
    """Gather the entries recorded inside and append them together; see ``audit.services``."""
    from audit.services import batch as _batch

    return _batch()
