"""The refusals of governance services (shaped by the one API exception handler)."""

from __future__ import annotations

from rsp_portal.errors import ServiceError


class GovernanceError(ServiceError):
    """A refused governance action, with a message for the person who tried it."""


class ConflictError(GovernanceError):
    """The action conflicts with the current state (answered with 409)."""

    status_code = 409
