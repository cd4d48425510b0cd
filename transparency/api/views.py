"""The public API (no login): the transparency view, noncompliance reports and their status;
and the recipients' list of reports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rsp_portal.api import TextField
from transparency import public, services
from transparency.limits import AddressThrottle
from transparency.models import NoncomplianceReport

#: Answered when a client address goes over its rate (TRANSPARENCY_RATE, NONCOMPLIANCE_RATE).
TOO_MANY = OpenApiResponse(description="too many requests from this address; retry later")
BAD_INPUT = OpenApiResponse(description="refused input, naming the field")


class TransparencyThrottle(AddressThrottle):
    """The public view: TRANSPARENCY_RATE per client address, pages and API together."""

    scope = "transparency"

    def rate(self) -> str:
        return str(settings.TRANSPARENCY_RATE)


class NoncomplianceThrottle(AddressThrottle):
    """Filing and receipt look-ups: NONCOMPLIANCE_RATE per client address, for everyone,
    signed in or not, on the form and the API together."""

    scope = "noncompliance"

    def rate(self) -> str:
        return str(settings.NONCOMPLIANCE_RATE)


class TransparencyView(APIView):
    """The public view: policy history, signed log head, public models, reports, commitments."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [TransparencyThrottle]

    @extend_schema(
        responses={
            200: inline_serializer("Transparency", {"policy": serializers.JSONField()}),
            429: TOO_MANY,
        }
    )
    def get(self, request: Request) -> Response:
        return Response(public.view())


class NoncomplianceFileSerializer(serializers.Serializer[dict[str, Any]]):
    summary = TextField(max_length=services.MAX_SUMMARY)
    details = TextField(max_length=services.MAX_DETAILS)


class NoncomplianceView(APIView):
    """POST: anyone reports possible noncompliance (a receipt comes back to follow it).
    GET: the recipients' list of reports."""

    throttle_classes: list[Any] = []

    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [AllowAny()]
        return [permission() for permission in self.permission_classes]

    def get_throttles(self) -> list[Any]:
        return [NoncomplianceThrottle()] if self.request.method == "POST" else []

    actions = {"GET": "noncompliance.handle"}

    @extend_schema(
        request=NoncomplianceFileSerializer,
        responses={
            201: inline_serializer(
                "Receipt", {"receipt": serializers.CharField(), "status": serializers.CharField()}
            ),
            400: BAD_INPUT,
            429: TOO_MANY,
        },
    )
    def post(self, request: Request) -> Response:
        body = NoncomplianceFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report, receipt = services.file_report(
            body.validated_data["summary"], body.validated_data["details"], request.user
        )
        return Response(
            {"receipt": receipt, "status": report.status}, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        responses=inline_serializer("NoncomplianceList", {"results": serializers.JSONField()})
    )
    def get(self, request: Request) -> Response:
        services.require_recipient(request.user)
        rows = NoncomplianceReport.objects.select_related("reporter").order_by("-created_at")[:500]
        return Response(
            {
                "results": [
                    {
                        "id": r.pk,
                        "summary": r.summary,
                        "details": r.details,
                        "reporter": r.reporter.username if r.reporter else None,
                        "status": r.status,
                        "finding": r.finding,
                        "created_at": r.created_at,
                    }
                    for r in rows
                ]
            }
        )


class NoncomplianceStatusView(APIView):
    """The status of a report, by its receipt (no login)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [NoncomplianceThrottle]

    @extend_schema(
        parameters=[OpenApiParameter("receipt", str, required=True)],
        responses={
            200: inline_serializer("NoncomplianceStatus", {"status": serializers.CharField()}),
            404: OpenApiResponse(description="no report has this receipt"),
            429: TOO_MANY,
        },
    )
    def get(self, request: Request) -> Response:
        report = services.status_of(request.query_params.get("receipt"))
        if report is None:
            return Response({"errors": {"receipt": ["No report has this receipt."]}}, status=404)
        return Response({"status": report.status, "updated_at": report.updated_at})
