"""DRF authentication by ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.models import ApiToken

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates API tokens; ``request.auth`` is the ApiToken so scopes can be checked."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        text = self.token_text(request)
        if text is None:
            return None
        token = ApiToken.authenticate(text)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
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


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "core.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
