"""The evidence API: models, checkpoints, results, bulk results, log imports.

Views parse and render; the services validate and write. Service errors (``ServiceError``)
become ``{"errors": {field: [messages]}}`` with their status (400, 409 or 413) in the one
exception handler, ``rsp_portal.api.exception_handler``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
from core.authentication import authenticators_with, ridden
from core.events import ask
from core.models import Rider
from evaluations import corrections, import_service, importers, lineage, services, triggers
from evaluations.api.parsers import EvidenceJSONParser
from evaluations.api.serializers import (
    RESULT_VALUES,
    AIModelDetailSerializer,
    AIModelInputSerializer,
    AIModelSerializer,
    BulkInputSerializer,
    BulkOutputSerializer,
    CheckpointInputSerializer,
    CheckpointSerializer,
    CorrectionInputSerializer,
    CorrectionRejectSerializer,
    DetectInputSerializer,
    DetectOutputSerializer,
    EvalResultInputSerializer,
    EvalResultSerializer,
    ImportFieldsSerializer,
    ImportInputSerializer,
    ImportOutputSerializer,
    ImportRecordSerializer,
    LineageConfirmSerializer,
    MetricMappingSerializer,
    PendingCorrectionSerializer,
    result_of,
    result_rows,
)
from evaluations.models import AIModel, Checkpoint, EvalResult, MetricMapping, PendingCorrection
from evaluations.policy import PolicyView, policy_view
from policies.models import ACTIVE_REF_WIDTH, active_ref_rider, ref_of
from rsp_portal.api import via_for
from rsp_portal.filters import PrebuiltFilterBackend, StrictBooleanFilter
from rsp_portal.idempotency import (
    IDEMPOTENCY_PARAMETER,
    Answer,
    Unread,
    idempotent,
    key_rider,
    ridden_answer,
)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


def _model(slug: str) -> AIModel:
    return get_object_or_404(AIModel, slug=slug)


def _result_write_rider(request: Request) -> Rider | None:
    """A result write reads, in its bearer token's statement (ADR 0056), the active policy
    it checks the results against and its ``Idempotency-Key``'s stored answer: two round
    trips fewer. A session's request reads them on its own."""
    if request.method != "POST":
        return None
    policy = active_ref_rider()
    keyed = key_rider(request)
    return policy if keyed is None else policy.beside(keyed)


class _ResultWrite:
    """The views whose POST writes results (:func:`_result_write_rider`)."""

    def get_authenticators(self) -> list[BaseAuthentication]:
        return authenticators_with(_result_write_rider)

    @staticmethod
    def ridden_policy(request: Request) -> PolicyView | None:
        """The active policy read with the token; None when not read (or none is active:
        the write then reads it again, and refuses)."""
        found = ridden(request)
        return None if found is None else policy_view(ref_of(found[1][:ACTIVE_REF_WIDTH]))

    @staticmethod
    def ridden_answer(request: Request) -> Answer | Unread | None:
        return ridden_answer(request, start=ACTIVE_REF_WIDTH)


class ModelList(generics.ListAPIView[AIModel]):
    """AI models; POST registers one (``slug``, ``name``, ``family``, ``parent``)."""

    actions = {"GET": "evidence.view", "POST": "evidence.report"}
    queryset = AIModel.objects.select_related(
        "parent", "created_by", "lineage_confirmed_by"
    ).order_by("slug")
    serializer_class = AIModelSerializer
    parser_classes = [EvidenceJSONParser]
    filterset_fields = ["family"]

    @extend_schema(request=AIModelInputSerializer, responses={201: AIModelSerializer})
    def post(self, request: Request) -> Response:
        data = _body(request)
        if "parent" in data and data["parent"] in ("", None):  # a slug, or leave it out
            raise services.EvidenceError(
                {"parent": ["Is empty; give the parent model's slug or leave parent out."]}
            )
        model = services.create_model(
            slug=data.get("slug"),
            name=data.get("name"),
            family=data.get("family") or "",
            parent=data.get("parent"),
            owner_team=data.get("owner_team") or "",
            actor=request.user,
            via=via_for(request),
        )
        return Response(AIModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetail(generics.RetrieveAPIView[AIModel]):
    """One AI model with its reassessment triggers under the active policy."""

    actions = {"GET": "evidence.view"}
    queryset = AIModel.objects.select_related("parent", "created_by", "lineage_confirmed_by")
    serializer_class = AIModelDetailSerializer
    lookup_field = "slug"

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if "slug" in self.kwargs:
            context["triggers"] = triggers.triggers_for(self.get_object())
        return context


class LineageConfirm(APIView):
    """A second person (safety or leadership, not whoever registered the model) confirms the
    parent claimed at registration (``reason`` required)."""

    actions = {"POST": "lineage.confirm"}
    parser_classes = [EvidenceJSONParser]

    @extend_schema(request=LineageConfirmSerializer, responses={200: AIModelSerializer})
    def post(self, request: Request, slug: str) -> Response:
        data = _body(request)
        model = lineage.confirm(
            _model(slug), data.get("reason"), request.user, via=via_for(request)
        )
        return Response(AIModelSerializer(model).data)


# --- Checkpoints ---------------------------------------------------------------------------


class CheckpointList(generics.ListAPIView[Checkpoint]):
    """A model's checkpoints, oldest first; POST reports one (answered with the gate)."""

    actions = {"GET": "evidence.view", "POST": "evidence.report"}
    serializer_class = CheckpointSerializer
    parser_classes = [EvidenceJSONParser]

    def get_queryset(self) -> QuerySet[Checkpoint]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Checkpoint.objects.none()
        model = _model(self.kwargs["slug"])
        return (
            Checkpoint.objects.filter(model=model)
            .select_related("model", "reported_by")
            .order_by("reported_at", "id")
        )

    @extend_schema(
        request=CheckpointInputSerializer,
        responses={201: OpenApiResponse(CheckpointSerializer, description="plus `gate`")},
    )
    def post(self, request: Request, slug: str) -> Response:
        model = _model(slug)
        data = _body(request)
        checkpoint = services.report_checkpoint(
            model,
            name=data.get("name"),
            effective_compute=data.get("effective_compute"),
            step=data.get("step"),
            stage=data.get("stage") or Checkpoint.Stage.PRETRAINING,
            metadata=data.get("metadata"),
            actor=request.user,
            via=via_for(request),
        )
        body = dict(CheckpointSerializer(checkpoint).data)
        body["gate"] = ask(services.GATE_OF, model)
        return Response(body, status=status.HTTP_201_CREATED)


# --- Results -------------------------------------------------------------------------------


class ResultFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    model = django_filters.CharFilter(field_name="model__slug")
    checkpoint = django_filters.CharFilter(field_name="checkpoint__name")
    metric = django_filters.CharFilter(field_name="metric_key")
    source = django_filters.ChoiceFilter(choices=EvalResult.Source.choices)
    current = StrictBooleanFilter(field_name="is_current")

    class Meta:
        model = EvalResult
        fields = ["model", "checkpoint", "metric", "source", "current"]


def result_queryset() -> QuerySet[EvalResult]:
    """The results as the API lists them: a copy of one queryset built once per process (a
    clone costs 4 µs, building it 140 µs; the template itself is never evaluated)."""
    return _results_template().all()


@functools.cache
def _results_template() -> QuerySet[EvalResult]:
    return EvalResult.objects.for_display().with_is_current().order_by("-recorded_at", "-id")


class ResultList(_ResultWrite, generics.ListAPIView[EvalResult]):
    """Results, newest first (filters: model, checkpoint, metric, source, current).

    POST records one result and honours ``Idempotency-Key``.
    """

    actions = {"GET": "evidence.view", "POST": "evidence.report"}
    serializer_class = EvalResultSerializer
    filterset_class = ResultFilter
    filter_backends = [PrebuiltFilterBackend]
    parser_classes = [EvidenceJSONParser]

    def get_queryset(self) -> QuerySet[EvalResult]:
        return result_queryset()

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        # The rows as values, represented without serializer fields (``result_rows``).
        rows = self.filter_queryset(self.get_queryset()).values(*RESULT_VALUES)
        page = self.paginate_queryset(rows)  # values, not instances
        if page is None:
            return Response(result_rows(list(rows)))
        return self.get_paginated_response(result_rows(page))

    @extend_schema(
        request=EvalResultInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: EvalResultSerializer},
    )
    def post(self, request: Request) -> Response:
        item = _body(request)

        def effect() -> tuple[int, Any]:
            (result,) = services.record_results(
                [item],
                request.user,
                EvalResult.Source.API,
                via=via_for(request),
                policy=self.ridden_policy(request),
            )
            return status.HTTP_201_CREATED, result_of(result)

        return idempotent(request, effect, self.ridden_answer(request), within=audit.batch)


class ResultBulk(_ResultWrite, APIView):
    """``{"results": [...]}``: all stored or none; errors name the index (``results[3].value``)."""

    actions = {"POST": "evidence.report"}
    parser_classes = [EvidenceJSONParser]

    @extend_schema(
        request=BulkInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: BulkOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        items = _body(request).get("results")
        if not isinstance(items, list):
            raise exceptions.ValidationError({"results": ["Must be a list of results."]})

        def effect() -> tuple[int, Any]:
            created = services.record_results(
                items,
                request.user,
                EvalResult.Source.API,
                via=via_for(request),
                indexed=True,
                policy=self.ridden_policy(request),
            )
            return status.HTTP_201_CREATED, {
                "created": len(created),
                "results": [result_of(result) for result in created],
            }

        return idempotent(request, effect, self.ridden_answer(request), within=audit.batch)


class ResultCorrect(APIView):
    """Supersede a result with a corrected one (``correction_reason`` required)."""

    actions = {"POST": "evidence.correct"}
    parser_classes = [EvidenceJSONParser]

    @extend_schema(
        request=CorrectionInputSerializer,
        responses={
            201: EvalResultSerializer,
            202: OpenApiResponse(
                PendingCorrectionSerializer,
                description="the correction would lower a determination: it waits for a "
                "second person (POST /corrections/{id}/confirm/); the old result stands",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        old = get_object_or_404(EvalResult.objects.for_display(), pk=pk)
        data = dict(_body(request))
        reason = data.pop("correction_reason", None)
        outcome = corrections.propose(
            old,
            data,
            reason,
            request.user,
            via=via_for(request),
            source=EvalResult.Source.API,
        )
        if isinstance(outcome, PendingCorrection):
            return Response(
                PendingCorrectionSerializer(outcome).data, status=status.HTTP_202_ACCEPTED
            )
        return Response(EvalResultSerializer(outcome).data, status=status.HTTP_201_CREATED)


class CorrectionFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    class Meta:
        model = PendingCorrection
        fields = ["status"]


class CorrectionList(generics.ListAPIView[PendingCorrection]):
    """Corrections that lower a determination, open ones first (``?status=pending``)."""

    actions = {"GET": "governance.view"}
    serializer_class = PendingCorrectionSerializer
    filterset_class = CorrectionFilter

    def get_queryset(self) -> QuerySet[PendingCorrection]:
        return PendingCorrection.objects.select_related("requested_by", "decided_by").order_by(
            "status", "-requested_at", "-id"
        )


class CorrectionConfirm(APIView):
    """A second person (safety or leadership, not the author) confirms: the correction applies."""

    actions = {"POST": "evidence.confirm_correction"}

    @extend_schema(request=None, responses={201: EvalResultSerializer})
    def post(self, request: Request, pk: int) -> Response:
        new = corrections.confirm(pk, request.user, via=via_for(request))
        return Response(EvalResultSerializer(new).data, status=status.HTTP_201_CREATED)


class CorrectionReject(APIView):
    """Close a pending correction without applying it."""

    actions = {"POST": "evidence.confirm_correction"}

    @extend_schema(request=CorrectionRejectSerializer, responses={200: PendingCorrectionSerializer})
    def post(self, request: Request, pk: int) -> Response:
        body = _body(request) if request.data else {}
        pending = corrections.reject(pk, request.user, body.get("note", ""), via=via_for(request))
        return Response(PendingCorrectionSerializer(pending).data)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def import_body(outcome: import_service.ImportOutcome) -> dict[str, Any]:
    parsed = outcome.parsed
    record = outcome.record
    errors = dict(outcome.errors)
    if outcome.failed and not outcome.preview:
        errors.setdefault("file", [outcome.message])
    return {
        "detail": outcome.message,
        "already_imported": outcome.already_imported,
        "preview": outcome.preview,
        "status": record.status if record is not None else (parsed.status if parsed else ""),
        "format": parsed.format if parsed else None,
        "task": parsed.task if parsed else None,
        "file_sha256": outcome.upload.sha256,
        "eval_id": parsed.eval_id if parsed else None,
        "run_key": parsed.run_key if parsed else None,
        "evaluated_at": parsed.evaluated_at if parsed else None,
        "partial": parsed.partial if parsed else False,
        "partial_reasons": parsed.provenance.get("partial_run_reasons", []) if parsed else [],
        "record": ImportRecordSerializer(record).data if record is not None else None,
        "results": EvalResultSerializer(outcome.results, many=True).data,
        "metrics": [
            {
                "source_name": row.source_name,
                "task": row.task,
                "value": _finite(row.value),
                "stderr": _finite(row.stderr),
                "n_samples": row.n_samples,
                "metric_key": row.metric_key,
                "origin": row.origin,
                "remembered_by": row.remembered_by,
                "remembered_at": row.remembered_at.isoformat() if row.remembered_at else None,
                "higher_is_better": row.higher_is_better,
                "direction_conflict": row.direction_conflict,
                "other_tasks": [{"task": task, "metric": key} for task, key in row.other_tasks],
                "error": row.error,
            }
            for row in outcome.rows
        ],
        "unmapped": outcome.unmapped,
        "mapping": outcome.mapping,
        "errors": errors,
    }


def _flag(value: Any) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on")


class ResultDetect(APIView):
    """What a file is, as the server's format registry reads it: a log to import (its format)
    or results in the generic format to post in bulk. Clients ask here instead of guessing, so
    a format added on the server needs no client change. 400 naming ``file`` when it is
    neither."""

    actions = {"POST": "evidence.report"}
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": DetectInputSerializer},
        responses={200: DetectOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise services.EvidenceError({"file": ["Send the file (or its first bytes)."]})
        raw_size = str(request.POST.get("size") or "")
        if raw_size and not raw_size.isdigit():
            raise services.EvidenceError({"size": ["Must be a whole number of bytes."]})
        size = int(raw_size) if raw_size else None
        head = upload.read(importers.HEAD_BYTES)
        try:
            kind, name = importers.classify(upload.name or "", head, size)
        except importers.ImportFormatError as exc:
            raise services.EvidenceError({"file": [str(exc)]}) from None
        label = importers.FORMATS[name].label if name is not None else None
        return Response({"kind": kind, "format": name, "label": label})


class ResultImport(APIView):
    """Import an evidence log (multipart ``file``, ``model``, ``checkpoint``, optional
    ``mapping`` JSON, ``confirm_direction`` and ``preview``).

    Answers 201 with the created results; 200 for a preview or a re-import of the same
    evaluation into the same checkpoint; 422 for a log that did not succeed (it is recorded,
    and gives no results: ``errors.file`` says why); 409 for a re-import into another model or
    checkpoint."""

    actions = {"POST": "evidence.report"}
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer},
        responses={
            201: ImportOutputSerializer,
            200: OpenApiResponse(ImportOutputSerializer, description="preview or re-import"),
            422: OpenApiResponse(
                ImportOutputSerializer,
                description="the log's status is error, cancelled or started: recorded, no results",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data: Any = request.data
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": ["Attach the log file as `file`."]})
        fields = ImportFieldsSerializer(data=data)
        fields.is_valid(raise_exception=True)
        preview = _flag(data.get("preview"))
        outcome = import_service.import_log(
            upload,
            model=fields.validated_data["model"],
            checkpoint=fields.validated_data["checkpoint"],
            mapping=fields.validated_data.get("mapping"),
            actor=request.user,
            preview=preview,
            via=via_for(request),
            confirm_direction=_flag(data.get("confirm_direction")),
        )
        code: int
        if preview:
            code = status.HTTP_200_OK
        elif outcome.failed:
            code = status.HTTP_422_UNPROCESSABLE_ENTITY
        elif outcome.already_imported:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_201_CREATED
        return Response(import_body(outcome), status=code)


class MappingFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    metric = django_filters.CharFilter(field_name="metric_key")

    class Meta:
        model = MetricMapping
        fields = ["metric", "format", "task"]


class MappingList(generics.ListAPIView[MetricMapping]):
    """Remembered mappings (format + task + source name → metric key); filters: metric,
    format, task. They change only through imports, each change audited (``mapping.set``)."""

    actions = {"GET": "evidence.view"}
    serializer_class = MetricMappingSerializer
    filterset_class = MappingFilter
    queryset = MetricMapping.objects.select_related("updated_by").order_by(
        "metric_key", "format", "task", "source_name"
    )
