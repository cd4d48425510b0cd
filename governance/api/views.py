"""REST API of the verdict: gate, safeguards, decisions, pause, history."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authentication import BearerTokenAuthentication
from core.models import ApiToken
from evaluations.models import AIModel
from governance import adapter, safeguards, services
from governance.api import serializers as s
from governance.models import ApprovalVerdict, GateTransition, Precaution, ScalingDecision, Scope
from rsp_portal import authz
from rsp_portal.api import via_for
from rsp_portal.negotiation import PLAIN_JSON

logger = logging.getLogger(__name__)


def _model(slug: str) -> AIModel:
    return get_object_or_404(AIModel, slug=slug)


class GateView(APIView):
    """The scaling gate of a model: ``approved`` only if every check passes."""

    actions = {"GET": "gate.view"}

    @extend_schema(
        parameters=[
            OpenApiParameter("scope", str, enum=Scope.values),
            OpenApiParameter("compute", float, description="planned effective compute in FLOP"),
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATETIME,
                description="ISO 8601 time: the gate as it stood then",
            ),
        ],
        responses=s.GateSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        # Two readers: the stored row (``_stored``: one fixed statement) and the full path
        # (recomputed, for a planned compute or as of a time), which fails closed.
        if not request.query_params:
            # The hot path (the stored scaling gate) skips the query serializer's defaults.
            stored = _stored(slug, Scope.SCALING)
            if stored is not None:
                return Response(stored, headers={"Cache-Control": "no-store"})
        query = s.GateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if data.get("as_of") is None and data.get("compute") is None:
            stored = _stored(slug, data["scope"])
            if stored is not None:
                return Response(stored, headers={"Cache-Control": "no-store"})
        stamp: adapter.Stamp | None = None
        if data.get("as_of") is None and data.get("compute") is not None:
            # The live gate: the model with the stamp its inputs are cached under.
            found = adapter.live_model(slug)
            model, stamp = found if found is not None else (_model(slug), None)
        else:
            model = _model(slug)
        payload: dict[str, Any] | None
        try:
            if data.get("as_of") is not None:
                payload = services.gate_as_of(model, data["scope"], data["as_of"])
            else:
                payload = services.gate_for(model, data["scope"], data.get("compute"), stamp=stamp)
        except Exception:
            # Fail closed even if the stored state cannot be read.
            logger.exception("gate of %s could not be read: answering paused", model.slug)
            payload = services.failed_gate(model, data["scope"])
        if payload is None:
            raise NotFound(
                f"No {data['scope']} gate was recorded for {model.slug} at or before "
                f"{data['as_of'].isoformat()}."
            )
        return Response(payload, headers={"Cache-Control": "no-store"})


def _stored(slug: str, scope: str) -> dict[str, Any] | None:
    try:
        return services.stored_gate(slug, scope)
    except Exception:
        # The full path answers, failing closed if it must.
        logger.exception("stored %s gate of %s could not be read", scope, slug)
        return None


def with_stored_bytes(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``GateView`` behind its fast path (ADR 0043): a plain bearer ``GET`` of the stored
    scaling gate is answered with the stored verdict's rendered bytes without DRF's dispatch;
    every other request, and any doubt, goes to ``view`` (DRF's ``GateView``) unchanged.

    The plain read is a ``GET`` with no query string, an ``Accept`` that DRF answers with plain
    JSON, a bearer token that DRF's own authenticator accepts and a role and scope that
    ``authz.can`` allows for the action the view declares. The row must be fresh and verify
    (``services.stored_gate_body``). A refusal, an error, a stale, missing or tampered row:
    DRF's view answers it, with its status, its logging and its reasons, as if this were not
    here. The answer carries the headers DRF's would (``tests/governance/test_gate_fast_path.py``
    compares the two paths byte for byte)."""

    @functools.wraps(view)
    def gate(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        response = _stored_read(request, str(kwargs["slug"]))
        return response if response is not None else view(request, *args, **kwargs)

    return gate


def _stored_read(request: HttpRequest, slug: str) -> HttpResponse | None:
    if (
        request.method != "GET"
        or request.META.get("QUERY_STRING")
        or request.META.get("HTTP_ACCEPT", "").strip() not in PLAIN_JSON
    ):
        return None
    try:
        text = BearerTokenAuthentication.token_text(request)
        if text is None:
            return None  # not a bearer request
        # The token and the stored row in one statement; the token is checked as DRF's
        # authenticator checks it (``ApiToken.authenticate`` is the same method).
        found = ApiToken.authenticate_with(text, services.stored_gate_rider(slug, Scope.SCALING))
        if found is None:
            return None  # DRF answers 401
        token, row = found
        user = token.user
        if not authz.can(user, GateView.actions["GET"], token):
            return None  # DRF refuses it, naming what was missing, and logs the denial
        body = services.stored_gate_body(slug, Scope.SCALING, row)
    except (AuthenticationFailed, DatabaseError):
        return None  # DRF answers: 401, or 503 from ApiErrorMiddleware
    except Exception:
        logger.exception("the stored gate's fast read of %s failed; DRF's view answers", slug)
        return None
    if body is None:
        return None
    request.user = user  # as DRF's authentication sets it on the request
    response = HttpResponse(body, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Allow"] = ALLOW
    return response


#: The ``Allow`` header DRF's dispatch puts on every ``GateView`` answer.
ALLOW = "GET, HEAD, OPTIONS"


class SafeguardListView(APIView):
    actions = {"GET": "governance.view"}

    @extend_schema(responses=s.SafeguardStatusSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        rows = safeguards.checklist(_model(slug))
        return Response(s.SafeguardStatusSerializer(rows, many=True).data)


class SafeguardRecordView(APIView):
    actions = {"POST": "safeguard.update"}

    @extend_schema(request=s.SafeguardWriteSerializer, responses={201: s.SafeguardRecordSerializer})
    def post(self, request: Request, slug: str, requirement_code: str) -> Response:
        body = s.SafeguardWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = services.record_safeguard(
            _model(slug),
            requirement_code,
            body.validated_data["status"],
            request.user,
            evidence_url=body.validated_data["evidence_url"],
            notes=body.validated_data["notes"],
            via=via_for(request),
        )
        return Response(s.SafeguardRecordSerializer(record).data, status=status.HTTP_201_CREATED)


class DecisionListView(generics.ListAPIView[ScalingDecision]):
    """Scaling decisions, newest first; POST requests a new one."""

    actions = {"GET": "governance.view", "POST": "decision.request"}
    serializer_class = s.DecisionSerializer
    filterset_fields = ["status"]

    def get_queryset(self) -> QuerySet[ScalingDecision]:
        return (
            ScalingDecision.objects.visible_to(self.request.user)
            .select_related("model", "requested_by")
            .prefetch_related("approvals__approver")
        )

    @extend_schema(request=s.DecisionCreateSerializer, responses={201: s.DecisionSerializer})
    def post(self, request: Request) -> Response:
        body = s.DecisionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        model = AIModel.objects.filter(slug=body.validated_data["model"]).first()
        if model is None:
            raise ValidationError({"model": [f"Unknown model {body.validated_data['model']!r}."]})
        decision = services.request_decision(
            model,
            body.validated_data.get("compute_limit"),
            body.validated_data["rationale"],
            request.user,
            scope=body.validated_data["scope"],
            lifts_precautions=body.validated_data["lifts_precautions"],
            checkpoints=body.validated_data.get("checkpoints"),
            via=via_for(request),
        )
        return Response(s.DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class DecisionDetailView(generics.RetrieveAPIView[ScalingDecision]):
    actions = {"GET": "governance.view"}
    serializer_class = s.DecisionSerializer

    def get_queryset(self) -> QuerySet[ScalingDecision]:
        return DecisionListView.get_queryset(self)  # type: ignore[arg-type]


class SignView(APIView):
    actions = {"POST": "decision.sign"}
    verdict = ApprovalVerdict.APPROVE

    @extend_schema(request=s.SignSerializer, responses=s.DecisionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = s.SignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        get_object_or_404(ScalingDecision.objects.visible_to(request.user), pk=pk)
        decision = services.sign_decision(
            pk,
            request.user,
            self.verdict,
            body.validated_data["dossier_sha256"],
            body.validated_data["comment"],
            via=via_for(request),
        )
        decision = DecisionListView.get_queryset(self).get(pk=decision.pk)  # type: ignore[arg-type]
        return Response(s.DecisionSerializer(decision).data)


class ApproveView(SignView):
    verdict = ApprovalVerdict.APPROVE


class RejectView(SignView):
    verdict = ApprovalVerdict.REJECT


class PauseView(APIView):
    actions = {"POST": "model.pause"}

    @extend_schema(request=s.PauseSerializer, responses={201: s.PauseOutSerializer})
    def post(self, request: Request, slug: str) -> Response:
        body = s.PauseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        model = _model(slug)
        record = services.pause(
            model, body.validated_data["reason"], request.user, via=via_for(request)
        )
        out = {
            "id": record.pk,
            "model": model,
            "reason": record.reason,
            "created_by": record.created_by,
            "created_at": record.created_at,
            "gate": services.gate_for(model),
        }
        return Response(s.PauseOutSerializer(out).data, status=status.HTTP_201_CREATED)


class PrecautionListView(APIView):
    """Precautionary determinations of a model; POST records one (leadership)."""

    actions = {"GET": "governance.view", "POST": "precaution.record"}

    @extend_schema(responses=s.PrecautionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        model = _model(slug)
        in_force = {p.pk for p in adapter.precautions_in_force(model, Scope.SCALING)}
        deploy = {p.pk for p in adapter.precautions_in_force(model, Scope.DEPLOYMENT)}
        rows = list(Precaution.objects.filter(model=model).select_related("model", "created_by"))
        data = [
            {
                **s.PrecautionSerializer(row).data,
                "in_force": row.pk in in_force,
                "in_force_for_deployment": row.pk in deploy,
            }
            for row in rows
        ]
        return Response(data)

    @extend_schema(request=s.PrecautionSerializer, responses={201: s.PrecautionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        body = s.PrecautionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = services.record_precaution(
            _model(slug),
            body.validated_data["threshold_code"],
            body.validated_data["reason"],
            request.user,
            via=via_for(request),
        )
        data = {**s.PrecautionSerializer(record).data, "in_force": True}
        return Response(data, status=status.HTTP_201_CREATED)


class HistoryView(generics.ListAPIView[GateTransition]):
    """A model's gate transitions, newest first."""

    actions = {"GET": "gate.view"}
    serializer_class = s.TransitionSerializer

    def get_queryset(self) -> QuerySet[GateTransition]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return GateTransition.objects.none()
        return GateTransition.objects.filter(model=_model(self.kwargs["slug"])).order_by(
            "-created_at", "-id"
        )
