from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import ApiToken, User


class MeView(APIView):
    """Who the caller is: lets a pipeline check its token before relying on it."""

    actions = {"GET": "account.view"}  # any valid token, e.g. a gate-only one

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "roles": serializers.ListField(child=serializers.CharField()),
                "titles": serializers.ListField(child=serializers.CharField()),
                "token": serializers.DictField(allow_null=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": user.username,
                "roles": sorted(user.roles),
                "titles": sorted(user.titles),
                "token": {"name": token.name, "scopes": token.scopes} if token else None,
            }
        )
