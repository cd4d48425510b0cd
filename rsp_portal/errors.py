"""The one service-error type: a refusal by a service, with the fields it concerns.

Services raise a :class:`ServiceError` (or a subclass naming its status: 409 for a conflict
with the stored state, 413 for input over a size limit); forms show ``message_dict`` as it is,
and the API's one exception handler (``rsp_portal.api.exception_handler``) answers
``{"errors": {field: [messages]}}`` with the error's ``status_code``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ServiceError(ValidationError):
    """Refused input; ``message_dict`` maps each offending field to its messages."""

    status_code = 400


class ConflictError(ServiceError):
    """The request conflicts with the stored state (409)."""

    status_code = 409


class TooLargeError(ServiceError):
    """The input exceeds a size limit (413)."""

    status_code = 413
