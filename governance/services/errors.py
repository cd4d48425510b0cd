"""The refusals of governance services (shaped by the one API exception handler)."""

from __future__ import annotations

from rsp_portal.errors import ConflictError, ServiceError

__all__ = ["ConflictError", "GovernanceError"]


class GovernanceError(ServiceError):
    """A refused governance action, with a message for the person who tried it."""
