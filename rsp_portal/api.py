"""Shared REST API pieces: the error format and pagination (the parser: rsp_portal.parsers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from rsp_portal.parsers import PayloadTooLarge

__all__ = ["PayloadTooLarge", "TextField", "exception_handler", "via_for"]


def via_for(request: Any) -> str:
    """How a request acted, for the audit trail: ``token:<key_id>`` or ``session``."""
    key_id = getattr(request.auth, "key_id", None)
    return f"token:{key_id}" if key_id else "session"


class TextField(serializers.CharField):
    """A string field that takes only JSON strings: DRF's CharField turns ``7`` into ``"7"``,
    which would let a client store what it never sent as text."""

    default_error_messages = {"not_text": "Must be text (a JSON string)."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return str(super().to_internal_value(data))


class StrictPageSize:
    """``page_size`` from 1 to ``max_page_size``; anything else is a 400 naming it (DRF would
    silently fall back to the default, answering a request the schema refuses)."""

    page_size: int | None
    page_size_query_param: str | None = "page_size"
    page_query_param = "page"
    max_page_size: int | None

    def get_page_size(self, request: Request) -> int | None:
        name, most = self.page_size_query_param or "page_size", self.max_page_size or 1
        raw = request.query_params.getlist(name)
        if not raw:
            return self.page_size
        try:
            size = int(raw[0]) if len(raw) == 1 else 0
        except ValueError:
            size = 0
        if not 1 <= size <= most:
            message = f"Must be one whole number from 1 to {most}."
            raise exceptions.ValidationError({name: [message]})
        return size

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, object]]:
        parameters: list[dict[str, object]] = super().get_schema_operation_parameters(view)  # type: ignore[misc]
        for parameter in parameters:
            schema = parameter["schema"]
            if not isinstance(schema, dict):
                continue
            if parameter["name"] == self.page_size_query_param:
                schema.update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.page_query_param:
                schema.update(minimum=1)
        return parameters


class Pagination(StrictPageSize, pagination.PageNumberPagination):
    page_size = 50
    max_page_size = 500


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The database is unreachable; try again shortly."
    default_code = "service_unavailable"


#: Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 30


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (not that a query was wrong)."""
    return isinstance(exc, OperationalError | InterfaceError)


_DJANGO_NOT_FOUND = re.compile(r"^No (?P<name>\w+) matches the given query\.$")


def _not_found_in_words(exc: Http404, context: Mapping[str, object]) -> str:
    """Django's ``get_object_or_404`` names the model class ("No AIModel matches the given
    query."); say what was looked for in words instead: "No AI model with slug 'x'."."""
    message = str(exc.args[0]) if exc.args else ""
    found = _DJANGO_NOT_FOUND.match(message)
    if not message or found:
        name = found["name"] if found else ""
        label = next(
            (str(m._meta.verbose_name) for m in apps.get_models() if m.__name__ == name), "item"
        )
        view = context.get("view")
        kwargs = dict(getattr(view, "kwargs", None) or {})
        kwargs.pop("format", None)
        if len(kwargs) >= 1:
            field, value = next(reversed(kwargs.items()))
            if name == "AIModel" and "slug" in kwargs:
                field, value = "slug", kwargs["slug"]
            return f"No {label} with {field.replace('_', ' ')} '{value}'."
        return f"No such {label}." if found else "Not found."
    return message


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The API's one exception handler and one error shape.

    Refused input, from a serializer or a service (:class:`rsp_portal.errors.ServiceError`, with
    its own status), is ``{"errors": {field: [messages]}}``; everything else is
    ``{"detail": ...}``. An unreachable database answers 503 with ``Retry-After``. Other
    exceptions are left to ``rsp_portal.middleware.ApiErrorMiddleware`` (a JSON 500).
    """
    if isinstance(exc, DjangoValidationError):
        status = getattr(exc, "status_code", 400)
        messages = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response({"errors": messages, "code": getattr(exc, "code", "invalid")}, status)
    if database_unavailable(exc):
        response = drf_exception_handler(ServiceUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, PermissionDenied) and exc.args:
        exc = exceptions.PermissionDenied(str(exc.args[0]))
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses bodies above DATA_UPLOAD_MAX_MEMORY_SIZE: answer 413, not a 400 page.
        exc = PayloadTooLarge(str(exc) or PayloadTooLarge.default_detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_not_found_in_words(exc, context))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        response.data = {"errors": detail}
    return response
