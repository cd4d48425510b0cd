"""The rules as data: versioned policies and their levels, standards, thresholds and metrics.

A ``PolicyVersion`` goes ``draft`` → ``active`` → ``superseded``; exactly one is active (a
partial unique constraint) and only a draft may change. The children (levels, standards,
requirements, domains, metrics, thresholds, indicators) each point at their version, so the
same freeze applies to them: the ORM refuses the write here, and database triggers installed
by ``policies/migrations/0002_freeze_guards.py`` refuse it for any other client
(``docs/adr/0005-policy-versions.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar, cast

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.models import AppendOnlyModel
from core.authority import signing_title
from core.models import Rider
from policies import rules
from rsp_portal.authz import can
from rsp_portal.rows import sql_per_vendor


class FrozenPolicyError(Exception):
    """A write to an active or superseded policy version (or one of its children) was refused."""


# --------------------------------------------------------------------------- versions


class PolicyVersionQuerySet(models.QuerySet["PolicyVersion"]):
    def active(self) -> PolicyVersionQuerySet:
        return self.filter(status=PolicyVersion.Status.ACTIVE)

    def drafts(self) -> PolicyVersionQuerySet:
        return self.filter(status=PolicyVersion.Status.DRAFT)

    def with_children(self) -> PolicyVersionQuerySet:
        """Everything ``services.to_pack`` and the pages read, in 7 extra queries in total."""
        # One call per queryset type (the stubs type each call's Prefetch querysets as one).
        return (
            self.prefetch_related(
                "levels",
                models.Prefetch("standards", queryset=Standard.objects.select_related("level")),
                "standards__requirements",
                "domains",
            )
            .prefetch_related(
                models.Prefetch("metrics", queryset=Metric.objects.select_related("domain"))
            )
            .prefetch_related(
                models.Prefetch(
                    "thresholds", queryset=CapabilityThreshold.objects.select_related("domain")
                )
            )
            .prefetch_related(
                models.Prefetch(
                    "thresholds__indicators", queryset=Indicator.objects.select_related("metric")
                )
            )
        )

    def for_listing(self) -> PolicyVersionQuerySet:
        return self.select_related("created_by", "activated_by").order_by("-created_at", "-pk")


def active_ref() -> tuple[int, str, str] | None:
    """``(id, content hash, status)`` of the active version, or None, in one statement built
    once (the hot paths key their caches of immutable versions by it; no ORM compilation)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_active_ref_sql(), [PolicyVersion.Status.ACTIVE])
        return ref_of(cursor.fetchone())


#: The columns :func:`active_ref`'s statement reads (id, content hash, status).
ACTIVE_REF_WIDTH = 3


def active_ref_rider() -> Rider:
    """:func:`active_ref` as a rider of the bearer token's statement (ADR 0056): a write that
    checks its input against the active policy reads it with the token; :func:`ref_of` reads
    its three columns."""
    return Rider(_active_ref_sql(), (PolicyVersion.Status.ACTIVE,), width=ACTIVE_REF_WIDTH)


def ref_of(row: Sequence[object] | None) -> tuple[int, str, str] | None:
    """The active reference in a row read by :func:`active_ref`'s statement (NULLs: none)."""
    if row is None or row[0] is None:
        return None
    return int(cast("int", row[0])), str(row[1]), str(row[2])


@sql_per_vendor
def _active_ref_sql(q: Callable[[str], str]) -> str:
    return (
        f"SELECT {q('id')}, {q('content_sha256')}, {q('status')} "  # noqa: S608
        f"FROM {q(PolicyVersion._meta.db_table)} WHERE {q('status')} = %s "
        f"ORDER BY {q('created_at')} DESC, {q('id')} DESC LIMIT 1"
    )  # table and column names from _meta; the value is a parameter


class PolicyVersion(models.Model):
    """One complete policy; immutable once activated."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded"

    class WarningBehaviour(models.TextChoices):
        NOTIFY = "notify", "Notify only"
        REQUIRE_SAFEGUARDS = "require_safeguards", "Require the threshold's safeguards"

    key = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    version = models.CharField("version label", max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Hash of the normalised pack (policies.packs.content_sha256); recomputed on activation.
    content_sha256 = models.CharField(max_length=64)
    source = models.JSONField(default=dict)
    disclaimer = models.TextField()
    # The framework family (docs/policy-packs.md); "" for a pack of no family.
    family = models.CharField(max_length=32, blank=True, default="")
    # ``settings.sources``: the citation (or "pack choice") of each setting.
    settings_sources = models.JSONField(default=dict, blank=True)
    # ``report_kinds`` and ``commitments`` as the pack gives them (normalised); reports and
    # commitments are built on them elsewhere.
    report_kinds = models.JSONField(default=list, blank=True)
    commitments = models.JSONField(default=list, blank=True)
    # ``noncompliance_recipients`` as the pack gives them: who receives noncompliance reports.
    noncompliance_recipients = models.JSONField(default=list, blank=True)
    # Settings (the pack's `settings`, docs/policy-packs.md).
    baseline_level = models.CharField(max_length=64)
    baseline_standards = models.JSONField(default=list)
    effective_compute_multiple = models.FloatField()
    months_between_assessments = models.PositiveIntegerField()
    safeguard_reapproval_months = models.PositiveIntegerField()
    warning_behaviour = models.CharField(
        max_length=32, choices=WarningBehaviour.choices, default=WarningBehaviour.NOTIFY
    )
    signoff_titles = models.JSONField(default=list)  # author order is kept
    # Titles whose recommendation is recorded in a decision's dossier without being required.
    advisory_titles = models.JSONField(default=list, blank=True)
    # How many standard errors a result is pushed toward "more capable" before it is compared
    # with a line (docs/how-the-gate-decides.md); 0 compares the point estimate.
    uncertainty_z = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = PolicyVersionQuerySet.as_manager()

    #: The pack's ``settings`` keys, each a column of the same name (docs/policy-packs.md).
    SETTINGS_FIELDS: ClassVar[tuple[str, ...]] = (
        "baseline_level",
        "baseline_standards",
        "effective_compute_multiple",
        "months_between_assessments",
        "safeguard_reapproval_months",
        "warning_behaviour",
        "uncertainty_z",
        "signoff_titles",
        "advisory_titles",
    )

    # Columns that may change on a non-draft row: only the status, active → superseded.
    LIFECYCLE_FIELDS: ClassVar[tuple[str, ...]] = ("status",)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The partial unique index also serves PolicyVersion.objects.active().
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="active"),
                name="policy_one_active_version",
            ),
            models.CheckConstraint(
                condition=Q(effective_compute_multiple__gt=1),
                name="policy_compute_multiple_above_one",
            ),
            models.CheckConstraint(
                condition=Q(months_between_assessments__gt=0, safeguard_reapproval_months__gt=0),
                name="policy_months_positive",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "superseded"]),
                name="policy_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(uncertainty_z__gte=0), name="policy_uncertainty_z_non_negative"
            ),
        ]
        # No other index: a deployment holds a few dozen versions; the history page's
        # ORDER BY created_at scans them all anyway.

    def __str__(self) -> str:
        return f"{self.name} {self.version} (#{self.pk}, {self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuse any change to a stored active or superseded version except supersession."""
        if not self._state.adding:
            self._check_frozen()
        super().save(*args, **kwargs)
        self._snapshot()

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._snapshot()

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        status = self._loaded_status() or self.status
        if status != self.Status.DRAFT:
            raise FrozenPolicyError(f"Policy version #{self.pk} is {status}; it cannot be deleted.")
        return super().delete(*args, **kwargs)

    def _snapshot(self) -> None:
        """Remember the stored values, against which the next save() is checked."""
        self._loaded = copy.deepcopy(
            {f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields}
        )

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> PolicyVersion:
        instance = super().from_db(db, field_names, values, **kwargs)
        # A deep copy: JSON lists changed in place must still count as changes.
        instance._loaded = copy.deepcopy(dict(zip(field_names, values, strict=True)))
        return instance

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    def _loaded_status(self) -> str | None:
        loaded = getattr(self, "_loaded", None)
        return None if loaded is None else loaded.get("status")

    def _check_frozen(self) -> None:
        loaded = getattr(self, "_loaded", None)
        if loaded is None:  # an instance built by hand with a pk: compare with the database
            stored: Any = type(self).objects.filter(pk=self.pk).values().first()
            if stored is None:
                return
            loaded = stored
        old_status = loaded.get("status")
        if old_status == self.Status.DRAFT:
            return
        allowed = {
            (self.Status.ACTIVE, self.Status.ACTIVE),
            (self.Status.ACTIVE, self.Status.SUPERSEDED),
            (self.Status.SUPERSEDED, self.Status.SUPERSEDED),
        }
        if (old_status, self.status) not in allowed:
            raise FrozenPolicyError(
                f"Policy version #{self.pk} is {old_status}: status cannot become {self.status}."
            )
        changed = [
            f.name
            for f in self._meta.concrete_fields
            if f.attname in loaded
            and f.name not in self.LIFECYCLE_FIELDS
            and getattr(self, f.attname) != loaded[f.attname]
        ]
        if changed:
            raise FrozenPolicyError(
                f"Policy version #{self.pk} is {old_status} and immutable; "
                f"refused change to {', '.join(changed)}. Load a new draft instead."
            )


# --------------------------------------------------------------------------- children


_Child = TypeVar("_Child", bound="PolicyChild")


class PolicyChildQuerySet(models.QuerySet[_Child]):
    """Bulk writes are refused when they would touch a non-draft version's rows."""

    def _refuse_if_frozen(self, what: str) -> None:
        if self.exclude(version__status=PolicyVersion.Status.DRAFT).exists():
            raise FrozenPolicyError(
                f"{what}() would change {self.model.__name__} rows of a non-draft policy version."
            )

    def update(self, **kwargs: Any) -> int:
        self._refuse_if_frozen("update")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._refuse_if_frozen("delete")
        return super().delete()


class PolicyChild(models.Model):
    """Base of every part of a policy version: editable only while the version is a draft."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="+")

    objects = PolicyChildQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._check_draft()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._check_draft()
        return super().delete(*args, **kwargs)

    def _check_draft(self) -> None:
        version_id = self.version_id
        if version_id is None:
            return
        cached = self._state.fields_cache.get("version")
        status = (
            cached.status
            if cached is not None
            else PolicyVersion.objects.filter(pk=version_id)
            .values_list("status", flat=True)
            .first()
        )
        if status is not None and status != PolicyVersion.Status.DRAFT:
            raise FrozenPolicyError(
                f"{type(self).__name__} belongs to policy version #{version_id}, which is "
                f"{status} and immutable."
            )


class SafetyLevel(PolicyChild):
    """A safety level such as ASL-3; higher rank means stricter."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="levels")
    code = models.CharField(max_length=64)
    rank = models.IntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["rank", "code"]
        constraints = [
            # Its index (version_id, code) serves the prefetch of a version's levels.
            models.UniqueConstraint(fields=["version", "code"], name="policy_level_code_once"),
            models.UniqueConstraint(fields=["version", "rank"], name="policy_level_rank_once"),
        ]

    def __str__(self) -> str:
        return self.code


class Standard(PolicyChild):
    """A (level, kind) pair of safeguards; includes other standards cumulatively."""

    class Kind(models.TextChoices):
        DEPLOYMENT = "deployment", "Deployment"
        SECURITY = "security", "Security"
        # Misalignment safeguards shown by an affirmative (safety) case, e.g. what RSP v2.2
        # requires at AI R&D-4 and AI R&D-5 besides security: neither misuse nor theft.
        ALIGNMENT = "alignment", "Alignment (affirmative case)"

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="standards")
    code = models.CharField(max_length=64)
    level = models.ForeignKey(SafetyLevel, on_delete=models.PROTECT, related_name="standards")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Codes of included standards of the same version (kept as codes: that is how packs,
    # the API and the gate engine name them; validated on load and on activation).
    includes = models.JSONField(default=list, blank=True)
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["code"]
        constraints = [
            # Its index (version_id, code) serves the prefetch of a version's standards.
            models.UniqueConstraint(fields=["version", "code"], name="policy_standard_code_once"),
            models.UniqueConstraint(
                fields=["version", "level", "kind"], name="policy_standard_level_kind_once"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class SafeguardRequirement(PolicyChild):
    """A criterion of a standard that needs evidence before it counts as met."""

    version = models.ForeignKey(
        PolicyVersion, on_delete=models.CASCADE, related_name="requirements"
    )
    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="requirements")
    code = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    evidence = models.TextField(blank=True)
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["code"]
        constraints = [
            # Requirement codes are unique per version: safeguard status is kept per code.
            models.UniqueConstraint(
                fields=["version", "code"], name="policy_requirement_code_once"
            ),
        ]
        indexes = [
            # Serves the prefetch standards__requirements (WHERE standard_id IN ...).
            models.Index(fields=["standard", "code"], name="policy_req_standard_idx"),
        ]

    def __str__(self) -> str:
        return self.code


class RiskDomain(PolicyChild):
    """A risk area (CBRN, AI R&D, cyber...) and how the policy treats it."""

    class Tier(models.TextChoices):
        TRACKED = "tracked", "Tracked"
        RESEARCH = "research", "Research"
        ONGOING_ASSESSMENT = "ongoing_assessment", "Ongoing assessment"
        EARLY_WARNING = "early_warning", "Early warning"

    class Category(models.TextChoices):
        """The framework-neutral risk area a domain belongs to, so that policies modelled on
        different frameworks (whose domain codes differ) can be compared domain by domain."""

        CBRN = "cbrn", "CBRN weapons"
        CYBER = "cyber", "Cyber operations"
        AI_RD = "ai_rd", "AI R&D and self-improvement"
        AUTONOMY = "autonomy", "Autonomy and replication"
        MANIPULATION = "manipulation", "Manipulation and persuasion"
        MISALIGNMENT = "misalignment", "Misalignment and loss of control"
        GENERAL = "general", "General (precursor) capabilities"
        OTHER = "other", "Other"

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="domains")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    tier = models.CharField(max_length=32, choices=Tier.choices)
    # "" = not mapped (a pack's ``category: null``): compared across frameworks by its code.
    category = models.CharField(max_length=32, choices=Category.choices, blank=True, default="")
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["code"]
        constraints = [
            # Its index (version_id, code) serves the prefetch of a version's domains.
            models.UniqueConstraint(fields=["version", "code"], name="policy_domain_code_once"),
        ]

    def __str__(self) -> str:
        return self.code


class Metric(PolicyChild):
    """A measured quantity with a unit, a valid range and a direction."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=100)
    name = models.CharField(max_length=300)
    # None (not "") when a pack gives no unit, so exports round-trip exactly.
    unit = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    min = models.FloatField()
    max = models.FloatField()
    higher_is_more_capable = models.BooleanField()
    # Results from fewer samples are weak evidence: they can show a crossing, never safety.
    min_samples = models.PositiveIntegerField(null=True, blank=True)
    domain = models.ForeignKey(
        RiskDomain, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["key"]
        constraints = [
            # Its index (version_id, key) serves metric lookups by key within the active version.
            models.UniqueConstraint(fields=["version", "key"], name="policy_metric_key_once"),
            models.CheckConstraint(
                condition=Q(min__lt=models.F("max")), name="policy_metric_range"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class CapabilityThreshold(PolicyChild):
    """A red line in a risk domain and the standards it requires once crossed."""

    class Tier(models.TextChoices):
        RED_LINE = "red_line", "Red line"
        EARLY_WARNING = "early_warning", "Early warning"

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="thresholds")
    domain = models.ForeignKey(RiskDomain, on_delete=models.PROTECT, related_name="thresholds")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    requires_scaling = models.JSONField(default=list, blank=True)  # standard codes
    requires_deployment = models.JSONField(default=list, blank=True)  # standard codes
    # Required before using the model inside the lab (ADR 0027): the gate adds them to the
    # deployment scope's requirements.
    requires_internal_deployment = models.JSONField(default=list, blank=True)
    # An early warning never pauses by itself; it warns, notifies and (under the policy's
    # require_safeguards behaviour) adds its standards.
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.RED_LINE)
    # Once crossed there is no way to continue: the gate pauses with threshold_crossed.
    halt = models.BooleanField(default=False)
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["code"]
        constraints = [
            # Its index (version_id, code) serves the prefetch of a version's thresholds.
            models.UniqueConstraint(fields=["version", "code"], name="policy_threshold_code_once"),
        ]

    def __str__(self) -> str:
        return self.code


class Indicator(PolicyChild):
    """Ties a threshold to a metric: a warning (yellow) line and a critical (red) line."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="indicators")
    threshold = models.ForeignKey(
        CapabilityThreshold, on_delete=models.CASCADE, related_name="indicators"
    )
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="indicators")
    warning = models.FloatField(null=True, blank=True)
    critical = models.FloatField()
    # Where the framework's text says this ("RSP v2.2 §4.1"), or "pack choice".
    source = models.CharField(max_length=300, default="pack choice")

    class Meta:
        ordering = ["threshold", "metric__key"]
        constraints = [
            # Its index (threshold_id, metric_id) serves the prefetch thresholds__indicators.
            models.UniqueConstraint(
                fields=["threshold", "metric"], name="policy_indicator_metric_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.threshold_id}/{self.metric_id}"

    @property
    def direction(self) -> str:
        """``≥`` when higher values are more capable, else ``≤`` (the crossing comparison)."""
        return rules.line_sign(self.metric.higher_is_more_capable)


class PolicyActivation(models.Model):
    """Activating a draft under the sign-off rule of the policy in force (``policies.activation``).

    The dossier is the diff from the policy in force (every loosening listed, both content
    hashes), frozen with its SHA-256; every title the policy in force names must approve it,
    each a different leader. ``origin`` says how it was opened: by a leader's request (who may
    then not sign) or by a title holder's own approval (its first signature).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVATED = "activated", "Activated"
        REJECTED = "rejected", "Rejected"
        STALE = "stale", "Stale (the policies changed before sign-off)"

    class Origin(models.TextChoices):
        REQUEST = "request", "Requested (the requester does not sign)"
        APPROVAL = "approval", "Opened by a title holder's approval"

    class AuditedAs(models.TextChoices):
        """Where the trail describes its signatures: rows migrated in keep their entries."""

        ACTIVATION = "policies.policyactivation", "This activation"
        CORE_ACTIVATION = "core.policyactivation", "A core activation (before migration)"
        VERSION = "policies.policyversion", "Title approvals of the version (before migration)"

    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="activations")
    # The policy in force whose sign-off rule applies.
    previous = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    # The draft's content the dossier describes; another content makes the activation stale.
    content_sha256 = models.CharField(max_length=64)
    dossier = models.JSONField()
    dossier_sha256 = models.CharField(max_length=64)
    required_titles = models.JSONField()
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.REQUEST)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    audited_as = models.CharField(
        max_length=32, choices=AuditedAs.choices, default=AuditedAs.ACTIVATION
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # One open activation per version: signatures cannot be split across two.
            models.UniqueConstraint(
                fields=["version"],
                condition=Q(status="pending"),
                name="policy_one_pending_activation_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"activation of policy version #{self.version_id} ({self.status})"

    @property
    def loosenings(self) -> list[str]:
        return list(self.dossier.get("loosenings", []))

    def open_titles(self, signatures: list[Any] | None = None) -> list[str]:
        """Required titles that have not approved yet."""
        signatures = list(self.signatures.all()) if signatures is None else signatures
        approved = {s.title for s in signatures if s.verdict == ActivationVerdict.APPROVE}
        return [t for t in self.required_titles if t not in approved]

    def can_be_signed_by(self, user: Any, signatures: list[Any] | None = None) -> str | None:
        """The title ``user`` would sign with now, or None when they may not.

        The one answer to "may this user sign this activation?": allowed to activate policies
        (``rsp_portal.authz``, never an administrator), a pending activation, not its
        requester, not signed by them yet, a required title still open that they hold as the
        audit trail records it, out of any cooling-off (``core.authority``).
        """

        if self.status != self.Status.PENDING or user is None or not can(user, "policy.activate"):
            return None
        if self.origin == self.Origin.REQUEST and self.requested_by_id == user.pk:
            return None
        signatures = list(self.signatures.all()) if signatures is None else signatures
        if any(s.signer_id == user.pk for s in signatures):
            return None
        # The title as the signed trail records it (not the mutable row), and no cooling-off.
        return signing_title(user, self.open_titles(signatures))


class ActivationVerdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class ActivationSignature(AppendOnlyModel):
    """One title's verdict on a PolicyActivation, over the dossier hash it was shown.

    ``requester`` is copied from a requested activation so the database itself refuses
    self-approval; one person fills one title and each title signs once.
    """

    activation = models.ForeignKey(
        PolicyActivation, on_delete=models.PROTECT, related_name="signatures"
    )
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    title = models.CharField(max_length=32)
    verdict = models.CharField(max_length=16, choices=ActivationVerdict.choices)
    dossier_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["activation", "title"], name="policy_activation_title_once"
            ),
            models.UniqueConstraint(
                fields=["activation", "signer"], name="policy_activation_signer_once"
            ),
            models.CheckConstraint(
                condition=~Q(signer=models.F("requester")),
                name="policy_activation_signer_not_requester",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.verdict}s activation #{self.activation_id}"


class SelfAssessmentRecord(models.Model):
    """A person's mark of one METR common element for one policy version, with evidence.

    Append-only: the latest record per (version, element) is the current mark; earlier ones
    stay as history. Elements and statuses: ``policies.selfassessment``.
    """

    class Status(models.TextChoices):
        MET = "met", "Met"
        PARTLY = "partly", "Partly"
        NOT = "not", "Not met"

    version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="self_assessment"
    )
    element = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices)
    evidence_url = models.URLField(max_length=500, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recorded_at", "pk"]
        indexes = [
            # Serves the self-assessment page: a version's records, latest per element.
            models.Index(
                fields=["version", "element", "recorded_at"], name="policy_selfassess_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.element}: {self.status} (#{self.version_id})"
