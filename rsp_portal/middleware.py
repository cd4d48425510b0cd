"""Project middleware."""

from __future__ import annotations

import logging
import threading
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from rsp_portal import authz
from rsp_portal.api import RETRY_AFTER_SECONDS, database_unavailable

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


class ReviewerConfinementMiddleware:
    """An external reviewer's session reaches only the pages ``authz.REVIEWER_PAGES`` names
    (and public ones); anything else is 403, and the landing page sends them to their grants.

    The views still check each grant (``accountability.reviews``): this is the outer wall, so a
    page added later without a thought for reviewers stays closed to them. The API is left to
    DRF, where reviewers hold only the review actions.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: object,
        view_args: tuple[object, ...],
        view_kwargs: dict[str, object],
    ) -> HttpResponseBase | None:
        if is_api(request) or not authz.confined_to_review(getattr(request, "user", None)):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None  # public pages are public to reviewers too
        name = request.resolver_match.url_name if request.resolver_match else None
        if name == "dashboard":
            return redirect("reviewer-home")
        if name not in authz.REVIEWER_PAGES:
            authz.log_denial(request.user, f"page {name or request.path_info}")
            raise PermissionDenied(
                "External reviewers see only the reports their grants name: see Your reviews."
            )
        return None


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


class BearerApiFastPath:
    """Serve ``Authorization: Bearer`` requests to ``/api/`` through a lean middleware chain.

    A pipeline calling the API with a token uses no session, CSRF cookie, flash messages,
    login redirect, htmx or login lockout (DRF authenticates the token itself and answers 401),
    yet the full stack would still run for it on every request. Placed first in
    ``MIDDLEWARE``, this builds once a second chain of every configured middleware except
    :attr:`BROWSER_ONLY` (so security headers, CSP and any project middleware still apply) and
    sends bearer API requests through it; everything else takes the normal chain. ``/healthz``
    (anonymous probes) takes a third chain that also skips :attr:`HEALTH_SKIPS`.
    """

    BROWSER_ONLY = frozenset(
        {
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "rsp_portal.middleware.LoginRequiredMiddleware",
            "rsp_portal.middleware.ReviewerConfinementMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django_htmx.middleware.HtmxMiddleware",
            "axes.middleware.AxesMiddleware",
        }
    )

    #: ``/healthz`` also skips these: it renders no page and serves no static file.
    HEALTH_SKIPS = frozenset(
        {
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.middleware.common.CommonMiddleware",
            "csp.middleware.CSPMiddleware",
        }
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        own = {f"{__name__}.{type(self).__name__}"}
        self.lean = _lean_chain(self.BROWSER_ONLY | own)
        self.health = _lean_chain(self.BROWSER_ONLY | self.HEALTH_SKIPS | own)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if path == "/healthz":
            return self.health(request)  # probes: no session, login, lockout or CSP
        if path.startswith("/api/") and request.META.get("HTTP_AUTHORIZATION", "").startswith(
            ("Bearer ", "bearer ")
        ):
            return self.lean(request)
        return self.get_response(request)


#: Serialises the swap below: two handlers built at once (threads of a test client, or of a
#: threaded server) must never take the other's swapped list for the configured one.
_BUILDING = threading.Lock()


def _lean_chain(skip: frozenset[str]) -> Callable[[HttpRequest], HttpResponseBase]:
    """A request handler with the configured middleware minus ``skip``, built like Django's."""
    from django.conf import settings
    from django.core.handlers.base import BaseHandler

    handler = BaseHandler()
    # load_middleware reads settings.MIDDLEWARE: swap the list only while this chain is built
    # (while the outer handler itself is being built, before it serves a request).
    with _BUILDING:
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [m for m in full if m not in skip]
        try:
            handler.load_middleware()
        finally:
            settings.MIDDLEWARE = full
    return handler._middleware_chain  # type: ignore[attr-defined,no-any-return]


class UserTimeZoneMiddleware:
    """Pages show times in the signed-in person's zone (their settings; UTC by default)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith("/api/"):
            # The API speaks UTC offsets to machines, and must not read the account before
            # the view (a database outage there is the view's JSON 503, not a 500 here).
            return self.get_response(request)
        try:
            zone = getattr(getattr(request, "user", None), "time_zone", "") or "UTC"
        except DatabaseError:
            zone = "UTC"  # the page's own query fails next and answers in words
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
