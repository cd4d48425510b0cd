"""Reports and commitments over the API: explicit fields, natural keys."""

from __future__ import annotations

from rest_framework import serializers

from accountability.models import Redaction, Report, ReportSignature, Review, ReviewerGrant
from evaluations.models import AIModel


class SectionSerializer(serializers.Serializer[dict[str, str]]):
    heading = serializers.CharField()
    body = serializers.CharField(allow_blank=True)


class SignatureSerializer(serializers.ModelSerializer[ReportSignature]):
    user = serializers.CharField(source="signer.username", read_only=True)
    at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ReportSignature
        fields = ["title", "user", "verdict", "snapshot_sha256", "comment", "at"]


class RedactionSerializer(serializers.ModelSerializer[Redaction]):
    by = serializers.CharField(source="redacted_by.username", read_only=True)

    class Meta:
        model = Redaction
        fields = ["section", "heading", "reason", "by", "created_at"]


class ReviewSerializer(serializers.ModelSerializer[Review]):
    """An external review: advisory, never a signature."""

    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    advisory = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "id",
            "report",
            "reviewer",
            "organisation",
            "body",
            "snapshot_sha256",
            "created_at",
            "advisory",
        ]

    def get_advisory(self, obj: Review) -> bool:
        return True


class ReportSerializer(serializers.ModelSerializer[Report]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    sections = SectionSerializer(many=True, read_only=True)
    signatures = SignatureSerializer(many=True, read_only=True)
    redactions = RedactionSerializer(many=True, read_only=True)
    reviews = ReviewSerializer(many=True, read_only=True)
    supersedes: serializers.PrimaryKeyRelatedField[Report] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "kind",
            "kind_name",
            "model",
            "policy_version",
            "title",
            "version",
            "supersedes",
            "status",
            "sections",
            "snapshot",
            "snapshot_sha256",
            "required_titles",
            "signatures",
            "redactions",
            "reviews",
            "public_sections",
            "created_by",
            "created_at",
            "signed_at",
            "published_at",
        ]


class ReportCreateSerializer(serializers.Serializer[dict[str, object]]):
    kind = serializers.CharField(help_text="a report kind code of the active policy")
    model = serializers.CharField(
        required=False, allow_null=True, help_text="model slug; none for a policy-wide report"
    )
    title = serializers.CharField()
    sections = SectionSerializer(many=True)


class ReportReviseSerializer(serializers.Serializer[dict[str, object]]):
    title = serializers.CharField()
    sections = SectionSerializer(many=True)


class ReportSignSerializer(serializers.Serializer[dict[str, object]]):
    snapshot_sha256 = serializers.CharField()
    verdict = serializers.ChoiceField(choices=ReportSignature.Verdict.choices, default="approve")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class RedactionInputSerializer(serializers.Serializer[dict[str, object]]):
    section = serializers.IntegerField(min_value=0)
    reason = serializers.CharField()


class ReportPublishSerializer(serializers.Serializer[dict[str, object]]):
    redactions = RedactionInputSerializer(many=True, required=False)


class CommitmentItemSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.CharField(help_text="<policy version>.<code>.<subject type>.<subject id>")
    code = serializers.CharField()
    text = serializers.CharField()
    trigger = serializers.CharField()
    gating = serializers.BooleanField()
    # A field named like DRF's Field.source attribute: declared fields are popped off the class.
    source = serializers.CharField()  # type: ignore[assignment]
    model = serializers.CharField(allow_null=True)
    subject = serializers.CharField()
    due_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=["open", "late", "fulfilled", "fulfilled_late"])
    days_late = serializers.FloatField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    fulfilled_by = serializers.CharField(allow_null=True)
    evidence_url = serializers.CharField(allow_blank=True)


class FulfilSerializer(serializers.Serializer[dict[str, object]]):
    evidence_url = serializers.URLField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class LateEvaluationSerializer(serializers.Serializer[dict[str, object]]):
    model = serializers.CharField()
    trigger = serializers.CharField()
    fell_due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    days_late = serializers.FloatField()
    open = serializers.BooleanField()


class ReviewInputSerializer(serializers.Serializer[dict[str, object]]):
    body = serializers.CharField(
        max_length=50_000, help_text="the review, Markdown (rendered sanitised)"
    )
    snapshot_sha256 = serializers.CharField(help_text="the snapshot hash of the report you read")


class GrantSerializer(serializers.ModelSerializer[ReviewerGrant]):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    granted_by = serializers.CharField(source="granted_by.username", read_only=True)
    approved_by = serializers.CharField(
        source="approved_by.username", read_only=True, allow_null=True
    )
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = ReviewerGrant
        fields = [
            "id",
            "reviewer",
            "organisation",
            "report",
            "model",
            "days",
            "approval_title",
            "status",
            "granted_by",
            "granted_at",
            "approved_by",
            "approved_at",
            "starts_at",
            "ends_at",
            "in_force",
        ]

    def get_in_force(self, obj: ReviewerGrant) -> bool:
        return obj.in_force_at(self.context["now"])


class GrantInputSerializer(serializers.Serializer[dict[str, object]]):
    reviewer = serializers.CharField(help_text="username of an account in the reviewer role")
    organisation = serializers.CharField(
        max_length=200, help_text="the outside body the reviewer reviews for"
    )
    report = serializers.IntegerField(required=False, allow_null=True, help_text="a report id")
    model = serializers.CharField(
        required=False, allow_null=True, help_text="a model slug: access to its reports"
    )
    days = serializers.IntegerField(
        min_value=1, max_value=366, help_text="how long the access lasts (1-366 days)"
    )
