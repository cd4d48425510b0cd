from __future__ import annotations

import math
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from core.models import User
from evaluations.models import AIModel
from governance.models import (
    Approval,
    GateStatus,
    GateTransition,
    Precaution,
    SafeguardRecord,
    SafeguardState,
    ScalingDecision,
    Scope,
)
from policies.models import PolicyVersion
from rsp_portal.datetimes import BoundedDateTimeField


class FiniteFloatField(serializers.FloatField):
    """A JSON number that must be finite (NaN and infinities are refused)."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, (bool, str)):
            raise serializers.ValidationError("Must be a JSON number.")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


class GateQuerySerializer(serializers.Serializer[dict[str, Any]]):
    scope = serializers.ChoiceField(choices=Scope.choices, default=Scope.SCALING)
    compute = FiniteFloatField(required=False, min_value=0)
    as_of = BoundedDateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "as_of" in attrs and "compute" in attrs:
            raise serializers.ValidationError(
                {"as_of": ["Give either as_of (the gate as it stood) or compute, not both."]}
            )
        as_of = attrs.get("as_of")
        if as_of is not None and as_of.tzinfo is None:
            raise serializers.ValidationError({"as_of": ["Must include a time zone, e.g. Z."]})
        if as_of is not None and as_of > timezone.now():
            raise serializers.ValidationError(
                {"as_of": ["Must not be in the future: the record answers for the past only."]}
            )
        return attrs

    def to_internal_value(self, data: Any) -> Any:
        # A parameter given twice (``?scope=a&scope=b``) or empty (``?scope=``) is refused:
        # taking the last one, or the default, would answer a question nobody asked.
        errors: dict[str, list[str]] = {}
        for key in ("scope", "compute", "as_of"):
            values = data.getlist(key) if hasattr(data, "getlist") else [data.get(key)]
            if key not in data:
                continue
            if len(values) > 1:
                errors[key] = [f"Give {key} once, not {len(values)} times."]
            elif not str(values[0] if values[0] is not None else "").strip():
                errors[key] = [f"Is empty; give a value or leave {key} out for the default."]
        if errors:
            raise serializers.ValidationError(errors)
        # Query strings carry text; accept numbers written as text here only.
        data = data.copy()
        if "compute" in data:
            try:
                data["compute"] = float(data["compute"])
            except (TypeError, ValueError):
                raise serializers.ValidationError(
                    {"compute": ["Must be a number of FLOP, e.g. 3e25."]}
                ) from None
        return super().to_internal_value(data)


class ReasonSerializer(serializers.Serializer[dict[str, Any]]):
    """One failed check (docs/how-the-gate-decides.md lists the codes); the other fields name
    its subject and are null when they do not apply."""

    code = serializers.CharField()
    message = serializers.CharField()
    threshold = serializers.CharField(
        allow_null=True,
        required=False,
        help_text=(
            "the threshold the reason is about (threshold_crossed, missing_evidence); on a "
            "safeguard reason, the crossing that raised its standard (null: the policy's "
            "baseline, or a verdict recorded before reasons named it)"
        ),
    )
    metric = serializers.CharField(allow_null=True, required=False)
    standard = serializers.CharField(allow_null=True, required=False)
    requirement = serializers.CharField(allow_null=True, required=False)
    checkpoint = serializers.CharField(allow_null=True, required=False)
    decision = serializers.IntegerField(allow_null=True, required=False)
    pause = serializers.IntegerField(allow_null=True, required=False)
    commitment = serializers.CharField(allow_null=True, required=False)


class GateSerializer(serializers.Serializer[dict[str, Any]]):
    """The gate answer: state, reasons and determinations (docs/how-the-gate-decides.md)."""

    model = serializers.CharField()
    scope = serializers.CharField()
    state = serializers.ChoiceField(choices=GateStatus.choices)
    reasons = ReasonSerializer(many=True)
    required_standards = serializers.ListField(child=serializers.CharField())
    required_level = serializers.CharField(allow_null=True)
    approved_compute_limit = serializers.FloatField(allow_null=True)
    approved_decision = serializers.IntegerField(allow_null=True)
    planned_compute = serializers.FloatField(allow_null=True)
    policy_version = serializers.CharField(allow_null=True)
    latest_checkpoint = serializers.CharField(
        allow_null=True,
        help_text="the largest checkpoint (by effective compute, whatever the registration order)",
    )
    evaluated_checkpoint = serializers.CharField(
        allow_null=True, help_text="the largest fully evaluated checkpoint"
    )
    last_full_evaluation_at = serializers.DateTimeField(allow_null=True)
    crossed_thresholds = serializers.ListField(child=serializers.CharField())
    warning = serializers.BooleanField()
    determinations = serializers.ListField(child=serializers.DictField())
    computed_at = serializers.DateTimeField()
    as_of = serializers.DateTimeField(required=False)


# One row of a checklist; the view serializes the whole list (``many=True``).
class SafeguardStatusSerializer(serializers.Serializer[list[dict[str, Any]]]):
    requirement_code = serializers.CharField()
    title = serializers.CharField()
    standards = serializers.ListField(child=serializers.CharField())
    required = serializers.BooleanField()  # type: ignore[assignment]
    status = serializers.CharField(allow_null=True)
    evidence_url = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)
    recorded_by = serializers.CharField(allow_null=True)
    recorded_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class SafeguardWriteSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=SafeguardState.choices)
    evidence_url = serializers.URLField(
        required=False, allow_blank=True, max_length=500, default=""
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A field the portal does not know (``expires``, ``verified_by``...) would be silently
        # ignored while its sender believes it recorded: refuse it, naming it.
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = sorted(set(given) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [f"Unknown field; allowed: {', '.join(sorted(self.fields))}."]
                    for name in unknown
                }
            )
        return attrs


class SafeguardRecordSerializer(serializers.ModelSerializer[SafeguardRecord]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    recorded_by: serializers.StringRelatedField[User] = serializers.StringRelatedField()

    class Meta:
        model = SafeguardRecord
        fields = [
            "model",
            "requirement_code",
            "status",
            "evidence_url",
            "notes",
            "recorded_by",
            "recorded_at",
        ]


class ApprovalSerializer(serializers.Serializer[Approval]):
    title = serializers.CharField()
    user = serializers.CharField(source="approver.username")
    verdict = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")
    comment = serializers.CharField()
    dossier_sha256 = serializers.CharField()


class DecisionSerializer(serializers.ModelSerializer[ScalingDecision]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    approvals = ApprovalSerializer(many=True, read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    policy_version: serializers.PrimaryKeyRelatedField[PolicyVersion] = (
        serializers.PrimaryKeyRelatedField(read_only=True)
    )

    class Meta:
        model = ScalingDecision
        fields = [
            "id",
            "model",
            "scope",
            "compute_limit",
            "lifts_precautions",
            "rationale",
            "status",
            "status_reason",
            "dossier",
            "dossier_sha256",
            "approvals",
            "required_titles",
            "policy_version",
            "requested_by",
            "requested_at",
            "expires_at",
            "decided_at",
        ]
        read_only_fields = fields


class DecisionCreateSerializer(serializers.Serializer[dict[str, Any]]):
    model = serializers.SlugField()
    scope = serializers.ChoiceField(choices=Scope.choices, default=Scope.SCALING)
    compute_limit = FiniteFloatField(
        min_value=0,
        required=False,
        help_text="FLOP; required for scaling, refused for deployment (a deployment decision "
        "names its checkpoints instead)",
    )
    checkpoints = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=100,
        help_text="deployment only, required there: the names of the model's checkpoints it "
        "deploys; a checkpoint it does not name is not covered",
    )
    rationale = serializers.CharField(max_length=10000)
    lifts_precautions = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=100, default=list
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            attrs.get("scope", Scope.SCALING) == Scope.SCALING
            and attrs.get("compute_limit") is None
        ):
            raise serializers.ValidationError(
                {"compute_limit": ["Required for a scaling decision (FLOP, e.g. 3e25)."]}
            )
        return attrs


class PrecautionSerializer(serializers.Serializer[Precaution]):
    id = serializers.IntegerField(read_only=True)
    model = serializers.CharField(source="model.slug", read_only=True)
    threshold = serializers.CharField(source="threshold_code", max_length=64)
    reason = serializers.CharField(max_length=10000)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    in_force = serializers.BooleanField(read_only=True)


class SignSerializer(serializers.Serializer[dict[str, Any]]):
    dossier_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        error_messages={"invalid": "Must be the 64-hex-digit SHA-256 of the dossier you reviewed."},
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class PauseSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=5000)


class PauseOutSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    model = serializers.CharField(source="model.slug")
    reason = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    gate = GateSerializer()


class TransitionSerializer(serializers.ModelSerializer[GateTransition]):
    class Meta:
        model = GateTransition
        fields = [
            "id",
            "scope",
            "from_state",
            "to_state",
            "reasons",
            "verdict",
            "cause",
            "created_at",
        ]
