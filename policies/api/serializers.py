"""Serializers of the policy API. The policy shape is a pack (docs/policy-packs.md) plus id,
status and hash; instances are the plain dicts built by ``policies.services`` so the page, the
API and exported packs can never disagree."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from policies.models import (
    ActivationSignature,
    ActivationVerdict,
    CapabilityThreshold,
    PolicyActivation,
    PolicyVersion,
    Standard,
)


class SourceSerializer(serializers.Serializer[dict[str, Any]]):
    publisher = serializers.CharField()
    framework = serializers.CharField()
    version = serializers.CharField()
    date = serializers.CharField()
    url = serializers.CharField()
    document = serializers.CharField(allow_blank=True)
    notes = serializers.ListField(child=serializers.CharField())
    changes = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        required=False,
        help_text="What this version's text changed from the previous version: change, "
        "direction (loosening, tightening, mixed, neutral) and the section (source).",
    )


class SettingsSerializer(serializers.Serializer[dict[str, Any]]):
    baseline_level = serializers.CharField()
    baseline_standards = serializers.ListField(child=serializers.CharField())
    effective_compute_multiple = serializers.FloatField()
    months_between_assessments = serializers.IntegerField()
    safeguard_reapproval_months = serializers.IntegerField()
    warning_behaviour = serializers.ChoiceField(choices=PolicyVersion.WarningBehaviour.choices)
    uncertainty_z = serializers.FloatField(
        help_text="Standard errors added toward 'more capable' before a result meets a line."
    )
    signoff_titles = serializers.ListField(child=serializers.CharField())
    advisory_titles = serializers.ListField(
        child=serializers.CharField(),
        help_text="Titles whose recommendation is recorded in a dossier without being required.",
    )
    sources = serializers.DictField(
        child=serializers.CharField(),
        help_text="For each setting, the section of the framework's text, or 'pack choice'.",
    )


class LevelSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    rank = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class RequirementSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    title = serializers.CharField()
    evidence = serializers.CharField(allow_blank=True)
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class StandardSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    level = serializers.CharField()
    kind = serializers.ChoiceField(choices=Standard.Kind.choices)
    includes = serializers.ListField(child=serializers.CharField())
    requirements = RequirementSerializer(many=True)
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class DomainSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class MetricSerializer(serializers.Serializer[dict[str, Any]]):
    key = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField(allow_null=True)
    min = serializers.FloatField()
    max = serializers.FloatField()
    higher_is_more_capable = serializers.BooleanField()
    domain = serializers.CharField(allow_null=True)
    min_samples = serializers.IntegerField(
        allow_null=True,
        help_text="Results from fewer samples can show a crossing, never that a model is below.",
    )
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class RequiresSerializer(serializers.Serializer[dict[str, Any]]):
    scaling = serializers.ListField(child=serializers.CharField())
    deployment = serializers.ListField(child=serializers.CharField())
    internal_deployment = serializers.ListField(
        child=serializers.CharField(),
        help_text="Standards required before internal use; the gate adds them to deployment.",
    )


class IndicatorSerializer(serializers.Serializer[dict[str, Any]]):
    metric = serializers.CharField()
    warning = serializers.FloatField(allow_null=True)
    critical = serializers.FloatField()
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class ThresholdSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    domain = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    tier = serializers.ChoiceField(choices=CapabilityThreshold.Tier.choices)
    halt = serializers.BooleanField(
        help_text="Once crossed, no safeguard lets scaling or deployment continue."
    )
    requires = RequiresSerializer()
    indicators = IndicatorSerializer(many=True)
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class ExternalReviewSerializer(serializers.Serializer[dict[str, object]]):
    approved_by = serializers.CharField(
        allow_null=True, help_text="the title that approves each outside reviewer first"
    )
    access_commitment = serializers.CharField(
        allow_null=True, help_text="the commitment a grant of access to such a report keeps"
    )
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class ReportKindSerializer(serializers.Serializer[dict[str, object]]):
    code = serializers.CharField()
    name = serializers.CharField()
    signoff_titles = serializers.ListField(child=serializers.CharField())
    required_for = serializers.ListField(child=serializers.CharField())
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )
    external_review = ExternalReviewSerializer(allow_null=True, required=False)


class CommitmentSerializer(serializers.Serializer[dict[str, object]]):
    code = serializers.CharField()
    text = serializers.CharField()
    trigger = serializers.CharField()
    report_kind = serializers.CharField(allow_null=True)
    deadline_days = serializers.IntegerField(allow_null=True)
    gating = serializers.BooleanField()
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class NoncomplianceRecipientSerializer(serializers.Serializer[dict[str, object]]):
    title = serializers.CharField(
        help_text="Holders of this title receive noncompliance reports and see who sent them."
    )
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The section of the framework's text this comes from, or 'pack choice'."
    )


class PolicySerializer(serializers.Serializer[dict[str, Any]]):
    """``GET /api/v1/policy/`` and ``GET /api/v1/policy/versions/{id}/``."""

    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.ChoiceField(choices=PolicyVersion.Status.choices)
    content_sha256 = serializers.CharField()
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = SourceSerializer()  # type: ignore[assignment]
    disclaimer = serializers.CharField()
    settings = SettingsSerializer()
    levels = LevelSerializer(many=True)
    standards = StandardSerializer(many=True)
    domains = DomainSerializer(many=True)
    metrics = MetricSerializer(many=True)
    thresholds = ThresholdSerializer(many=True)
    family = serializers.CharField(allow_null=True)
    report_kinds = ReportKindSerializer(many=True)
    commitments = CommitmentSerializer(many=True)
    noncompliance_recipients = NoncomplianceRecipientSerializer(many=True)


class VersionSummarySerializer(serializers.ModelSerializer[PolicyVersion]):
    """A row of the version history."""

    created_by = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="username", read_only=True, allow_null=True
    )
    activated_by = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = PolicyVersion
        fields = [
            "id",
            "key",
            "name",
            "version",
            "status",
            "content_sha256",
            "created_at",
            "created_by",
            "activated_at",
            "activated_by",
        ]
        read_only_fields = fields


class ChangeSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=["added", "removed", "changed"])
    section = serializers.CharField()
    key = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    loosening = serializers.BooleanField()
    why = serializers.CharField()
    pack_choice = serializers.BooleanField(
        help_text="Both sides are the pack author's choice, not the framework's text."
    )
    # DRF's metaclass pops declared fields, so this does not shadow Field.source at runtime.
    source = serializers.CharField(  # type: ignore[assignment]
        allow_blank=True, help_text="The section of the text the changed item cites."
    )


class DiffSummarySerializer(serializers.Serializer[dict[str, Any]]):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    changed = serializers.IntegerField()
    loosenings = serializers.IntegerField()


class FrameworkDomainSerializer(serializers.Serializer[dict[str, Any]]):
    """One risk category on both sides of a cross-framework diff (null: not covered)."""

    category = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # popped by the metaclass
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class FrameworkSummarySerializer(serializers.Serializer[dict[str, Any]]):
    changes = serializers.IntegerField()
    loosenings = serializers.IntegerField()


class FrameworkDiffSerializer(serializers.Serializer[dict[str, Any]]):
    """``policies.framework_diff.FrameworkDiff``: by risk domain, loosenings flagged."""

    old_framework = serializers.CharField()
    new_framework = serializers.CharField()
    domains = FrameworkDomainSerializer(many=True)
    changes = ChangeSerializer(many=True)
    summary = FrameworkSummarySerializer()


class DiffSerializer(serializers.Serializer[dict[str, Any]]):
    """``GET /api/v1/policy/diff/?from=&to=``."""

    from_version = VersionSummarySerializer()
    to_version = VersionSummarySerializer()
    summary = DiffSummarySerializer()
    changes = ChangeSerializer(many=True)
    # Present (not null) when the two versions model different frameworks.
    framework = FrameworkDiffSerializer(allow_null=True)


class ActivationApprovalSerializer(serializers.Serializer[dict[str, Any]]):
    title = serializers.CharField()
    user = serializers.CharField()
    at = serializers.DateTimeField()


class ActivationStatusSerializer(serializers.Serializer[dict[str, Any]]):
    """The sign-off rule of the policy in force applied to a draft's activation."""

    activation = serializers.IntegerField(
        allow_null=True, help_text="The pending activation (``/api/v1/policy-activations/{id}/``)"
    )
    rule_version = serializers.IntegerField(allow_null=True)
    required_titles = serializers.ListField(child=serializers.CharField())
    approvals = ActivationApprovalSerializer(many=True)
    pending_titles = serializers.ListField(child=serializers.CharField())


class ActivationSerializer(VersionSummarySerializer):
    """``POST /api/v1/policy/versions/{id}/activate/``: the version and its sign-off."""

    activation = ActivationStatusSerializer()

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "activation"]
        read_only_fields = fields


class ActivationSignatureSerializer(serializers.Serializer[ActivationSignature]):
    title = serializers.CharField()
    verdict = serializers.ChoiceField(choices=ActivationVerdict.choices)
    signer = serializers.CharField(source="signer.username")
    dossier_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class PolicyActivationSerializer(serializers.ModelSerializer[PolicyActivation]):
    """An activation under the sign-off rule in force: its dossier, hash and signatures."""

    signatures = ActivationSignatureSerializer(many=True, read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    open_titles = serializers.SerializerMethodField()

    class Meta:
        model = PolicyActivation
        fields = [
            "id",
            "version",
            "previous",
            "status",
            "origin",
            "required_titles",
            "open_titles",
            "content_sha256",
            "dossier",
            "dossier_sha256",
            "requested_by",
            "requested_at",
            "decided_at",
            "signatures",
        ]
        read_only_fields = fields

    def get_open_titles(self, obj: PolicyActivation) -> list[str]:
        return obj.open_titles(list(obj.signatures.all()))


class ActivationRequestSerializer(serializers.Serializer[dict[str, int]]):
    version = serializers.IntegerField()


class ActivationSignSerializer(serializers.Serializer[dict[str, str]]):
    verdict = serializers.ChoiceField(choices=ActivationVerdict.choices)
    dossier_sha256 = serializers.CharField(max_length=64)
