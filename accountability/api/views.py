"""REST API of accountability: reports, commitments, the late-evaluation register."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accountability import commitments, late, reports, reviews
from accountability.api import serializers as s
from accountability.commitments import DueItem
from accountability.models import Report, ReviewerGrant
from core.models import Role, User
from evaluations.models import AIModel
from policies.models import PolicyVersion
from rsp_portal.authz import can

if TYPE_CHECKING:
    from rsp_portal.types import Actor


def report_queryset(user: Actor) -> QuerySet[Report]:
    """The reports ``user`` may read (reviewers: those their grants name), fully loaded."""
    return (
        reviews.visible_reports(user)
        .select_related("model", "created_by")
        .prefetch_related("signatures__signer", "redactions__redacted_by", "reviews__reviewer")
    )


def _model_or_none(slug: object) -> AIModel | None:
    if slug in (None, ""):
        return None
    model = AIModel.objects.filter(slug=slug).first() if isinstance(slug, str) else None
    if model is None:
        raise ValidationError({"model": [f"Unknown model {slug!r}."]})
    return model


class ReportListView(generics.ListAPIView[Report]):
    """Reports, newest first; POST drafts one from the record."""

    actions = {"GET": "report.read", "POST": "report.write"}
    serializer_class = s.ReportSerializer
    filterset_fields = ["status", "kind"]

    def get_queryset(self) -> QuerySet[Report]:
        return report_queryset(self.request.user)

    @extend_schema(request=s.ReportCreateSerializer, responses={201: s.ReportSerializer})
    def post(self, request: Request) -> Response:
        body = s.ReportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        report = reports.create_report(
            data["kind"],
            _model_or_none(data.get("model")),
            data["title"],
            data["sections"],
            request.user,
        )
        return Response(
            s.ReportSerializer(report_queryset(request.user).get(pk=report.pk)).data, status=201
        )


class ReportDetailView(generics.RetrieveAPIView[Report]):
    actions = {"GET": "report.read"}
    serializer_class = s.ReportSerializer

    def get_queryset(self) -> QuerySet[Report]:
        return report_queryset(self.request.user)


class ReportReviseView(APIView):
    actions = {"POST": "report.write"}

    @extend_schema(request=s.ReportReviseSerializer, responses={201: s.ReportSerializer})
    def post(self, request: Request, pk: int) -> Response:
        body = s.ReportReviseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = get_object_or_404(Report, pk=pk)
        new = reports.revise_report(
            report, body.validated_data["title"], body.validated_data["sections"], request.user
        )
        return Response(
            s.ReportSerializer(report_queryset(request.user).get(pk=new.pk)).data, status=201
        )


class ReportSignView(APIView):
    actions = {"POST": "report.sign"}

    @extend_schema(request=s.ReportSignSerializer, responses=s.ReportSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = s.ReportSignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = get_object_or_404(Report, pk=pk)
        data = body.validated_data
        reports.sign_report(
            report, data["verdict"], data["snapshot_sha256"], data["comment"], request.user
        )
        return Response(s.ReportSerializer(report_queryset(request.user).get(pk=pk)).data)


class ReportPublishView(APIView):
    actions = {"POST": "report.publish"}

    @extend_schema(request=s.ReportPublishSerializer, responses=s.ReportSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = s.ReportPublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = get_object_or_404(Report, pk=pk)
        reports.publish_report(report, body.validated_data.get("redactions", []), request.user)
        return Response(s.ReportSerializer(report_queryset(request.user).get(pk=pk)).data)


def item_dict(item: DueItem, now: datetime) -> dict[str, Any]:
    f = item.fulfilment
    return {
        "id": item.key,
        "code": item.code,
        "text": item.text,
        "trigger": item.trigger,
        "gating": item.gating,
        "source": item.source,
        "model": item.model_slug,
        "subject": item.subject_label,
        "due_at": item.due_at,
        "status": item.status(now),
        "days_late": round(item.days_late(now), 2),
        "fulfilled_at": f.fulfilled_at if f else None,
        "fulfilled_by": f.fulfilled_by.username if f else None,
        "evidence_url": f.evidence_url if f else "",
    }


def _items(request: Request) -> list[DueItem]:
    version_id = request.query_params.get("policy_version")
    version: PolicyVersion | None
    if version_id:
        if not version_id.isdigit():
            raise ValidationError({"policy_version": ["A policy version id."]})
        version = get_object_or_404(PolicyVersion, pk=int(version_id))
    else:
        version = reports.active_version()
    if version is None:
        return []
    return commitments.due_items(version, model=_model_or_none(request.query_params.get("model")))


class CommitmentListView(APIView):
    """The policy's commitments: each due item, open, late or fulfilled; late ones first."""

    actions = {"GET": "commitment.view"}

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, description="a model slug"),
            OpenApiParameter("policy_version", int, description="default: the active version"),
        ],
        responses=s.CommitmentItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        items = commitments.late_first(_items(request), now)
        rows: Any = [item_dict(i, now) for i in items]
        return Response(s.CommitmentItemSerializer(rows, many=True).data)


class CommitmentFulfilView(APIView):
    actions = {"POST": "commitment.fulfil"}

    @extend_schema(request=s.FulfilSerializer, responses={201: s.CommitmentItemSerializer})
    def post(self, request: Request, key: str) -> Response:
        body = s.FulfilSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        commitments.fulfil(
            key, body.validated_data["evidence_url"], body.validated_data["notes"], request.user
        )
        item = commitments.find_item(key)
        return Response(
            s.CommitmentItemSerializer(item_dict(item, timezone.now())).data, status=201
        )


class LateEvaluationView(APIView):
    """A model's late-evaluation register: each evaluation that fell due and how late."""

    actions = {"GET": "evidence.view"}

    @extend_schema(responses=s.LateEvaluationSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        model = get_object_or_404(AIModel, slug=slug)
        now = timezone.now()
        return Response([e.to_dict(now) for e in late.register([model])])


class ReportReviewView(APIView):
    """An external reviewer records a review of a report a grant in force names."""

    actions = {"POST": "review.write"}

    @extend_schema(request=s.ReviewInputSerializer, responses={201: s.ReviewSerializer})
    def post(self, request: Request, pk: int) -> Response:
        body = s.ReviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = get_object_or_404(reviews.visible_reports(request.user), pk=pk)
        review = reviews.record_review(
            report,
            body.validated_data["body"],
            body.validated_data["snapshot_sha256"],
            request.user,
        )
        return Response(s.ReviewSerializer(review).data, status=201)


def grant_queryset(user: Actor) -> QuerySet[ReviewerGrant]:
    """Every grant for the lab's readers; a reviewer's own grants for a reviewer."""
    rows = ReviewerGrant.objects.select_related("reviewer", "model", "granted_by", "approved_by")
    return rows if can(user, "report.view") else rows.filter(reviewer_id=getattr(user, "pk", None))


class GrantListView(generics.ListAPIView[ReviewerGrant]):
    """Reviewer grants, newest first; POST grants an external reviewer access for a period."""

    actions = {"GET": "review.view", "POST": "review.grant"}
    serializer_class = s.GrantSerializer

    def get_queryset(self) -> QuerySet[ReviewerGrant]:
        return grant_queryset(self.request.user)

    def get_serializer_context(self) -> dict[str, object]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(request=s.GrantInputSerializer, responses={201: s.GrantSerializer})
    def post(self, request: Request) -> Response:
        body = s.GrantInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reviewer = User.objects.filter(username=data["reviewer"], role=Role.REVIEWER).first()
        report = None
        if data.get("report") is not None:
            report = Report.objects.filter(pk=data["report"]).first()
            if report is None:
                raise ValidationError({"report": [f"No report #{data['report']}."]})
        grant = reviews.grant_access(
            reviewer,
            report=report,
            model=_model_or_none(data.get("model")),
            organisation=data["organisation"],
            days=data["days"],
            actor=request.user,
        )
        return Response(s.GrantSerializer(grant, context={"now": timezone.now()}).data, status=201)


class GrantDecideView(APIView):
    """``approve`` or ``refuse`` a pending grant (a holder of its approval title), or ``end``
    one early (leadership)."""

    actions = {"POST": "review.grant"}
    VERBS = {
        "approve": reviews.approve_grant,
        "refuse": reviews.refuse_grant,
        "end": reviews.end_grant,
    }

    @extend_schema(
        operation_id="reviewer_grants_decide",
        request=None,
        responses=s.GrantSerializer,
        parameters=[
            OpenApiParameter("verb", str, OpenApiParameter.PATH, enum=["approve", "refuse", "end"])
        ],
    )
    def post(self, request: Request, pk: int, verb: str) -> Response:
        act = self.VERBS.get(verb)
        if act is None:
            raise ValidationError({"verb": ["One of approve, refuse, end."]})
        grant = act(get_object_or_404(ReviewerGrant, pk=pk), request.user)
        return Response(s.GrantSerializer(grant, context={"now": timezone.now()}).data)
