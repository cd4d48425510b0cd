"""DRF authentication by ``Authorization: Bearer <token>``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.settings import api_settings

from core.models import ApiToken, Rider

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


#: What a view reads with the token for a request (None: nothing for this one).
RiderFor = Callable[["Request"], "Rider | None"]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates API tokens; ``request.auth`` is the ApiToken so scopes can be checked.

    It may read one more row in the token's statement (ADR 0043, 0056): a view that wants
    one builds its authenticators with :func:`authenticators_with` and a function naming the
    row, and finds what was read with :func:`ridden`. The token is checked exactly as without
    it; the authenticator never looks at the view."""

    keyword = "Bearer"

    def __init__(self, rider: RiderFor | None = None) -> None:
        self._rider = rider

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        text = self.token_text(request)
        if text is None:
            return None
        rider = self._rider(request) if self._rider is not None else None
        found = ApiToken.authenticate_with(text, rider)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        token, row = found
        if rider is not None:
            setattr(request, _RIDDEN, (rider, row))
        return token.user, token

    @classmethod
    def token_text(cls, request: Request | HttpRequest) -> str | None:
        """The token a request presents in ``Authorization: Bearer <token>``; None when it
        presents none (another scheme or no header); AuthenticationFailed when malformed."""
        # DRF reads the header from META, which both kinds of request carry.
        header = authentication.get_authorization_header(cast("Request", request)).decode("latin-1")
        if not header:
            return None
        keyword, _, text = header.partition(" ")
        if keyword.lower() != cls.keyword.lower():
            return None
        text = text.strip()
        if not text or " " in text:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Bearer <token>'."
            )
        return text

    def authenticate_header(self, request: Any) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to anonymous requests.
        return f'{self.keyword} realm="api"'


_RIDDEN = "_token_ridden"


def ridden(request: Request) -> tuple[Rider, tuple[object, ...]] | None:
    """The rider the request's bearer authentication named and the row it read in the
    token's statement; None when none was read (a session, or no rider for this request)."""
    found: tuple[Rider, tuple[object, ...]] | None = getattr(request, _RIDDEN, None)
    return found


def authenticators_with(rider: RiderFor) -> list[authentication.BaseAuthentication]:
    """The project's authenticators, the bearer one reading ``rider``'s row with the token:
    what a view's ``get_authenticators`` returns to have it read."""
    # The setting's dotted paths, imported by DRF's settings object.
    classes = cast(
        "list[type[authentication.BaseAuthentication]]",
        api_settings.DEFAULT_AUTHENTICATION_CLASSES,
    )
    return [
        BearerTokenAuthentication(rider) if cls is BearerTokenAuthentication else cls()
        for cls in classes
    ]


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "core.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
