"""The portal's admin site: a signed-in person who is not an administrator gets the portal's
403 page (naming why) instead of Django's admin sign-in form (issue 27)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])

REFUSAL = "The admin is for administrators only; your role does not include it."


class PortalAdminSite(admin.AdminSite):
    def _refuse_non_admins(self, request: HttpRequest) -> None:
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied(REFUSAL)

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            self._refuse_non_admins(request)
            return inner(request, *args, **kwargs)

        return cast(_View, guarded)

    def login(
        self, request: HttpRequest, extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        self._refuse_non_admins(request)
        return super().login(request, extra_context)
