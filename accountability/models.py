"""Reports and commitment fulfilments: accountability as records.

A **Report** is a document of a kind the policy names (``PolicyVersion.report_kinds``): a
frozen, hashed snapshot of the record plus authored sections. Its content never changes once
written: editing a draft writes a new version that supersedes it. Signatures sign the snapshot
hash; publishing derives the public edition by recorded redactions. A **CommitmentFulfilment**
records that a procedural commitment's due item (computed from events by
``accountability.commitments``) was kept, with evidence and who.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AppendOnlyModel


class ReportStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Report(models.Model):
    """One version of a report: snapshot, sections and status (content immutable)."""

    kind = models.CharField(max_length=64)
    kind_name = models.CharField(max_length=200)
    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=300)
    # [{"heading": str, "body": Markdown}], as the author wrote them.
    sections = models.JSONField(default=list)
    snapshot = models.JSONField()
    snapshot_sha256 = models.CharField(max_length=64)
    required_titles = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The public edition: sections with the redacted ones replaced by a notice.
    public_sections = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # Reports of a model by kind and status (the decision's required reports, the list).
            models.Index(fields=["model", "kind", "status"], name="report_model_kind_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(version__gte=1), name="report_version_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_name} #{self.pk} v{self.version}: {self.title}"


class ReportSignature(AppendOnlyModel):
    """A title holder's verdict on a report version, over the snapshot hash they were shown."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=32)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    snapshot_sha256 = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "title"], name="report_one_signature_per_title"
            ),
            models.UniqueConstraint(
                fields=["report", "signer"], name="report_one_title_per_signer"
            ),
            # The author of a report cannot sign it (two-person rule).
            models.CheckConstraint(
                condition=~models.Q(signer=models.F("author")), name="report_signer_not_author"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.verdict} report #{self.report_id}"


class Redaction(AppendOnlyModel):
    """A section left out of a report's public edition, with why and by whom."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="redactions")
    section = models.PositiveIntegerField()  # index into the report's sections
    heading = models.CharField(max_length=300)
    reason = models.TextField()
    redacted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["section"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "section"], name="redaction_once_per_section"
            ),
        ]

    def __str__(self) -> str:
        return f"report #{self.report_id} section {self.section} redacted"


class CommitmentFulfilment(AppendOnlyModel):
    """A due item of a procedural commitment kept: with evidence, by whom, when."""

    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(max_length=64)
    # What made it due: ("decision", id), ("report", id), ("period", n), ("crossing", id)...
    subject_type = models.CharField(max_length=32)
    subject_id = models.CharField(max_length=64)
    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    evidence_url = models.URLField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    fulfilled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["fulfilled_at", "pk"]
        constraints = [
            # One fulfilment per due item (a second is a conflict, not a duplicate).
            models.UniqueConstraint(
                fields=["policy_version", "code", "subject_type", "subject_id"],
                name="commitment_fulfilled_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} kept for {self.subject_type} {self.subject_id}"


class GrantStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    ACTIVE = "active", "Granted"
    REFUSED = "refused", "Refused"
    ENDED = "ended", "Ended early"


class ReviewerGrantQuerySet(models.QuerySet["ReviewerGrant"]):
    def in_force(self, now: datetime) -> ReviewerGrantQuerySet:
        """Granted and inside its period at ``now``: access ends by itself, no job needed."""
        return self.filter(status=GrantStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)


class ReviewerGrant(models.Model):
    """Read access for an external reviewer to one report, or to a model's reports, for a
    period; approved first by the title the policy names (e.g. the LTBT), where it names one."""

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_grants"
    )
    # The outside body the reviewer reviews for (a government institute, an auditor...).
    organisation = models.CharField(max_length=200)
    report = models.ForeignKey(
        Report, on_delete=models.PROTECT, null=True, blank=True, related_name="grants"
    )
    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    days = models.PositiveIntegerField()
    # The title whose holder must approve the grant before it starts ("" when none must).
    approval_title = models.CharField(max_length=32, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=GrantStatus.choices, default=GrantStatus.PENDING
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewerGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-granted_at", "-pk"]
        indexes = [
            # A reviewer's grants in force (every page and API call a reviewer makes).
            models.Index(fields=["reviewer", "status", "ends_at"], name="grant_reviewer_in_force"),
        ]
        constraints = [
            # One report or one model, never both nor neither.
            models.CheckConstraint(
                condition=models.Q(report__isnull=True, model__isnull=False)
                | models.Q(report__isnull=False, model__isnull=True),
                name="grant_one_subject",
            ),
            models.CheckConstraint(
                condition=models.Q(days__gte=1, days__lte=366), name="grant_days_1_to_366"
            ),
            # Whoever grants cannot also approve, and nobody grants or approves for themselves.
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("granted_by"))
                & ~models.Q(approved_by=models.F("reviewer"))
                & ~models.Q(granted_by=models.F("reviewer")),
                name="grant_three_people",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="active")
                | models.Q(starts_at__isnull=False, ends_at__isnull=False),
                name="grant_active_has_period",
            ),
        ]

    def __str__(self) -> str:
        subject = f"report #{self.report_id}" if self.report_id else f"model #{self.model_id}"
        return f"{self.reviewer} on {subject} ({self.status})"

    def in_force_at(self, now: datetime) -> bool:
        return (
            self.status == GrantStatus.ACTIVE
            and self.starts_at is not None
            and self.ends_at is not None
            and self.starts_at <= now < self.ends_at
        )


class Review(AppendOnlyModel):
    """An external reviewer's review of a report version: advisory, never a signature."""

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="reviews")
    grant = models.ForeignKey(ReviewerGrant, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organisation = models.CharField(max_length=200)
    # Markdown, rendered sanitised like a report's sections.
    body = models.TextField()
    # The snapshot the reviewer read (a later version is another report row).
    snapshot_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # A report's reviews (report page, API, a decision's relied-on reports).
            models.Index(fields=["report", "created_at"], name="review_report_at"),
        ]

    def __str__(self) -> str:
        return f"review of report #{self.report_id} by {self.organisation}"


class CommitmentReminder(AppendOnlyModel):
    """A reminder sent before a due item's deadline: at most one per item (the beat may retry)."""

    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=32)
    subject_id = models.CharField(max_length=64)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["policy_version", "code", "subject_type", "subject_id"],
                name="commitment_reminded_once",
            ),
        ]

    def __str__(self) -> str:
        return f"reminder: {self.code} for {self.subject_type} {self.subject_id}"
