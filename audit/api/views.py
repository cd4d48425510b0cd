"""The audit trail over the API: read-only for auditors and admins, nobody can change it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import (
    exceptions,
    generics,
    pagination,
    parsers,
    serializers,
    status,
    throttling,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.api.serializers import (
    AuditEntrySerializer,
    PublicKeySerializer,
    VerificationSerializer,
)
from audit.checkpoints import key_description
from audit.filters import AuditEntryApiFilter
from audit.models import AuditEntry
from audit.verification import ExportError, export_zip, latest_run, run_verification
from audit.witness import WitnessError, cosignature, witness
from rsp_portal.api import StrictPageSize
from rsp_portal.parsers import JSONParser as SafeJSONParser


class PlainTextParser(parsers.BaseParser):
    """A signed note as the body, as witnesses receive it."""

    media_type = "text/plain"

    def parse(  # type: ignore[override]  # the note is the whole body
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> str:
        try:
            text = stream.read().decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.ParseError("The note must be UTF-8 text.") from None
        if "\x00" in text:
            raise exceptions.ParseError("The note must not contain NUL characters.")
        return str(text)


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "This conflicts with what was witnessed before."
    default_code = "conflict"


class SeqCursorPagination(StrictPageSize, pagination.CursorPagination):
    """Stable pages over a growing log: new entries never shift a page."""

    ordering = "seq"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditEntryList(generics.ListAPIView[AuditEntry]):
    """Entries oldest first; filters: actor, action, object_type, object_id, model, since, until."""

    actions = {"GET": "audit.view"}
    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryApiFilter
    pagination_class = SeqCursorPagination


def _username(request: Request) -> str:
    return str(request.user.get_username())


class AuditExport(APIView):
    """The whole trail as a zip of the offline-verifiable bundle (see VERIFY.md inside)."""

    actions = {"GET": "audit.view"}

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="bundle: entries, checkpoints, key, verifier"
            )
        }
    )
    def get(self, request: Request) -> FileResponse:
        try:
            archive, name = export_zip()
        except ExportError as exc:
            raise exceptions.APIException(str(exc)) from None
        return FileResponse(
            archive, as_attachment=True, filename=name, content_type="application/zip"
        )


class VerifyThrottle(throttling.UserRateThrottle):
    """A full verification reads the whole trail: a few per user and hour (AUDIT_VERIFY_RATE)."""

    scope = "audit-verify"

    def get_rate(self) -> str:
        return str(settings.AUDIT_VERIFY_RATE)


class AuditVerify(APIView):
    """GET: the latest recorded verification (changes nothing). POST: verify the whole stored
    trail now (throttled); the outcome is recorded for the status page and the gates."""

    actions = {"GET": "audit.view", "POST": "audit.view"}

    def get_throttles(self) -> list[throttling.BaseThrottle]:
        return [VerifyThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=VerificationSerializer)
    def get(self, request: Request) -> Response:
        run = latest_run()
        if run is None:
            raise exceptions.NotFound("No verification has run yet; POST to run one.")
        return Response(
            VerificationSerializer(
                {
                    "ok": run.ok,
                    "entries": run.entries,
                    "checkpoints": run.checkpoints,
                    "first_bad_seq": run.first_bad_seq,
                    "message": run.message,
                    "checked_at": run.started_at,
                }
            ).data
        )

    @extend_schema(request=None, responses={201: VerificationSerializer})
    def post(self, request: Request) -> Response:
        outcome, _ = run_verification(_username(request))
        return Response(
            VerificationSerializer(outcome.as_dict()).data, status=status.HTTP_201_CREATED
        )


class AuditPublicKey(APIView):
    """The key that signs checkpoints, for pipelines and auditors to pin."""

    actions = {"GET": "policy.view"}

    @extend_schema(responses=PublicKeySerializer)
    def get(self, request: Request) -> Response:
        described: dict[str, Any] | None = key_description()
        if described is None:
            raise exceptions.NotFound("No audit public key is configured.")
        return Response(PublicKeySerializer(described).data)


class WitnessSerializer(serializers.Serializer[dict[str, Any]]):
    origin = serializers.CharField()
    size = serializers.IntegerField()
    root_hash = serializers.CharField()
    new = serializers.BooleanField()
    cosignature = serializers.CharField(
        required=False,
        help_text="this portal's C2SP cosignature/v1 line over the checkpoint (when it has a "
        "cosigning key)",
    )


class WitnessNoteSerializer(serializers.Serializer[dict[str, str]]):
    note = serializers.CharField(help_text="a C2SP signed checkpoint note")


class AuditWitness(APIView):
    """Witness another portal's log: POST a C2SP signed checkpoint note (text/plain, or JSON
    ``{"note": ...}``). It must verify with the key configured for its origin; a second root
    for a size already witnessed is refused with 409 (split view). With a cosigning key, the
    answer carries this portal's cosignature for the other portal to collect."""

    actions = {"POST": "audit.witness"}
    parser_classes = [SafeJSONParser, PlainTextParser]

    @extend_schema(
        request={
            "text/plain": {"type": "string", "minLength": 1},
            "application/json": WitnessNoteSerializer,
        },
        responses=WitnessSerializer,
    )
    def post(self, request: Request) -> Response:

        data = request.data
        note = data.get("note") if isinstance(data, dict) else data
        if not isinstance(note, str) or not note:
            raise exceptions.ValidationError({"note": ["A signed checkpoint note is required."]})
        try:
            row, new = witness(note, actor=request.user)
        except WitnessError as exc:
            if exc.conflict:
                raise Conflict(str(exc)) from None
            raise exceptions.ValidationError({"note": [str(exc)]}) from None
        answer: dict[str, object] = {
            "origin": row.origin,
            "size": row.size,
            "root_hash": row.root_hash,
            "new": new,
        }
        signed = cosignature(note)
        if signed is not None:
            answer["cosignature"] = signed
        return Response(WitnessSerializer(answer).data)
