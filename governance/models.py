"""The verdict: gate state and its history, safeguards, scaling decisions, approvals, pauses,
notification subscriptions and what was said to whom."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AppendOnlyModel, AppendOnlyQuerySet

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import PortalUser


class Scope(models.TextChoices):
    SCALING = "scaling", "Scaling"
    DEPLOYMENT = "deployment", "Deployment"


class GateStatus(models.TextChoices):
    APPROVED = "approved", "Approved"
    PAUSED = "paused", "Paused"


class GateState(models.Model):
    """The memo of the gate engine for one model and scope, recomputed in the same transaction
    as every write that can change it, so that reading the gate is one row."""

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="gate_states"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices)
    state = models.CharField(max_length=16, choices=GateStatus.choices)
    reasons = models.JSONField(default=list)
    verdict = models.JSONField(default=dict)  # the engine's full verdict (determinations...)
    computed_at = models.DateTimeField()
    # The earliest moment at which time alone could change the verdict (an evaluation falling
    # due, a verification or decision expiring). A read after it recomputes first.
    valid_until = models.DateTimeField(null=True, blank=True)
    # HMAC over the row with a key the database does not hold (governance.gatemac); a row
    # whose MAC does not verify is never served. Empty: written before MACs, recomputed.
    mac = models.CharField(max_length=64, blank=True)
    # The model's ``EvidenceSummaryState.evidence_seq`` read before the inputs this row was
    # computed from: a row behind the model's is missing a result write and is not served.
    evidence_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "scope"], name="gate_state_one_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.scope}: {self.state}"


class GateTransition(AppendOnlyModel):
    """A change of a gate's state or reasons, with what caused it."""

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="gate_transitions"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, choices=GateStatus.choices)
    reasons = models.JSONField(default=list)
    verdict = models.JSONField(default=dict)
    cause = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A model's history page and GET /models/{slug}/history/, newest first.
            models.Index(fields=["model", "-created_at"], name="gate_transition_history"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.scope}: {self.from_state or '∅'} → {self.to_state}"


class SafeguardState(models.TextChoices):
    PLANNED = "planned", "Planned"
    IMPLEMENTED = "implemented", "Implemented"
    VERIFIED = "verified", "Verified"


class SafeguardRecordQuerySet(AppendOnlyQuerySet["SafeguardRecord"]):
    def latest_per_requirement(self, model: AIModel) -> dict[str, SafeguardRecord]:
        """The current record for each requirement code of ``model`` (one query)."""
        current: dict[str, SafeguardRecord] = {}
        for record in self.filter(model=model).order_by("requirement_code", "-recorded_at", "-id"):
            current.setdefault(record.requirement_code, record)
        return current


class SafeguardRecord(AppendOnlyModel):
    """A safeguard requirement's status for a model; the latest record is the current status
    and earlier ones are its history."""

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="safeguard_records"
    )
    requirement_code = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=SafeguardState.choices)
    evidence_url = models.URLField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = SafeguardRecordQuerySet.as_manager()

    class Meta:
        indexes = [
            # Current status per requirement: latest record per (model, requirement).
            models.Index(
                fields=["model", "requirement_code", "-recorded_at"], name="safeguard_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.requirement_code}: {self.status}"


class DecisionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    STALE = "stale", "Stale"
    EXPIRED = "expired", "Expired"


class ScalingDecisionQuerySet(models.QuerySet["ScalingDecision"]):
    def visible_to(self, user: PortalUser | None) -> ScalingDecisionQuerySet:
        from rsp_portal.authz import can

        return self if can(user, "governance.view") else self.none()


class ScalingDecision(models.Model):
    """A request to approve scaling a model up to a compute limit (scope ``scaling``) or to
    deploy it (scope ``deployment``), with its frozen dossier. A decision of one scope never
    approves the other."""

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="decisions"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.SCALING)
    # Required for scaling decisions; a deployment decision covers the checkpoints it names.
    compute_limit = models.FloatField(null=True, blank=True)
    # Precautionary determinations this decision lifts once approved (their ids).
    lifts_precautions = models.JSONField(default=list, blank=True)
    rationale = models.TextField()
    status = models.CharField(
        max_length=16, choices=DecisionStatus.choices, default=DecisionStatus.PENDING
    )
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, related_name="+"
    )
    dossier = models.JSONField()
    dossier_sha256 = models.CharField(max_length=64)
    required_titles = models.JSONField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)

    objects = ScalingDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(compute_limit__isnull=True) | Q(compute_limit__gt=0),
                name="decision_compute_positive",
            ),
            models.CheckConstraint(
                condition=~Q(scope=Scope.SCALING) | Q(compute_limit__isnull=False),
                name="decision_scaling_has_limit",
            ),
        ]
        indexes = [
            # The gate's "effective approved decision" and a model's pending decisions.
            models.Index(fields=["model", "status", "-decided_at"], name="decision_model_status"),
        ]

    def __str__(self) -> str:
        if self.compute_limit is None:
            return f"{self.scope} decision #{self.pk} {self.model} ({self.status})"
        return (
            f"{self.scope} decision #{self.pk} {self.model} ≤ {self.compute_limit:.3g} FLOP "
            f"({self.status})"
        )

    @property
    def advisory_titles(self) -> list[str]:
        """Titles whose recommendation is recorded without deciding (from the dossier)."""
        titles = self.dossier.get("advisory_titles", []) if isinstance(self.dossier, dict) else []
        return [t for t in titles if isinstance(t, str) and t not in self.required_titles]

    def can_be_signed_by(
        self, user: PortalUser | None, approvals: list[Approval] | None = None
    ) -> str | None:
        """The title ``user`` would sign this decision with now, or None when they may not.

        The one answer to "may this user sign?": allowed to sign (``rsp_portal.authz``), a
        pending decision, not its requester, not already signed by them, a required title still
        open that they hold (else an advisory one) as the audit trail records it, and not in a
        cooling-off period after a credential change (``core.authority``). ``approvals`` may
        pass the decision's prefetched approvals.
        """
        from core.authority import signing_title
        from rsp_portal.authz import can

        if self.status != DecisionStatus.PENDING or user is None or self.requested_by_id == user.pk:
            return None
        if not can(user, "decision.sign"):
            return None
        approvals = list(self.approvals.all()) if approvals is None else approvals
        if any(a.approver_id == user.pk for a in approvals):
            return None
        signed = {a.title for a in approvals}
        titles: list[str] = [*self.required_titles, *self.advisory_titles]
        # The title as the signed trail records it (not the mutable row), and no cooling-off.
        return signing_title(user, [t for t in titles if t not in signed])

    def open_titles(self, approvals: list[Approval] | None = None) -> list[str]:
        """Required titles that have not signed yet."""
        approvals = list(self.approvals.all()) if approvals is None else approvals
        signed = {a.title for a in approvals}
        return [t for t in self.required_titles if t not in signed]


class ApprovalVerdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(AppendOnlyModel):
    """One signer's answer to a decision, over the dossier hash they were shown.

    ``requester`` is copied from the decision so the database itself can refuse
    self-approval; one person fills at most one title and each title signs once.
    """

    decision = models.ForeignKey(
        ScalingDecision, on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=32)
    verdict = models.CharField(max_length=16, choices=ApprovalVerdict.choices)
    dossier_sha256 = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(approver=F("requester")), name="approval_not_by_requester"
            ),
            models.UniqueConstraint(
                fields=["decision", "approver"], name="approval_one_title_per_person"
            ),
            models.UniqueConstraint(
                fields=["decision", "title"], name="approval_one_signature_per_title"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.verdict} decision #{self.decision_id}"


class ModelAction(AppendOnlyModel):
    """A leadership or safety act on a model, with its reason: a fact, never edited."""

    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="%(class)ss"
    )
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class Pause(ModelAction):
    """A pause of a model, in force from creation until a decision requested after it is
    approved: resuming always needs a new decision."""

    class Meta(ModelAction.Meta):
        indexes = [
            # Pauses in force for a model: those newer than its latest approval.
            models.Index(fields=["model", "-created_at"], name="pause_model_latest"),
        ]

    def __str__(self) -> str:
        return f"pause of {self.model} at {self.created_at:%Y-%m-%d %H:%M}"


class Precaution(ModelAction):
    """A precautionary determination recorded by leadership: the threshold is treated as
    crossed for the model without evidence ("we cannot rule out CBRN-3"). It stays in force
    until an approved decision that lists it in ``lifts_precautions`` lifts it."""

    threshold_code = models.CharField(max_length=64)

    class Meta(ModelAction.Meta):
        indexes = [
            models.Index(fields=["model", "-created_at"], name="precaution_model_latest"),
        ]

    def __str__(self) -> str:
        return f"precaution {self.threshold_code} on {self.model}"


class Channel(models.TextChoices):
    """The shipped channels (each has its transport module in ``governance.transports``; a
    transport defined elsewhere adds its own kind: the fields take any registered kind)."""

    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Signed webhook"
    SLACK = "slack", "Slack incoming webhook"


class Subscription(models.Model):
    """A channel that receives notifications besides the role e-mails: a kind and a target."""

    name = models.CharField(max_length=100, unique=True)
    #: A transport's kind (``governance.transports``; ``clean`` refuses an unknown one).
    kind = models.CharField(max_length=16, default=Channel.WEBHOOK)
    target = models.CharField(
        max_length=500,
        help_text="the webhook or Slack URL (https), or the e-mail address, per the kind",
    )
    secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="signed webhooks only: shared secret for the X-RSP-Signature header",
    )
    events = models.JSONField(default=list, blank=True, help_text="event names; empty means all")
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        """The kind's transport checks the target (ValidationError naming the field)."""
        from governance.transports import transport_for

        transport_for(self.kind).validate(self)

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)


class Notification(models.Model):
    """What was said to whom: one event to one channel (role e-mails or a subscription).

    Its delivery (attempts, retries, errors) is the outbox message in ``message``, shared by
    the notifications one digest carries; a message pruned after delivery leaves ``message``
    empty.
    """

    event = models.CharField(max_length=60)
    payload = models.JSONField()
    channel = models.CharField(max_length=16, default=Channel.EMAIL)
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    recipients = models.JSONField(default=list, blank=True)  # e-mail addresses
    created_at = models.DateTimeField(default=timezone.now)
    # One message per digest: the e-mails of a burst to the same people share one (ADR 0040).
    message = models.ForeignKey(
        "core.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        target = self.subscription or ", ".join(self.recipients)
        return f"{self.event} → {target}"

    @property
    def delivery_status(self) -> str:
        """The outbox status; a notification whose message was pruned was delivered."""
        from core.models import OutboxStatus

        return str(self.message.status) if self.message is not None else OutboxStatus.DONE
