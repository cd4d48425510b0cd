"""Publicity acts, noncompliance reports and incidents.

Nothing is public unless a recorded act made it so: a **ModelPublicity** row (append-only,
audited) marks a model public (its gate history as states, reason codes and dates) and says
whether its values are public too; the newest row per model is in force. A
**NoncomplianceReport** can come from anyone, signed in or not; an anonymous reporter keeps a
receipt (only its SHA-256 is stored). Only the policy's recipients see a report and who made
it. An **Incident** records a safety or security incident, the interim measures taken and its
closure.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AppendOnlyModel


class ModelPublicity(AppendOnlyModel):
    """A recorded act: whether a model's gate history (and its values) is public."""

    model = models.ForeignKey("evaluations.AIModel", on_delete=models.PROTECT, related_name="+")
    public = models.BooleanField()
    values_public = models.BooleanField(default=False)
    reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "pk"]
        indexes = [
            # The act in force per model (newest first).
            models.Index(fields=["model", "-decided_at", "-id"], name="publicity_model_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} public={self.public}"


class NoncomplianceStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    INVESTIGATING = "investigating", "Investigating"
    CLOSED = "closed", "Closed"


class NoncomplianceReport(models.Model):
    """A report of possible noncompliance with the policy."""

    summary = models.CharField(max_length=300)
    details = models.TextField()
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # SHA-256 of the receipt given to the reporter; the receipt itself is never stored.
    receipt_sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=16, choices=NoncomplianceStatus.choices, default=NoncomplianceStatus.RECEIVED
    )
    finding = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The public counts by status.
            models.Index(fields=["status"], name="noncompliance_status"),
        ]

    def __str__(self) -> str:
        return f"Noncompliance report #{self.pk} ({self.status})"


class Incident(models.Model):
    """A safety or security incident, its interim measures and its closure."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Measure(models.TextChoices):
        PAUSE = "pause", "Scaling paused"
        DE_DEPLOYMENT = "de_deployment", "Deployment withdrawn"
        WEIGHTS_DELETED = "weights_deleted", "Weights deleted"
        ACCESS_RESTRICTED = "access_restricted", "Access restricted"
        OTHER = "other", "Other"

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=300)
    description = models.TextField()
    measures = models.JSONField(default=list)  # values of Measure
    pause = models.ForeignKey(
        "governance.Pause", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    public = models.BooleanField(default=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    closure = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return f"Incident #{self.pk}: {self.title}"
