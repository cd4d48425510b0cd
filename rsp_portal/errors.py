"""The one error family of the services (ADR 0021): a refusal with the fields it concerns and a
machine-readable ``code``.

Services raise a :class:`ServiceError` or one of its subclasses, each naming its HTTP status
and its ``code``: :class:`ConflictError` (409: conflicts with the stored state),
:class:`NotFoundError` (404: the object named does not exist),
:class:`TooLargeError` (413). Forms and pages show ``message_dict`` (or :attr:`text`) as it
is; the API's one exception handler (``rsp_portal.api.exception_handler``) answers
``{"errors": {field: [messages]}, "code": code}`` with the error's ``status_code``. No view
maps an error to a status by hand.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ServiceError(ValidationError):
    """Refused input; ``message_dict`` maps each offending field to its messages."""

    status_code = 400
    #: Stable, machine-readable: clients branch on it, never on the words.
    code = "invalid"

    @property
    def text(self) -> str:
        """The messages as one sentence for a page or a console."""
        return " ".join(str(m) for m in self.messages)


class ConflictError(ServiceError):
    """The request conflicts with the stored state (409)."""

    status_code = 409
    code = "conflict"


class NotFoundError(ServiceError):
    """The object the request names (in its path or query) does not exist (404)."""

    status_code = 404
    code = "not_found"


class TooLargeError(ServiceError):
    """The input exceeds a size limit (413)."""

    status_code = 413
    code = "too_large"
