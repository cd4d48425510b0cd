"""State changes of evaluation suites and their runs (docs/adr/0011-suite-runs.md).

The database is the source of truth; the broker only carries run ids:

* A run is created together with its outbox message (:mod:`core.outbox`) in one transaction.
  After commit the message is sent at once; the outbox relay sends whatever that missed (a
  crash, a broker outage).
* A worker **claims** a run with one conditional UPDATE (queued, or running with an expired
  lease, and attempts left), computes with no transaction open while a heartbeat renews its
  lease, then commits results, status and audit entries in one transaction, fenced on its
  attempt number: a worker that lost its lease can no longer write.
* The **reaper** re-queues runs whose lease expired (a dead worker, a lost message) through the
  outbox, and fails runs that used up their attempts.
* Scheduled runs are unique per (suite, model, slot), so duplicated ticks create one run.

Every state change appends to the audit trail in its transaction.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
from core import outbox
from core.models import OutboxMessage, User
from evaluations.models import AIModel, Checkpoint, EvalResult
from evaluations.services import EvidenceError, record_results, require_policy
from rsp_portal.errors import ConflictError, ServiceError
from suites import runners
from suites.models import EvalSuite, SuiteRun, SuiteRunResult

if TYPE_CHECKING:
    from rsp_portal.types import Actor


logger = logging.getLogger(__name__)

RUN_TASK = "evaluations.run_suite"
SCHEDULED_TASK = "evaluations.run_scheduled_suite"
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
WORKER = "worker"  # the audit actor of everything a worker does
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")


def lease_seconds() -> int:
    return int(getattr(settings, "SUITE_LEASE_SECONDS", 300))


def requeue_seconds() -> int:
    return int(getattr(settings, "SUITE_REQUEUE_SECONDS", 300))


def _error(field_name: str, message: str, cls: type[ServiceError] = EvidenceError) -> Any:
    return cls({field_name: [message]})


# --- Schedules -----------------------------------------------------------------------------


def parse_cron(text: Any) -> dict[str, str]:
    """The five cron fields of ``text`` (``"*/5 * * * *"``) by name; raises EvidenceError."""
    from celery.schedules import crontab

    if not isinstance(text, str):
        raise _error("schedule", "Must be five cron fields, e.g. '*/5 * * * *'.")
    parts = text.split()
    if len(parts) != 5:
        raise _error(
            "schedule",
            "Must be five cron fields: minute hour day-of-month month day-of-week "
            "(e.g. '*/5 * * * *' or '0 3 * * 1').",
        )
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    try:
        crontab(**fields)
    except Exception as exc:  # celery's parser raises ValueError and its own ParseException
        raise _error("schedule", f"Invalid cron expression: {exc}.") from None
    return fields


def previous_fire(schedule: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` (UTC, whole minutes) that ``schedule`` fires.

    Fields combine as in Celery's crontab (all must match). A tick delivered late still maps to
    the slot it was fired for, as long as it runs before the next one.
    """
    from celery.schedules import crontab

    spec: Any = crontab(**parse_cron(schedule))  # expanded sets: .minute, .hour...
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    minutes, hours = sorted(spec.minute, reverse=True), sorted(spec.hour, reverse=True)
    day = now.date()
    for offset in range(366 * 8 + 1):  # a 29 February schedule fires once in up to 8 years
        candidate = day - timedelta(days=offset)
        if (
            candidate.month not in spec.month_of_year
            or candidate.day not in spec.day_of_month
            or candidate.isoweekday() % 7 not in spec.day_of_week
        ):
            continue
        for hour in hours:
            if offset == 0 and hour > now.hour:
                continue
            for minute in minutes:
                if offset == 0 and hour == now.hour and minute > now.minute:
                    continue
                return datetime(
                    candidate.year, candidate.month, candidate.day, hour, minute, tzinfo=UTC
                )
    return now


def sync_schedule(suite: EvalSuite) -> None:
    """Create, update or remove the suite's django-celery-beat entry to match it."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    name = f"suite:{suite.slug}"
    if not suite.schedule:
        task = suite.periodic_task
        if task is not None:
            suite.periodic_task = None
            suite.save(update_fields=["periodic_task"])
            task.delete()
        PeriodicTask.objects.filter(name=name).delete()
        return
    fields = parse_cron(suite.schedule)
    crontab, _ = CrontabSchedule.objects.get_or_create(**fields, timezone="UTC")
    values = {
        "task": SCHEDULED_TASK,
        "crontab": crontab,
        "interval": None,
        "args": json.dumps([suite.pk]),
        "kwargs": "{}",
        "enabled": suite.enabled,
        "description": f"Evaluation suite {suite.slug} (managed by the portal; edit the suite).",
    }
    task = suite.periodic_task or PeriodicTask.objects.filter(name=name).first()
    if task is None:
        task = PeriodicTask.objects.create(name=name, **values)
    else:
        for key, value in values.items():
            setattr(task, key, value)
        task.name = name
        task.save()
    if suite.periodic_task_id != task.pk:
        suite.periodic_task = task
        suite.save(update_fields=["periodic_task"])


# --- Suites --------------------------------------------------------------------------------


def _suite_audit(suite: EvalSuite) -> dict[str, Any]:
    return {
        "suite": suite.slug,
        "name": suite.name,
        "runner": suite.runner,
        "config": suite.config,
        "metrics": suite.metrics,
        "targets": sorted(m.slug for m in suite.targets.all()),
        "schedule": suite.schedule,
        "enabled": suite.enabled,
        "max_attempts": suite.max_attempts,
    }


def check_suite_input(
    *,
    slug: Any,
    name: Any,
    metrics: Any,
    runner: Any,
    config: Any,
    schedule: Any,
    max_attempts: Any,
) -> tuple[dict[str, Any], dict[str, str], str]:
    """Validate a suite's fields; returns ``(config, metrics, schedule)`` normalised.

    ``slug`` is checked only when given (a new suite). Metric keys must be in the active
    policy; a missing active policy raises at once.
    """
    errors: dict[str, list[str]] = {}
    if slug is not None:
        if not isinstance(slug, str) or not _SLUG_RE.match(slug) or len(slug) > 100:
            errors["slug"] = ["Required: letters, digits, hyphens and underscores."]
        elif EvalSuite.objects.filter(slug=slug).exists():
            errors["slug"] = [f"A suite with slug {slug!r} already exists."]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = ["Required: at most 200 characters."]
    if runner not in runners.RUNNERS:
        errors["runner"] = [f"Must be one of {', '.join(runners.RUNNERS)}."]
    clean_config: dict[str, Any] = {}
    if not errors.get("runner"):
        try:
            clean_config = runners.validate_config(runner, config)
        except runners.ConfigError as exc:
            errors.update(exc.errors)
    policy = require_policy()
    clean_metrics: dict[str, str] = {}
    try:
        clean_metrics = runners.validate_mapping(metrics, set(policy.metrics))
    except runners.ConfigError as exc:
        errors.update(exc.errors)
    schedule_text = " ".join(str(schedule or "").split())
    if schedule_text:
        try:
            parse_cron(schedule_text)
        except ServiceError as exc:
            errors.update(exc.message_dict)
    if (
        isinstance(max_attempts, bool)
        or not isinstance(max_attempts, int)
        or not 1 <= max_attempts <= 10
    ):
        errors["max_attempts"] = ["Must be a whole number from 1 to 10."]
    if errors:
        raise EvidenceError(errors)
    return clean_config, clean_metrics, schedule_text


def save_suite(
    suite: EvalSuite | None = None,
    *,
    slug: Any = None,
    name: Any,
    description: Any = "",
    metrics: Any,
    runner: Any,
    config: Any,
    targets: Iterable[Any] = (),
    schedule: Any = "",
    enabled: bool = True,
    max_attempts: Any = 3,
    actor: Actor = None,
    via: str | None = None,
) -> EvalSuite:
    """Create (``suite`` None) or update a suite, keeping its beat schedule in step.

    Only administrators (``suite.manage``) may call this: the runner configuration decides
    what code a worker executes. Metric keys are checked against the active policy.
    """
    clean_config, clean_metrics, schedule_text = check_suite_input(
        slug=slug if suite is None else None,
        name=name,
        metrics=metrics,
        runner=runner,
        config=config,
        schedule=schedule,
        max_attempts=max_attempts,
    )
    errors: dict[str, list[str]] = {}
    target_models = []
    for target in targets:
        model = target if isinstance(target, AIModel) else None
        if model is None:
            model = AIModel.objects.filter(slug=target).first() if isinstance(target, str) else None
        if model is None:
            errors.setdefault("targets", []).append(f"Unknown model {target!r:.100}.")
        else:
            target_models.append(model)
    if errors:
        raise EvidenceError(errors)

    with transaction.atomic():
        creating = suite is None
        if suite is None:
            suite = EvalSuite(slug=slug, created_by=actor if isinstance(actor, User) else None)
        suite.name = name.strip()
        suite.description = str(description or "")
        suite.metrics = clean_metrics
        suite.runner = runner
        suite.config = clean_config
        suite.schedule = schedule_text
        suite.enabled = bool(enabled)
        suite.max_attempts = max_attempts
        suite.updated_at = timezone.now()
        suite.save()
        suite.targets.set(target_models)
        sync_schedule(suite)
        audit.record(
            "suite.create" if creating else "suite.update",
            suite,
            _suite_audit(suite),
            actor,
            via=via,
        )
    return suite


def delete_suite(suite: EvalSuite, actor: Actor = None, via: str | None = None) -> None:
    """Remove a suite that never ran (with its schedule); suites with runs are disabled."""
    with transaction.atomic():
        if suite.runs.exists():
            raise _error(
                "suite",
                f"Suite {suite.slug} has runs; disable it instead of deleting it.",
                ConflictError,
            )
        data = _suite_audit(suite)
        suite.schedule = ""
        sync_schedule(suite)
        audit.record("suite.delete", suite, data, actor, via=via)
        suite.delete()


# --- Outbox --------------------------------------------------------------------------------


def _enqueue(run: SuiteRun) -> OutboxMessage:
    """Write the run's message in the caller's transaction (core.outbox); sent after commit."""
    return outbox.enqueue(RUN_TASK, {"run_id": run.pk})


# --- Requesting runs -----------------------------------------------------------------------


def _latest_checkpoint(model: AIModel) -> Checkpoint | None:
    return model.checkpoints.order_by("-reported_at", "-id").first()


def _run_audit(run: SuiteRun, **extra: Any) -> dict[str, Any]:
    return {
        "model": run.model.slug,
        "suite": run.suite.slug,
        "checkpoint": run.checkpoint.name,
        "status": run.status,
        "attempt": run.attempts,
        **extra,
    }


def _new_run(
    suite: EvalSuite,
    model: AIModel,
    checkpoint: Checkpoint,
    slot: datetime,
    trigger: str,
    actor: Actor,
    via: str | None,
) -> SuiteRun:
    now = timezone.now()
    run = SuiteRun.objects.create(
        suite=suite,
        model=model,
        checkpoint=checkpoint,
        max_attempts=suite.max_attempts,
        triggered_by=trigger,
        requested_by=actor if isinstance(actor, User) else None,
        scheduled_for=slot,
        created_at=now,
        lease_expires_at=now + timedelta(seconds=requeue_seconds()),
    )
    audit.record(
        "suite_run.request",
        run,
        _run_audit(run, triggered_by=trigger, scheduled_for=slot.isoformat()),
        actor,
        via=via,
    )
    _enqueue(run)
    return run


def request_run(
    suite: EvalSuite,
    model: AIModel,
    *,
    actor: Actor,
    trigger: str = SuiteRun.Trigger.USER,
    via: str | None = None,
) -> SuiteRun:
    """Queue a run of ``suite`` on ``model``'s latest checkpoint now (slot = request time)."""
    if not suite.enabled:
        raise _error("suite", f"Suite {suite.slug} is disabled.", ConflictError)
    if not suite.targets.filter(pk=model.pk).exists():
        raise _error(
            "model",
            f"{model.slug} is not a target of suite {suite.slug} "
            f"(targets: {', '.join(m.slug for m in suite.targets.all()) or 'none'}).",
        )
    checkpoint = _latest_checkpoint(model)
    if checkpoint is None:
        raise _error("model", f"{model.slug} has no checkpoint to evaluate yet.", ConflictError)
    with transaction.atomic():
        return _new_run(suite, model, checkpoint, timezone.now(), trigger, actor, via)


def schedule_tick(suite_id: int, now: datetime | None = None) -> list[SuiteRun]:
    """Create the runs of the slot that fired at or before ``now``: one per target model.

    Safe to call twice for the same slot (two beats, a redelivered tick): the unique
    (suite, model, slot) constraint lets only one transaction create each run.
    """
    suite = EvalSuite.objects.filter(pk=suite_id).first()
    if suite is None or not suite.enabled or not suite.schedule:
        return []
    slot = previous_fire(suite.schedule, now or timezone.now())
    created = []
    for model in suite.targets.order_by("slug"):
        checkpoint = _latest_checkpoint(model)
        if checkpoint is None:
            logger.info("suite %s: %s has no checkpoint, skipped", suite.slug, model.slug)
            continue
        if SuiteRun.objects.filter(suite=suite, model=model, scheduled_for=slot).exists():
            continue
        try:
            with transaction.atomic():
                run = _new_run(
                    suite, model, checkpoint, slot, SuiteRun.Trigger.SCHEDULE, "schedule", None
                )
        except IntegrityError:
            continue  # a concurrent tick created this slot's run first
        created.append(run)
    return created


def cancel_run(run: SuiteRun, actor: Actor, via: str | None = None) -> SuiteRun:
    """Cancel a queued or running run; a worker still computing discards its output."""
    with transaction.atomic():
        locked = SuiteRun.objects.for_display().select_for_update(of=("self",)).get(pk=run.pk)
        if not locked.is_active:
            raise _error("run", f"Run {run.pk} is already {locked.status}.", ConflictError)
        locked.status = SuiteRun.Status.CANCELLED
        locked.finished_at = timezone.now()
        locked.lease_expires_at = None
        locked.save(update_fields=["status", "finished_at", "lease_expires_at"])
        audit.record("suite_run.cancel", locked, _run_audit(locked), actor, via=via)
    return locked


# --- Executing runs (worker side) ----------------------------------------------------------


def run_settled(payload: dict[str, Any]) -> bool:
    """Whether the run a message asks for is finished (so the message has nothing left to do)."""
    run_id = payload.get("run_id")
    if not isinstance(run_id, int):
        return False
    return (
        SuiteRun.objects.filter(pk=run_id)
        .exclude(status__in=[SuiteRun.Status.QUEUED, SuiteRun.Status.RUNNING])
        .exists()
    )


def claim(run_id: int, worker: str) -> SuiteRun | None:
    """Take the run for one attempt, or None when it is done, held by another, or used up."""
    now = timezone.now()
    with transaction.atomic():
        taken = (
            SuiteRun.objects.filter(pk=run_id, attempts__lt=F("max_attempts"))
            .filter(
                Q(status=SuiteRun.Status.QUEUED)
                | Q(status=SuiteRun.Status.RUNNING, lease_expires_at__lt=now)
            )
            .update(
                status=SuiteRun.Status.RUNNING,
                attempts=F("attempts") + 1,
                lease_expires_at=now + timedelta(seconds=lease_seconds()),
                worker=worker[:200],
                started_at=now,
                progress_done=0,
            )
        )
        if not taken:
            return None
        run = SuiteRun.objects.for_display().get(pk=run_id)
        audit.record("suite_run.start", run, _run_audit(run, worker=run.worker), WORKER)
    return run


def _mine(run_id: int, attempt: int) -> Any:
    return SuiteRun.objects.filter(pk=run_id, status=SuiteRun.Status.RUNNING, attempts=attempt)


def renew_lease(run_id: int, attempt: int) -> bool:
    """Extend the lease of the attempt that holds the run; False when it no longer does."""
    deadline = timezone.now() + timedelta(seconds=lease_seconds())
    return bool(_mine(run_id, attempt).update(lease_expires_at=deadline))


def report_progress(run_id: int, attempt: int, done: int, total: int) -> None:
    deadline = timezone.now() + timedelta(seconds=lease_seconds())
    _mine(run_id, attempt).update(
        progress_done=max(0, done), progress_total=max(0, total), lease_expires_at=deadline
    )


def complete(run_id: int, attempt: int, output: runners.RunOutput) -> bool:
    """Store the results, the success and its audit entries in one transaction.

    Fenced on the attempt: if the run was re-claimed, cancelled or already finished, nothing
    is written and False is returned. Results land through the evidence service (audit, gate
    recompute, notifications) with source ``suite``.
    """
    with transaction.atomic():
        run = SuiteRun.objects.for_display().select_for_update(of=("self",)).get(pk=run_id)
        if run.status != SuiteRun.Status.RUNNING or run.attempts != attempt:
            logger.info("run %s attempt %s lost its claim; output discarded", run_id, attempt)
            return False
        items = [
            {
                "model": run.model.slug,
                "checkpoint": run.checkpoint.name,
                "metric": key,
                "value": metric.value,
                "stderr": metric.stderr,
                "n_samples": metric.n_samples,
                "provenance": {"source_metric": metric.name},
                "evaluated_at": output.evaluated_at,
                "partial": output.partial,
            }
            for key, metric in output.results
        ]
        provenance = {
            **output.provenance,
            "suite": run.suite.slug,
            "run": run.pk,
            "suite_run_id": run.pk,
            "attempt": attempt,
        }
        results = record_results(items, WORKER, EvalResult.Source.SUITE, provenance=provenance)
        SuiteRunResult.objects.bulk_create(
            SuiteRunResult(run=run, metric_key=r.metric_key, result=r) for r in results
        )
        now = timezone.now()
        run.status = SuiteRun.Status.SUCCEEDED
        run.finished_at = now
        run.lease_expires_at = None
        run.error = ""
        run.log_excerpt = output.log_excerpt
        run.log_file = output.log_file
        run.progress_done = max(run.progress_done, run.progress_total)
        run.save(
            update_fields=[
                "status",
                "finished_at",
                "lease_expires_at",
                "error",
                "log_excerpt",
                "log_file",
                "progress_done",
            ]
        )
        audit.record(
            "suite_run.succeed",
            run,
            _run_audit(run, results={r.metric_key: r.value for r in results}),
            WORKER,
        )
    return True


def fail_attempt(
    run_id: int, attempt: int, message: str, log_excerpt: str = "", *, retryable: bool = True
) -> str | None:
    """End an attempt that failed: queue the next one, or fail the run when none is left."""
    with transaction.atomic():
        run = SuiteRun.objects.for_display().select_for_update(of=("self",)).get(pk=run_id)
        if run.status != SuiteRun.Status.RUNNING or run.attempts != attempt:
            return None
        now = timezone.now()
        run.log_excerpt = log_excerpt
        if retryable and run.attempts < run.max_attempts:
            run.status = SuiteRun.Status.QUEUED
            run.lease_expires_at = now + timedelta(seconds=requeue_seconds())
            run.error = f"Attempt {attempt} of {run.max_attempts} failed: {message}"
            action = "suite_run.retry"
        else:
            run.status = SuiteRun.Status.FAILED
            run.lease_expires_at = None
            run.finished_at = now
            run.error = message
            action = "suite_run.fail"
        run.save(
            update_fields=["status", "lease_expires_at", "finished_at", "error", "log_excerpt"]
        )
        audit.record(action, run, _run_audit(run, error=message[:500]), WORKER)
        if run.status == SuiteRun.Status.QUEUED:
            _enqueue(run)
    return run.status


class _Heartbeat(threading.Thread):
    """Renews the attempt's lease every third of its length while the runner computes."""

    def __init__(self, run_id: int, attempt: int) -> None:
        super().__init__(daemon=True, name=f"lease-{run_id}")
        self.run_id, self.attempt = run_id, attempt
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(max(1.0, lease_seconds() / 3)):
                if not renew_lease(self.run_id, self.attempt):
                    return
        except Exception:  # a lost database connection: the lease runs out, the reaper acts
            logger.exception("lease renewal of run %s failed", self.run_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def logs_dir(run: SuiteRun) -> Path:
    return Path(settings.MEDIA_ROOT) / "suite-logs" / f"run-{run.pk}"


def execute(run_id: int, worker: str) -> str | None:
    """The worker's whole job for one message: claim, compute, commit. Safe to run twice."""
    run = claim(run_id, worker)
    if run is None:
        return None
    attempt = run.attempts
    suite = run.suite

    def progress(done: int, total: int) -> None:
        report_progress(run_id, attempt, done, total)

    heartbeat = _Heartbeat(run_id, attempt)
    heartbeat.start()
    try:
        runner = runners.runner_for(suite.runner)
        output = runner.run(suite.config, suite.metrics, progress, logs_dir(run))
    except runners.RunnerError as exc:
        return fail_attempt(run_id, attempt, exc.message, exc.log_excerpt, retryable=exc.retryable)
    except Exception as exc:  # includes the soft time limit
        logger.exception("run %s attempt %s crashed", run_id, attempt)
        return fail_attempt(run_id, attempt, f"Unexpected error: {type(exc).__name__}: {exc}")
    finally:
        heartbeat.stop()
    try:
        done = complete(run_id, attempt, output)
    except ServiceError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        return fail_attempt(
            run_id,
            attempt,
            f"The results were refused: {messages}",
            output.log_excerpt,
            retryable=False,
        )
    return SuiteRun.Status.SUCCEEDED if done else None


def reap(now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Re-queue runs whose lease expired; fail those with no attempt left.

    A running run with an expired lease lost its worker; a queued one may have lost its message
    (a wiped broker), so it is published again. Both go through the outbox.
    """
    now = now or timezone.now()
    counts = {"requeued": 0, "republished": 0, "failed": 0}
    expired = list(
        SuiteRun.objects.active()
        .filter(lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    for run_id in expired:
        with transaction.atomic():
            run = SuiteRun.objects.for_display().select_for_update(of=("self",)).get(pk=run_id)
            if not run.is_active or run.lease_expires_at is None or run.lease_expires_at >= now:
                continue
            deadline = timezone.now() + timedelta(seconds=requeue_seconds())
            if run.status == SuiteRun.Status.QUEUED:
                run.lease_expires_at = deadline
                run.save(update_fields=["lease_expires_at"])
                _enqueue(run)
                counts["republished"] += 1
                continue
            if run.attempts >= run.max_attempts:
                run.status = SuiteRun.Status.FAILED
                run.finished_at = timezone.now()
                run.lease_expires_at = None
                run.error = (
                    f"The worker stopped responding during the last attempt "
                    f"({run.attempts} of {run.max_attempts}); the lease expired."
                )
                action, key = "suite_run.fail", "failed"
            else:
                run.status = SuiteRun.Status.QUEUED
                run.lease_expires_at = deadline
                run.error = (
                    f"Attempt {run.attempts} of {run.max_attempts} lost its worker "
                    f"({run.worker or 'unknown'}); re-queued."
                )
                action, key = "suite_run.requeue", "requeued"
            run.save(update_fields=["status", "finished_at", "lease_expires_at", "error"])
            audit.record(action, run, _run_audit(run, error=run.error), WORKER)
            if run.status == SuiteRun.Status.QUEUED:
                _enqueue(run)
            counts[key] += 1
    return counts
