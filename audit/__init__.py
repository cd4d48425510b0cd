"""The audit trail. Other apps call ``audit.record(action, obj, data, actor)`` (see services)."""

from typing import Any


def record(action: str, obj: Any, data: Any = None, actor: Any = None, **kwargs: Any) -> Any:
    """Append an audit entry in the caller's transaction; see ``audit.services.record``."""
    from audit.services import record as _record

    return _record(action, obj, data, actor, **kwargs)


def batch() -> Any:
    """Gather the entries recorded inside and append them together; see ``audit.services``."""
    from audit.services import batch as _batch

    return _batch()
