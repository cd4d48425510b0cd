"""The suites API: list suites, request a run, follow a run.

``GET /api/v1/suites/`` · ``POST /api/v1/suites/{slug}/run/`` (``{"model": slug}`` → 202 with
the queued run) · ``GET /api/v1/runs/{id}/`` (status, progress, results).
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
from core.authentication import authenticators_with
from core.models import User
from evaluations.models import AIModel, Checkpoint
from rsp_portal.api import via_for
from rsp_portal.authz import can
from rsp_portal.idempotency import (
    IDEMPOTENCY_PARAMETER,
    idempotent,
    key_rider,
    ridden_answer,
)
from rsp_portal.parsers import FloatJSONParser
from suites import services
from suites.models import EvalSuite, SuiteRun, SuiteRunResult


def suite_list_queryset() -> QuerySet[EvalSuite]:
    """Suites with their targets and latest run (two queries, whatever the count)."""
    latest = SuiteRun.objects.filter(suite=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        EvalSuite.objects.order_by("slug")
        .prefetch_related(Prefetch("targets", queryset=AIModel.objects.order_by("slug")))
        .annotate(
            last_run_id=Subquery(latest.values("id")[:1]),
            last_run_status=Subquery(latest.values("status")[:1]),
            last_run_at=Subquery(latest.values("created_at")[:1]),
        )
    )


class SuiteSerializer(serializers.ModelSerializer[EvalSuite]):
    targets: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    config = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = EvalSuite
        fields = [
            "slug",
            "name",
            "description",
            "metrics",
            "runner",
            "config",
            "targets",
            "schedule",
            "enabled",
            "max_attempts",
            "last_run",
        ]

    def get_config(self, obj: EvalSuite) -> dict[str, Any] | None:
        """The runner configuration, shown to those who may define suites."""
        request = self.context.get("request")
        if request is None or not can(request.user, "suite.manage", request.auth):
            return None
        config: dict[str, Any] = obj.config
        return config

    def get_last_run(self, obj: EvalSuite) -> dict[str, Any] | None:
        run_id = getattr(obj, "last_run_id", None)
        if run_id is None:
            return None
        return {
            "id": run_id,
            "status": getattr(obj, "last_run_status", None),
            "created_at": getattr(obj, "last_run_at", None),
        }


class RunResultSerializer(serializers.ModelSerializer[SuiteRunResult]):
    id = serializers.IntegerField(source="result.id")
    metric = serializers.CharField(source="metric_key")
    value = serializers.FloatField(source="result.value")
    stderr = serializers.FloatField(source="result.stderr", allow_null=True)
    n_samples = serializers.IntegerField(source="result.n_samples", allow_null=True)

    class Meta:
        model = SuiteRunResult
        fields = ["id", "metric", "value", "stderr", "n_samples"]


class SuiteRunSerializer(serializers.ModelSerializer[SuiteRun]):
    suite: serializers.SlugRelatedField[EvalSuite] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    checkpoint: serializers.SlugRelatedField[Checkpoint] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    progress = serializers.SerializerMethodField()
    results = RunResultSerializer(source="run_results", many=True, read_only=True)

    class Meta:
        model = SuiteRun
        fields = [
            "id",
            "suite",
            "model",
            "checkpoint",
            "status",
            "attempts",
            "max_attempts",
            "progress",
            "triggered_by",
            "requested_by",
            "scheduled_for",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "log_excerpt",
            "results",
        ]

    def get_progress(self, obj: SuiteRun) -> dict[str, int]:
        return {"done": obj.progress_done, "total": obj.progress_total}


class RunRequestSerializer(serializers.Serializer[Any]):
    model = serializers.SlugField(help_text="slug of a target model of the suite")


def run_queryset() -> QuerySet[SuiteRun]:
    return SuiteRun.objects.for_display().prefetch_related(
        Prefetch("run_results", queryset=SuiteRunResult.objects.select_related("result"))
    )


class SuiteList(generics.ListAPIView[EvalSuite]):
    """Evaluation suites with their targets, schedule and latest run."""

    actions = {"GET": "evidence.view"}
    serializer_class = SuiteSerializer

    def get_queryset(self) -> QuerySet[EvalSuite]:
        return suite_list_queryset()


class SuiteRunRequest(APIView):
    """Queue a run of the suite on a target model's latest checkpoint (202 with the run)."""

    actions = {"POST": "suite.run"}
    parser_classes = [FloatJSONParser]

    def get_authenticators(self) -> list[BaseAuthentication]:
        # The key's stored answer is read in the bearer token's statement (ADR 0056).
        return authenticators_with(key_rider)

    @extend_schema(
        request=RunRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: SuiteRunSerializer,
            404: OpenApiResponse(description="no such suite"),
            409: OpenApiResponse(description="disabled suite, or a model without checkpoint"),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        suite = get_object_or_404(EvalSuite, slug=slug)
        data = request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        slug_value = data.get("model")
        model = (
            AIModel.objects.filter(slug=slug_value).first() if isinstance(slug_value, str) else None
        )
        if model is None:
            raise exceptions.ValidationError({"model": [f"Unknown model {slug_value!r:.100}."]})

        def effect() -> tuple[int, Any]:
            run = services.request_run(
                suite,
                model,
                actor=request.user,
                trigger=SuiteRun.Trigger.API,
                via=via_for(request),
            )
            return status.HTTP_202_ACCEPTED, SuiteRunSerializer(run_queryset().get(pk=run.pk)).data

        return idempotent(request, effect, ridden_answer(request), within=audit.batch)


class RunDetail(generics.RetrieveAPIView[SuiteRun]):
    """One suite run: status, attempts, progress, error, log excerpt and its results."""

    actions = {"GET": "evidence.view"}
    serializer_class = SuiteRunSerializer

    def get_queryset(self) -> QuerySet[SuiteRun]:
        return run_queryset()
