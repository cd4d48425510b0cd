"""Policy API: the active policy, the version history, diffs and activation."""

from __future__ import annotations

import threading
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from policies import activation, services
from policies.api.serializers import (
    ActivationRequestSerializer,
    ActivationSerializer,
    ActivationSignSerializer,
    DiffSerializer,
    PolicyActivationSerializer,
    PolicySerializer,
    VersionSummarySerializer,
)
from policies.diff import diff_policies
from policies.framework_diff import diff_frameworks, is_cross_framework
from policies.models import PolicyActivation, PolicyVersion, active_ref
from rsp_portal.api import via_for
from rsp_portal.errors import NotFoundError


def _policy(version: PolicyVersion) -> dict[str, Any]:
    return PolicySerializer(services.api_representation(version)).data


class ActivePolicyView(APIView):
    """The policy in force, in the shape of a policy pack plus ``id``, ``status`` and hash."""

    actions = {"GET": "policy.view"}

    @extend_schema(responses={200: PolicySerializer}, summary="The active policy version")
    def get(self, request: Request) -> Response:
        ref = active_ref()
        if ref is None:
            raise exceptions.NotFound(
                "No policy version is active: every gate is paused (no_active_policy) until "
                "leadership activates one."
            )
        return Response(_cached_policy(ref))


# An active or superseded version is immutable, so its representation keyed by (id, content
# hash, status) never goes stale: the active policy costs one query instead of eight plus the
# serialisation. Bounded: a handful of versions per process.
_REPRESENTATIONS: dict[tuple[int, str, str], dict[str, Any]] = {}
_REPRESENTATIONS_LOCK = threading.Lock()


def _cached_policy(ref: tuple[int, str, str]) -> dict[str, Any]:
    with _REPRESENTATIONS_LOCK:
        cached = _REPRESENTATIONS.get(ref)
    if cached is not None:
        return cached
    version = services.version_with_children(ref[0])
    if version is None:  # deleted draft race: answer uncached
        raise exceptions.NotFound("No policy version is active.")
    data = _policy(version)
    if (version.content_sha256, version.status) == ref[1:]:
        with _REPRESENTATIONS_LOCK:
            if len(_REPRESENTATIONS) > 8:
                _REPRESENTATIONS.clear()
            _REPRESENTATIONS[ref] = data
    return data


class PolicyVersionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[PolicyVersion]):
    """Every policy version, newest first; one version in full; activation of a draft."""

    queryset = PolicyVersion.objects.for_listing()
    serializer_class = VersionSummarySerializer
    filterset_fields = ["status", "key"]
    actions = {"list": "policy.view", "retrieve": "policy.view", "activate": "policy.activate"}

    @extend_schema(responses={200: PolicySerializer}, summary="One policy version in full")
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        version = services.version_with_children(int(pk)) if pk and pk.isdigit() else None
        if version is None:
            raise exceptions.NotFound("No such policy version.")
        return Response(_policy(version))

    @extend_schema(
        request=None,
        responses={200: ActivationSerializer, 202: ActivationSerializer},
        summary=(
            "Approve activating a draft as a sign-off title of the policy in force; the "
            "last title needed activates it (200), before that the draft stays a draft (202)"
        ),
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        version = activation.approve_activation(version, request.user, via=via_for(request))
        version.refresh_from_db()
        payload = {
            **VersionSummarySerializer(version).data,
            "activation": activation.activation_status(version),
        }
        code = status.HTTP_202_ACCEPTED if version.is_draft else status.HTTP_200_OK
        return Response(payload, status=code)


class PolicyDiffView(APIView):
    """What changed from one version to another, every loosening flagged with why."""

    actions = {"GET": "policy.view"}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, required=True, description="old version id"),
            OpenApiParameter("to", OpenApiTypes.INT, required=True, description="new version id"),
        ],
        responses={200: DiffSerializer},
        summary="Diff two policy versions",
    )
    def get(self, request: Request) -> Response:
        errors: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        versions: dict[str, PolicyVersion] = {}
        for name in ("from", "to"):
            raw = request.query_params.get(name, "").strip()
            if not raw:
                errors[name] = ["This parameter is required: a policy version id."]
            elif not raw.isdigit():
                errors[name] = [f"Must be a policy version id, got {raw!r}."]
            else:
                found = services.version_with_children(int(raw))
                if found is None:
                    missing[name] = [f"No policy version #{raw}."]
                else:
                    versions[name] = found
        if errors:
            raise exceptions.ValidationError(errors)
        if missing:
            raise NotFoundError(missing)
        old, new = versions["from"], versions["to"]
        old_pack, new_pack = services.to_pack(old), services.to_pack(new)
        result = diff_policies(old_pack, new_pack).to_dict()
        payload = {
            # Instances, not their .data: the serializer below renders them (a rendered
            # version has a username where ``activated_by`` expects a user).
            "from_version": old,
            "to_version": new,
            "summary": result["summary"],
            "changes": result["changes"],
            "framework": (
                diff_frameworks(old_pack, new_pack).to_dict()
                if is_cross_framework(old_pack, new_pack)
                else None
            ),
        }
        return Response(DiffSerializer(payload).data)


def _activations() -> QuerySet[PolicyActivation]:
    return PolicyActivation.objects.select_related("requested_by").prefetch_related(
        "signatures__signer"
    )


class PolicyActivationList(APIView):
    """Activations under the sign-off rule in force, newest first; POST requests one for a
    draft that loosens the policy in force (the requester does not sign it)."""

    actions = {"GET": "policy.view", "POST": "policy.activate"}

    @extend_schema(responses=PolicyActivationSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = _activations().order_by("-requested_at", "-pk")[:100]
        return Response(PolicyActivationSerializer(rows, many=True).data)

    @extend_schema(request=ActivationRequestSerializer, responses={201: PolicyActivationSerializer})
    def post(self, request: Request) -> Response:
        body = ActivationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = PolicyVersion.objects.filter(pk=body.validated_data["version"]).first()
        if version is None:
            raise exceptions.ValidationError({"version": ["No such policy version."]})
        created = activation.request_activation(version, request.user, via=via_for(request))
        return Response(
            PolicyActivationSerializer(_activations().get(pk=created.pk)).data, status=201
        )


class PolicyActivationDetail(APIView):
    """One activation: its dossier (the diff, loosenings listed), hash and signatures."""

    actions = {"GET": "policy.view"}

    @extend_schema(responses=PolicyActivationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        row = _activations().filter(pk=pk).first()
        if row is None:
            raise exceptions.NotFound("No such activation.")
        return Response(PolicyActivationSerializer(row).data)


class PolicyActivationSign(APIView):
    """Approve or reject a pending activation as one of the titles it needs, naming the
    dossier hash shown; the last approval activates the version."""

    actions = {"POST": "policy.activate"}

    @extend_schema(request=ActivationSignSerializer, responses=PolicyActivationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = ActivationSignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not PolicyActivation.objects.filter(pk=pk).exists():
            raise exceptions.NotFound("No such activation.")
        activation.sign_activation(
            pk,
            request.user,
            body.validated_data["verdict"],
            body.validated_data["dossier_sha256"],
            via=via_for(request),
        )
        return Response(PolicyActivationSerializer(_activations().get(pk=pk)).data)
