"""API views shared by every app, and the error pages that answer JSON under ``/api/``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from rsp_portal.middleware import is_api


class SchemaPermissionMixin:
    """The OpenAPI schema and docs are for any signed-in user or token holder."""

    actions = {"GET": "policy.view"}

    @classmethod
    def wrap(cls, view_class: type[Any]) -> type[Any]:
        return type(view_class.__name__, (cls, view_class), {})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: JSON under ``/api/``, the HTML page elsewhere."""
    if is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under ``/api/``, the HTML page elsewhere."""
    if is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)
