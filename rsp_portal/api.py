"""Shared REST API pieces: the error format and pagination."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Errors are ``{"errors": {field: [messages]}}`` for bad input, else ``{"detail": ...}``."""
    if isinstance(exc, PermissionDenied) and exc.args:
        exc = exceptions.PermissionDenied(str(exc.args[0]))
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses bodies above DATA_UPLOAD_MAX_MEMORY_SIZE: answer 413, not a 400 page.
        exc = PayloadTooLarge(str(exc) or PayloadTooLarge.default_detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc.args[0]) if exc.args else "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        response.data = {"errors": detail}
    return response
