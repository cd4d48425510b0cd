"""Project middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("django.request")


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Every page needs a signed-in user unless its view is marked ``@login_not_required``.

    The REST API is left to DRF, which refuses anonymous requests itself (401) and also accepts
    bearer tokens, which this middleware cannot see.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class ApiErrorMiddleware:
    """Every ``/api/`` answer is JSON and never cached.

    DRF already answers its own errors (400-429) in JSON through ``rsp_portal.api``'s exception
    handler; this catches what escapes it: an unreachable database becomes a 503 with
    ``Retry-After``, any other exception a 500 ``{"detail": ...}`` (logged as Django would).
    Unknown paths are answered by ``rsp_portal.api_views.not_found``. Answers carry
    ``Cache-Control: no-store``: a gate verdict or an audit page must never be replayed by a
    proxy or a client cache.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if is_api(request) and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api(request):
            return None
        from rsp_portal.api import RETRY_AFTER_SECONDS, database_unavailable

        if database_unavailable(exception):
            logger.warning(
                "Database unavailable: %s %s: %s", request.method, request.path, exception
            )
            response = JsonResponse(
                {"detail": "The database is unreachable; try again shortly."}, status=503
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        request_logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        return JsonResponse({"detail": "Internal server error."}, status=500)


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")
