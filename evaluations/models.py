"""The evidence: AI models, their checkpoints, evaluation results and imports.

Checkpoints and results are facts: append-only in the ORM (``AppendOnlyModel``) and in the
database (triggers added by the migration). A wrong result is corrected by a new row that
``supersedes`` it. Results name their metric by key (``metric_key``), not by a foreign key to a
policy version's metric row, so evidence outlives policy versions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.lookups import IsNull
from django.utils import timezone

from audit.models import AppendOnlyModel, AppendOnlyQuerySet


class AIModel(models.Model):
    """A model family member being trained or deployed, identified by its slug."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    family = models.CharField(max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    owner_team = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A parent named at registration is a claim; a second person (safety or leadership, not
    # whoever registered the model) confirms it (evaluations.lineage). Until then the parent's
    # results can show the child dangerous, never safe (docs/adr/0034).
    lineage_confirmed_at = models.DateTimeField(null=True, blank=True)
    lineage_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Lineage(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        CONFIRMED = "confirmed", "Confirmed"

    class Meta:
        ordering = ["slug"]
        verbose_name = "AI model"
        constraints = [
            # A confirmation names who and when, and confirms an existing parent link.
            models.CheckConstraint(
                condition=(
                    models.Q(lineage_confirmed_at__isnull=True, lineage_confirmed_by__isnull=True)
                    | models.Q(
                        lineage_confirmed_at__isnull=False,
                        lineage_confirmed_by__isnull=False,
                        parent__isnull=False,
                    )
                ),
                name="aimodel_lineage_confirmation_complete",
            ),
            # Two people: whoever registered the model never confirms its lineage.
            models.CheckConstraint(
                condition=models.Q(lineage_confirmed_by__isnull=True)
                | models.Q(created_by__isnull=True)
                | ~models.Q(lineage_confirmed_by=models.F("created_by")),
                name="aimodel_lineage_confirmer_is_not_the_registrant",
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def lineage(self) -> str | None:
        """``claimed`` or ``confirmed`` for a model with a parent; None without one."""
        if self.parent_id is None:
            return None
        if self.lineage_confirmed_at is None:
            return self.Lineage.CLAIMED
        return self.Lineage.CONFIRMED

    def lineage_ids(self, limit: int = 32) -> list[int]:
        """This model's id, then its parent's, grandparent's...: the models whose evidence
        counts for it. Cycle-safe, at most ``limit`` models, one query per ancestor."""
        ids = [self.pk]
        parent_id = self.parent_id
        while parent_id is not None and parent_id not in ids and len(ids) < limit:
            ids.append(parent_id)
            parent_id = (
                AIModel.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
            )
        return ids

    def largest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the largest effective compute, whatever the order they were
        registered in (the gate's planned compute); None without one."""
        return self.checkpoints.order_by("-effective_compute", "-reported_at", "-pk").first()


class Checkpoint(AppendOnlyModel):
    """A point in a model's training, with the effective compute it took to reach it."""

    class Stage(models.TextChoices):
        PRETRAINING = "pretraining", "Pretraining"
        POST_TRAINING = "post_training", "Post-training"

    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="checkpoints")
    name = models.CharField(max_length=200)
    effective_compute = models.FloatField(help_text="effective training compute, FLOP")
    step = models.BigIntegerField(null=True, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.PRETRAINING)
    metadata = models.JSONField(default=dict, blank=True)
    reported_at = models.DateTimeField(default=timezone.now)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["model_id", "reported_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "name"], name="checkpoint_name_per_model"),
            models.CheckConstraint(
                condition=models.Q(effective_compute__gte=0), name="checkpoint_compute_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(step__isnull=True) | models.Q(step__gte=0),
                name="checkpoint_step_non_negative",
            ),
        ]
        indexes = [
            # A model's checkpoints in order, and its latest checkpoint (model page, triggers).
            models.Index(fields=["model", "reported_at", "id"], name="checkpoint_model_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.name}"


class EvalResultQuerySet(AppendOnlyQuerySet["EvalResult"]):
    def current(self) -> EvalResultQuerySet:
        """Results no later result supersedes (a corrected value is no longer current)."""
        later = EvalResult.objects.filter(supersedes=OuterRef("pk"))
        return self.filter(~Exists(later))

    def with_is_current(self) -> EvalResultQuerySet:
        """``is_current`` on every row: no later result supersedes it. A scalar subquery on
        the unique index of ``supersedes``, which PostgreSQL runs for each row a page shows;
        an ``EXISTS`` there was run as a hash of every result's ``supersedes``, on every page."""
        later = EvalResult.objects.filter(supersedes=OuterRef("pk")).order_by().values("pk")[:1]
        return self.annotate(is_current=IsNull(Subquery(later), True))

    def for_display(self) -> EvalResultQuerySet:
        """With the model, checkpoint and submitter joined (one query for a list)."""
        return self.select_related("model", "checkpoint", "submitted_by")


class EvalResult(AppendOnlyModel):
    """One measured value of a policy metric on a checkpoint; corrected only by superseding."""

    class Mitigation(models.TextChoices):
        PRE = "pre", "Pre-mitigation"
        POST = "post", "Post-mitigation"

    class Source(models.TextChoices):
        BROWSER = "browser", "Browser"
        API = "api", "API"
        IMPORT = "import", "Import"
        SUITE = "suite", "Suite run"
        # Run by an outside body (a government institute's pre-deployment tests...), named in
        # ``external_body``; recorded here through the API or the browser.
        EXTERNAL = "external", "Outside body"

    # No index of their own on the foreign keys: the composite indexes below start with
    # ``model`` and ``checkpoint``, and ``result_superseded_once`` is ``supersedes``' index.
    # Every result write paid for the three duplicates (ADR 0056).
    model = models.ForeignKey(
        AIModel, on_delete=models.PROTECT, related_name="results", db_index=False
    )
    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.PROTECT, related_name="results", db_index=False
    )
    metric_key = models.CharField(max_length=100)
    value = models.FloatField()
    stderr = models.FloatField(null=True, blank=True)
    # The stderr was not reported: it is the binomial one of a proportion, from n_samples.
    stderr_derived = models.BooleanField(default=False)
    n_samples = models.PositiveIntegerField(null=True, blank=True)
    # {scaffold, attempts, pass_at_k, tools, safety_training_removed, fine_tuned, inference_budget}
    elicitation = models.JSONField(default=dict, blank=True)
    mitigation = models.CharField(max_length=4, choices=Mitigation.choices, default=Mitigation.PRE)
    source = models.CharField(max_length=10, choices=Source.choices)
    # The outside body that ran the evaluation; set exactly when the source is ``external``.
    external_body = models.CharField(max_length=200, blank=True, default="")
    # Where the number came from: Inspect eval_id, file sha256, import id, suite run id...
    provenance = models.JSONField(default=dict, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)
    evidence_url = models.URLField(max_length=500, blank=True)
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        db_index=False,
    )
    correction_reason = models.TextField(blank=True)
    # When the evaluation ran (a log's own date for imports); freshness checks use it.
    evaluated_at = models.DateTimeField(default=timezone.now)
    # From a run with a sample limit: weak evidence that can show danger, never safety.
    partial = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = EvalResultQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            # A result is corrected at most once; later corrections supersede the correction.
            models.UniqueConstraint(fields=["supersedes"], name="result_superseded_once"),
            models.CheckConstraint(
                condition=models.Q(supersedes__isnull=True, correction_reason="")
                | (models.Q(supersedes__isnull=False) & ~models.Q(correction_reason="")),
                name="result_correction_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(stderr__isnull=True) | models.Q(stderr__gte=0),
                name="result_stderr_non_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(n_samples__isnull=True) | models.Q(n_samples__gte=1),
                name="result_n_samples_positive",
            ),
            models.CheckConstraint(
                condition=(models.Q(source="external") & ~models.Q(external_body=""))
                | (~models.Q(source="external") & models.Q(external_body="")),
                name="result_external_names_its_body",
            ),
        ]
        indexes = [
            # Latest current value per metric of a checkpoint (gate input, trigger arithmetic).
            models.Index(
                fields=["checkpoint", "metric_key", "recorded_at"], name="result_ckpt_metric"
            ),
            # A model's result history and latest value per metric (model page, API filter).
            models.Index(fields=["model", "metric_key", "recorded_at"], name="result_model_metric"),
            # API filter ?metric= across models.
            models.Index(fields=["metric_key", "recorded_at"], name="result_metric"),
            # A model's highest result id: the evidence summary's freshness check (gate read).
            models.Index(fields=["model", "id"], name="result_model_id"),
        ]

    def __str__(self) -> str:
        return f"{self.metric_key}={self.value} on {self.checkpoint_id}"


class EvidenceSummary(models.Model):
    """What the gate needs of the current results of one metric on one checkpoint (derived)."""

    # Derived data (evaluations.summary), rebuilt from the results at will: not a fact.
    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="+")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="+")
    metric_key = models.CharField(max_length=100)
    results = models.PositiveIntegerField(default=0)
    strong = models.PositiveIntegerField(default=0)
    best_strong = models.ForeignKey(
        EvalResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    best_strong_capability = models.FloatField(null=True, blank=True)
    best_weak = models.ForeignKey(
        EvalResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    best_weak_capability = models.FloatField(null=True, blank=True)
    latest_strong_at = models.DateTimeField(null=True, blank=True)
    # {repr(line): weak results whose bound is short of it}
    weak_short = models.JSONField(default=dict, blank=True)
    # {repr(line): strong results whose bound is short of it}: weak too, for a descendant
    # whose lineage to this model is only claimed
    strong_short = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "checkpoint", "metric_key"], name="summary_per_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.checkpoint_id}:{self.metric_key}"


class EvidenceSummaryState(models.Model):
    """Under which policy lens, and up to which result id, a model's summary is current."""

    model = models.OneToOneField(
        AIModel, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    lens = models.CharField(max_length=64, blank=True, default="")
    watermark = models.BigIntegerField(default=0)
    # Counts the result writes whose gate consequences are owed: bumped in the write's own
    # transaction for the model and every descendant, and stored on the gate rows computed
    # after it (``GateState.evidence_seq``). A stored gate behind it is recomputed on read.
    evidence_seq = models.BigIntegerField(default=0)
    # Set by the result write that finds it clear, which then asks the worker to recompute the
    # model's gate; cleared by that worker before it reads the inputs (ADR 0052). Writes that
    # find it set leave their gate to the recomputation already asked for.
    gate_due = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.watermark}"


class ImportRecord(models.Model):
    """One uploaded log file and what became of it; makes re-imports idempotent."""

    class Format(models.TextChoices):
        """The shipped formats (a reader defined elsewhere adds its own name)."""

        INSPECT = "inspect", "Inspect AI"
        LM_EVAL = "lm_eval", "lm-evaluation-harness"
        RESULTS_JSON = "results_json", "results JSON"

    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        CANCELLED = "cancelled", "Cancelled"
        STARTED = "started", "Started (incomplete)"

    # The file's bytes; the file itself is deleted after a retention period (ADR 0013).
    file_sha256 = models.CharField(max_length=64, unique=True)
    original_name = models.CharField(max_length=255, blank=True)
    #: A name in ``evaluations.importers.FORMATS`` (each reader registers itself).
    format = models.CharField(max_length=20)
    # Unique among successful imports: a failed run's eval may later succeed as a retry.
    eval_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001  (NULL = none)
    # The evaluation's identity whatever the bytes: inspect:<eval_id>, lm_eval:<content sha256>,
    # results_json:<run_id>. Unique among successful imports, like eval_id.
    run_key = models.CharField(max_length=250, null=True, blank=True)  # noqa: DJ001  (NULL = none)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    model = models.ForeignKey(
        AIModel, null=True, blank=True, on_delete=models.PROTECT, related_name="imports"
    )
    checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="imports"
    )
    results_created = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-imported_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["eval_id"],
                condition=models.Q(eval_id__isnull=False, status="success"),
                name="import_eval_id_once",
            ),
            models.UniqueConstraint(
                fields=["run_key"],
                condition=models.Q(run_key__isnull=False, status="success"),
                name="import_run_key_once",
            ),
        ]
        indexes = [
            # Re-import check by Inspect eval_id (file_sha256 has its own unique index).
            models.Index(fields=["eval_id"], name="import_eval_id"),
            # Re-import check by run identity (lm-eval content, results JSON run_id).
            models.Index(fields=["run_key"], name="import_run_key"),
            # A model's import history (model page).
            models.Index(fields=["model", "imported_at"], name="import_model_recent"),
        ]

    def __str__(self) -> str:
        return f"import {self.file_sha256[:12]} ({self.status})"


class MetricMapping(models.Model):
    """A remembered mapping of one task's source metric (``scorer/metric``) to a metric key.

    Remembered per task (format + task name + source name) and applied only to logs of the
    same task; rows from before mappings had a task keep ``format = task = ""`` and are never
    applied.
    """

    format = models.CharField(max_length=20, blank=True, default="")
    task = models.CharField(max_length=200, blank=True, default="")
    source_name = models.CharField(max_length=300)
    metric_key = models.CharField(max_length=100)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["metric_key", "format", "task", "source_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["format", "task", "source_name"], name="mapping_per_task_source"
            ),
        ]
        indexes = [
            # The mappings of one metric (the page per metric, API ?metric=).
            models.Index(fields=["metric_key"], name="mapping_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.format}:{self.task}:{self.source_name} → {self.metric_key}"


class PendingCorrection(models.Model):
    """A correction that would lower a determination, waiting for a second person.

    Until someone other than its author (safety or leadership) confirms it, the result it
    corrects stands; confirming applies it as an ordinary superseding correction.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"

    result = models.ForeignKey(
        EvalResult, on_delete=models.PROTECT, related_name="pending_corrections"
    )
    # The corrected fields as given (metric, value, stderr, mitigation...).
    values = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    # What the correction would lower, in words ("CBRN-3: crossed → below").
    changes = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=EvalResult.Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    applied = models.OneToOneField(
        EvalResult, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One open proposal per result: a second one waits for the first to be decided.
            models.UniqueConstraint(
                fields=["result"],
                condition=models.Q(status="pending"),
                name="pending_correction_once",
            ),
            # The second person is a second person.
            models.CheckConstraint(
                condition=~models.Q(status="confirmed")
                | (
                    models.Q(decided_by__isnull=False, applied__isnull=False)
                    & ~models.Q(decided_by=models.F("requested_by"))
                ),
                name="pending_correction_confirmed_by_another",
            ),
        ]
        indexes = [
            # The corrections page and API: open proposals first, newest first.
            models.Index(fields=["status", "requested_at"], name="pending_correction_status"),
        ]

    def __str__(self) -> str:
        return f"correction of #{self.result_id} ({self.status})"
