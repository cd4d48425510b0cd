from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import activation
from core.models import ApiToken, PolicyActivation, User


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


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


class PolicyActivationSerializer(serializers.ModelSerializer[PolicyActivation]):
    signatures = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)

    class Meta:
        model = PolicyActivation
        fields = [
            "id",
            "version",
            "previous",
            "status",
            "required_titles",
            "dossier",
            "dossier_sha256",
            "requested_by",
            "requested_at",
            "decided_at",
            "signatures",
        ]

    def get_signatures(self, obj: PolicyActivation) -> list[dict[str, str]]:
        return [
            {"title": s.title, "verdict": s.verdict, "signer": s.signer.username}
            for s in obj.signatures.all()
        ]


class ActivationRequestSerializer(serializers.Serializer[dict[str, int]]):
    version = serializers.IntegerField()


class ActivationSignSerializer(serializers.Serializer[dict[str, str]]):
    verdict = serializers.ChoiceField(choices=["approve", "reject"])
    dossier_sha256 = serializers.CharField(max_length=64)


def _via(request: Request) -> str:
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return f"token:{token.key_id}" if token else "session"


class PolicyActivationList(APIView):
    """Pending and past activations of loosening policy versions; POST requests one."""

    actions = {"GET": "governance.view", "POST": "policy.activate"}

    @extend_schema(responses=PolicyActivationSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = (
            PolicyActivation.objects.select_related("requested_by")
            .prefetch_related("signatures__signer")
            .order_by("-requested_at")[:100]
        )
        return Response(PolicyActivationSerializer(rows, many=True).data)

    @extend_schema(request=ActivationRequestSerializer, responses={201: PolicyActivationSerializer})
    def post(self, request: Request) -> Response:
        from policies.models import PolicyVersion

        body = ActivationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = PolicyVersion.objects.filter(pk=body.validated_data["version"]).first()
        if version is None:
            raise exceptions.NotFound("No such policy version.")
        try:
            created = activation.request_activation(version, request.user, via=_via(request))
        except activation.ActivationSignoffError as exc:
            raise Conflict(str(exc)) from None
        return Response(PolicyActivationSerializer(created).data, status=201)


class PolicyActivationSign(APIView):
    """Approve or reject a pending activation as one of the titles it needs."""

    actions = {"POST": "decision.sign"}

    @extend_schema(request=ActivationSignSerializer, responses=PolicyActivationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        body = ActivationSignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not PolicyActivation.objects.filter(pk=pk).exists():
            raise exceptions.NotFound("No such activation.")
        try:
            signed = activation.sign_activation(
                pk,
                request.user,
                body.validated_data["verdict"],
                body.validated_data["dossier_sha256"],
                via=_via(request),
            )
        except activation.ActivationSignoffError as exc:
            raise Conflict(str(exc)) from None
        return Response(PolicyActivationSerializer(signed).data)
