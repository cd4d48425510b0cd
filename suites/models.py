"""Evaluation suites and their runs (their messages go through :mod:`core.outbox`).

The run machinery is explained in docs/adr/0011-suite-runs.md. These models were moved here
from the evidence app without touching the database (docs/adr/0015-suites-app.md): each keeps
its ``evaluations_*`` table and its audit object type (``AUDIT_TYPE``), so rows and the audit
history of a suite or run read the same as before the move.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.models import AppendOnlyModel, AppendOnlyQuerySet


class EvalSuite(models.Model):
    """A named evaluation that runs against target models on a schedule or on request."""

    class Runner(models.TextChoices):
        INSPECT = "inspect", "Inspect AI task"
        COMMAND = "command", "Command"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # {"<scorer>/<metric>": "<metric key>"}: what the runner reports and which policy metric
    # each value becomes; validated against the active policy when the suite is saved.
    metrics = models.JSONField(default=dict)
    runner = models.CharField(max_length=10, choices=Runner.choices)
    # Runner configuration, validated by suites.runners.validate_config.
    config = models.JSONField(default=dict)
    targets: Any = models.ManyToManyField(
        "evaluations.AIModel",
        blank=True,
        related_name="suites",
        db_table="evaluations_evalsuite_targets",
    )
    # Five cron fields ("*/5 * * * *", UTC); empty means on request only. The service mirrors it
    # into a django-celery-beat PeriodicTask, which beat reads.
    schedule = models.CharField(max_length=100, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    enabled = models.BooleanField(default=True)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    AUDIT_TYPE = "evaluations.evalsuite"

    objects: ClassVar[models.Manager[EvalSuite]] = models.Manager()
    periodic_task_id: int | None
    runs: Any

    class Meta:
        db_table = "evaluations_evalsuite"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1, max_attempts__lte=10),
                name="suite_max_attempts_range",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class SuiteRunQuerySet(models.QuerySet["SuiteRun"]):
    def for_display(self) -> SuiteRunQuerySet:
        """With suite, model, checkpoint and requester joined (one query for a list)."""
        return self.select_related("suite", "model", "checkpoint", "requested_by")

    def active(self) -> SuiteRunQuerySet:
        return self.filter(status__in=[SuiteRun.Status.QUEUED, SuiteRun.Status.RUNNING])


class SuiteRun(models.Model):
    """One execution of a suite on one model's checkpoint, for one scheduled slot.

    ``lease_expires_at`` is the deadline of whoever holds the run: while running, the worker
    (renewed by its heartbeat); while queued, the time after which the reaper publishes it
    again (its message may have been lost with the broker).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        USER = "user", "User"
        API = "api", "API"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
    AUDIT_TYPE = "evaluations.suiterun"

    suite = models.ForeignKey(EvalSuite, on_delete=models.PROTECT, related_name="runs")
    model = models.ForeignKey(
        "evaluations.AIModel", on_delete=models.PROTECT, related_name="suite_runs"
    )
    checkpoint = models.ForeignKey(
        "evaluations.Checkpoint", on_delete=models.PROTECT, related_name="suite_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    log_excerpt = models.TextField(blank=True)
    log_file = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The slot this run fills: the schedule's fire time, or the request time of a manual run.
    scheduled_for = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[Any] = SuiteRunQuerySet.as_manager()
    suite_id: int
    model_id: int
    checkpoint_id: int
    run_results: Any

    class Meta:
        db_table = "evaluations_suiterun"
        ordering = ["-created_at", "-id"]
        constraints = [
            # A duplicated schedule tick (two beats, a redelivered message) cannot run twice.
            models.UniqueConstraint(
                fields=["suite", "model", "scheduled_for"], name="suite_run_once_per_slot"
            ),
            models.CheckConstraint(
                condition=models.Q(attempts__lte=models.F("max_attempts")),
                name="suite_run_attempts_capped",
            ),
        ]
        indexes = [
            # The reaper: queued/running runs whose lease has expired.
            models.Index(fields=["status", "lease_expires_at"], name="suite_run_lease"),
            # A suite's run history, newest first (suite page).
            models.Index(fields=["suite", "-created_at"], name="suite_run_history"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.suite_id} on {self.model_id}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def badge(self) -> str:
        """The CSS badge class of the status (static/css/app.css)."""
        badges: dict[str, str] = {
            self.Status.QUEUED: "pending",
            self.Status.RUNNING: "warning",
            self.Status.SUCCEEDED: "ok",
            self.Status.FAILED: "bad",
        }
        return badges.get(str(self.status), "")

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class SuiteRunResult(AppendOnlyModel):
    """The result a run produced for one metric: at most one per (run, metric)."""

    run = models.ForeignKey(SuiteRun, on_delete=models.PROTECT, related_name="run_results")
    metric_key = models.CharField(max_length=100)
    result = models.OneToOneField(
        "evaluations.EvalResult", on_delete=models.PROTECT, related_name="suite_run_link"
    )

    AUDIT_TYPE = "evaluations.suiterunresult"

    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()
    run_id: int

    class Meta:
        db_table = "evaluations_suiterunresult"
        constraints = [
            # A replayed completion cannot add a second value of the same metric.
            models.UniqueConstraint(fields=["run", "metric_key"], name="suite_result_once"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.metric_key}"
