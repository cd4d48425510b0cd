"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest
from django.http.response import HttpResponseBase


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


class BearerApiFastPath:
    """Serve ``Authorization: Bearer`` requests to ``/api/`` through a lean middleware chain.

    A pipeline calling the API with a token uses no session, CSRF cookie, flash messages,
    login redirect, htmx or login lockout (DRF authenticates the token itself and answers 401),
    yet the full stack would still run for it on every request. Placed first in
    ``MIDDLEWARE``, this builds once a second chain of every configured middleware except
    :attr:`BROWSER_ONLY` (so security headers, CSP and any project middleware still apply) and
    sends bearer API requests through it; everything else takes the normal chain.
    """

    BROWSER_ONLY = frozenset(
        {
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "rsp_portal.middleware.LoginRequiredMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django_htmx.middleware.HtmxMiddleware",
            "axes.middleware.AxesMiddleware",
        }
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.lean = _lean_chain(self.BROWSER_ONLY | {f"{__name__}.{type(self).__name__}"})

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith("/api/") and request.META.get(
            "HTTP_AUTHORIZATION", ""
        ).startswith(("Bearer ", "bearer ")):
            return self.lean(request)
        return self.get_response(request)


def _lean_chain(skip: frozenset[str]) -> Callable[[HttpRequest], HttpResponseBase]:
    """A request handler with the configured middleware minus ``skip``, built like Django's."""
    from django.conf import settings
    from django.core.handlers.base import BaseHandler

    handler = BaseHandler()
    # load_middleware reads settings.MIDDLEWARE: swap the list only while this chain is built
    # (once, while the outer handler itself is being built, before any request).
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = [m for m in full if m not in skip]
    try:
        handler.load_middleware()
    finally:
        settings.MIDDLEWARE = full
    return handler._middleware_chain  # type: ignore[attr-defined,no-any-return]
