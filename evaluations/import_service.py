"""Importing evaluation logs (Inspect AI, lm-eval): upload, preview, mapping, import.

Results are written through :func:`evaluations.services.record_results`'s validation and the
same ``EVIDENCE_CHANGED`` event, so an import is audited and moves the gate like any other
write.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from evaluations.importers import (
    ImportFormatError,
    MappingConflictError,
    ParsedLog,
    ParsedMetric,
    apply_mapping,
    parse_log_file,
)
from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
    ImportRecord,
    MetricMapping,
)
from evaluations.policy import PolicyView
from evaluations.services import (
    EvidenceError,
    evaluated_at,
    field_error,
    listing,
    record_results,
    require_policy,
    user_of,
)
from rsp_portal.errors import ConflictError, TooLargeError

if TYPE_CHECKING:
    import datetime

    from rsp_portal.types import Actor


#: Largest log file accepted for import (bytes); the settings may override it.
DEFAULT_MAX_IMPORT_BYTES = 256 * 1024 * 1024


# --- Imports -------------------------------------------------------------------------------


#: Uploads no import recorded (previews, abandoned uploads) are deleted after this long.
DEFAULT_PREVIEW_RETENTION_HOURS = 24
#: Files of recorded imports are deleted after this many days; the record keeps the SHA-256.
DEFAULT_IMPORT_FILE_RETENTION_DAYS = 90


def max_import_bytes() -> int:
    return int(getattr(settings, "MAX_IMPORT_BYTES", DEFAULT_MAX_IMPORT_BYTES))


def imports_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded log kept under ``MEDIA_ROOT/imports/<sha256>`` between preview and import."""

    sha256: str
    original_name: str
    path: Path
    size: int


def store_upload(uploaded: Any) -> StoredUpload:
    """Write an uploaded file to ``MEDIA_ROOT/imports/<sha256>`` (hashing while copying)."""
    limit = max_import_bytes()
    name = Path(str(getattr(uploaded, "name", "") or "upload")).name[:255]
    if getattr(uploaded, "size", 0) and uploaded.size > limit:
        raise field_error(
            "file", f"The file is larger than {limit // (1024 * 1024)} MiB.", TooLargeError
        )
    directory = imports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".upload-", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            for chunk in uploaded.chunks() if hasattr(uploaded, "chunks") else [uploaded.read()]:
                size += len(chunk)
                if size > limit:
                    raise field_error(
                        "file",
                        f"The file is larger than {limit // (1024 * 1024)} MiB.",
                        TooLargeError,
                    )
                digest.update(chunk)
                tmp.write(chunk)
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
    if size == 0:
        tmp_path.unlink(missing_ok=True)
        raise field_error("file", "The file is empty.")
    sha = digest.hexdigest()
    target = directory / sha
    if target.exists():
        tmp_path.unlink(missing_ok=True)
        target.touch()  # uploaded again: its retention starts again
    else:
        shutil.move(str(tmp_path), target)
    return StoredUpload(sha256=sha, original_name=name, path=target, size=size)


def stored_upload(sha256: Any, original_name: Any) -> StoredUpload:
    """A previously stored upload, by its hash (from the preview form)."""
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise field_error("file", "The uploaded file is missing; upload it again.")
    path = imports_dir() / sha256
    if not path.is_file():
        raise field_error("file", "The uploaded file is no longer available; upload it again.")
    name = Path(str(original_name or "upload")).name[:255]
    return StoredUpload(sha256=sha256, original_name=name, path=path, size=path.stat().st_size)


def prune_uploads(now: float | None = None) -> dict[str, int]:
    """Delete stored uploads past their retention (docs/adr/0013-imports.md).

    A file no import recorded (a preview, an abandoned upload, a temporary file) goes after
    ``IMPORT_PREVIEW_RETENTION_HOURS`` (24); a recorded import's file after
    ``IMPORT_FILE_RETENTION_DAYS`` (90), its record keeping the SHA-256 and provenance. Ages
    are file modification times, which a new upload of the same bytes refreshes. Safe to run
    twice or concurrently: a file already gone is skipped.
    """
    directory = imports_dir()
    if not directory.is_dir():
        return {"previews": 0, "imports": 0}
    now = time.time() if now is None else now
    preview_age = 3600 * float(
        getattr(settings, "IMPORT_PREVIEW_RETENTION_HOURS", DEFAULT_PREVIEW_RETENTION_HOURS)
    )
    import_age = 86400 * float(
        getattr(settings, "IMPORT_FILE_RETENTION_DAYS", DEFAULT_IMPORT_FILE_RETENTION_DAYS)
    )
    files: dict[str, tuple[Path, float]] = {}
    for path in directory.iterdir():
        try:
            files[path.name] = (path, path.stat().st_mtime)
        except FileNotFoundError:
            continue
    recorded = set(
        ImportRecord.objects.filter(file_sha256__in=list(files)).values_list(
            "file_sha256", flat=True
        )
    )
    counts = {"previews": 0, "imports": 0}
    for name, (path, mtime) in files.items():
        kind = "imports" if name in recorded else "previews"
        if now - mtime < (import_age if kind == "imports" else preview_age) or not path.is_file():
            continue
        path.unlink(missing_ok=True)
        counts[kind] += 1
    return counts


@dataclass
class PreviewRow:
    """One parsed metric of a log, and what the import would do with it.

    ``origin`` says where ``metric_key`` came from: ``request`` (this import's mapping),
    ``remembered`` (a mapping stored for the same task, by ``remembered_by`` at
    ``remembered_at``), ``opted out`` (an empty value in this import's mapping) or ``""``
    (unmapped). ``direction_conflict`` is set when the tool's ``higher_is_better`` contradicts
    the metric's direction.
    """

    source_name: str
    value: float | None
    stderr: float | None
    n_samples: int | None
    metric_key: str | None
    error: str = ""
    origin: str = ""
    task: str = ""
    remembered_by: str | None = None
    remembered_at: datetime.datetime | None = None
    higher_is_better: bool | None = None
    direction_conflict: bool = False
    #: Mappings of the same source for other tasks: shown, never applied ``(task, metric)``.
    other_tasks: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportOutcome:
    """What ``import_log`` did (or, with ``preview``, would do)."""

    parsed: ParsedLog | None
    upload: StoredUpload
    record: ImportRecord | None = None
    results: list[EvalResult] = field(default_factory=list)
    already_imported: bool = False
    preview: bool = False
    rows: list[PreviewRow] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """The log did not succeed: recorded (or already recorded) with no results."""
        if self.record is not None:
            return self.record.status != ImportRecord.Status.SUCCESS
        return self.parsed is not None and self.parsed.status != "success"

    @property
    def message(self) -> str:
        if self.already_imported and self.record is not None:
            return f"{already_imported_message(self.record)}; nothing was added."
        if self.record is not None and self.record.status != ImportRecord.Status.SUCCESS:
            return (
                f"The log's status is {self.record.status}: it was recorded "
                f"(import #{self.record.pk}) but gives no results."
            )
        left = f"; left unmapped: {listing(self.unmapped)}" if self.unmapped else ""
        if self.preview:
            count = sum(1 for r in self.rows if r.metric_key and not r.error)
            return f"{count} result(s) to import{left}."
        return f"Imported {len(self.results)} result(s){left}."


def already_imported_message(record: ImportRecord) -> str:
    """Where an earlier import of the same evaluation went: model, checkpoint, import, date."""
    model = record.model.slug if record.model is not None else "no model"
    checkpoint = record.checkpoint.name if record.checkpoint is not None else "no checkpoint"
    return (
        f"Already imported into {model} / {checkpoint} as import #{record.pk} on "
        f"{record.imported_at:%Y-%m-%d %H:%M} UTC ({record.status}, "
        f"{record.results_created} result(s))"
    )


def _existing_import(parsed: ParsedLog) -> ImportRecord | None:
    """An earlier import of the same file, or a successful import of the same evaluation."""
    found = ImportRecord.objects.select_related("model", "checkpoint")
    record = found.filter(file_sha256=parsed.file_sha256).first()
    if record is None and parsed.eval_id:
        record = found.filter(eval_id=parsed.eval_id, status=ImportRecord.Status.SUCCESS).first()
    if record is None and parsed.run_key:
        record = found.filter(run_key=parsed.run_key, status=ImportRecord.Status.SUCCESS).first()
    return record


_MAPPING_SHAPE = 'Must be a JSON object {"<source name>": "<metric key>" or "" to opt out}.'


def _mapping_input(raw: Any) -> tuple[dict[str, str], set[str]]:
    """The request's mapping entries, and the sources it opts out (an empty value)."""
    if raw in (None, ""):
        return {}, set()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise field_error("mapping", _MAPPING_SHAPE) from None
    if not isinstance(raw, dict):
        raise field_error("mapping", _MAPPING_SHAPE)
    mapping: dict[str, str] = {}
    opted_out: set[str] = set()
    for name, key in raw.items():
        if len(str(name)) > 300:
            raise field_error("mapping", "A source name is at most 300 characters.")
        if key in (None, ""):
            opted_out.add(str(name))
            continue
        if not isinstance(key, str):
            raise field_error(f"mapping.{name}", "Must map to a metric key (a string).")
        mapping[str(name)] = key
    return mapping, opted_out


def _resolve_target(
    model: AIModel | str, checkpoint: Checkpoint | str
) -> tuple[AIModel, Checkpoint]:
    model_obj = model if isinstance(model, AIModel) else None
    if model_obj is None:
        model_obj = AIModel.objects.filter(slug=model).first() if isinstance(model, str) else None
        if model_obj is None:
            raise field_error("model", f"Unknown model {model!r:.100}.")
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else None
    if ckpt is None:
        name = checkpoint if isinstance(checkpoint, str) else None
        ckpt = Checkpoint.objects.filter(model=model_obj, name=name).first() if name else None
        if ckpt is None:
            raise field_error(
                "checkpoint", f"Model {model_obj.slug} has no checkpoint {checkpoint!r:.100}."
            )
    if ckpt.model_id != model_obj.pk:
        raise field_error(
            "checkpoint", f"Checkpoint {ckpt.name} does not belong to {model_obj.slug}."
        )
    return model_obj, ckpt


def _task_of(parsed: ParsedLog, metric: ParsedMetric) -> str:
    """The task a metric's mapping is remembered under."""
    return (metric.task or parsed.task or "")[:200]


def import_log(
    upload: Any,
    *,
    model: AIModel | str,
    checkpoint: Checkpoint | str,
    mapping: Any = None,
    actor: Actor = None,
    preview: bool = False,
    via: str | None = None,
    confirm_direction: bool = False,
) -> ImportOutcome:
    """Import an evidence log (any of ``importers.FORMATS``) as results of ``checkpoint``.

    ``upload`` is an uploaded file or a :class:`StoredUpload`. ``mapping`` (a dict or its JSON
    text) maps source names to metric keys and is remembered **per task** (format + task name
    + source name); an empty value opts a source out for this import only. Remembered entries
    apply only to logs of the same task; any other source is left unmapped and listed in
    ``unmapped``. A source whose tool direction (lm-eval ``higher_is_better``) contradicts the
    metric's is refused (field ``confirm_direction``) unless ``confirm_direction``.

    Only ``status == success`` logs give results; others are recorded with their error
    (``outcome.failed``). Re-importing the same file, Inspect ``eval_id`` or run identity
    (``ParsedLog.run_key``: lm-eval by content) changes nothing and returns the original record
    (``already_imported``); into another model or checkpoint it is a conflict (409). With
    ``preview`` nothing is written: the outcome lists each parsed metric and its mapping.
    """
    stored = upload if isinstance(upload, StoredUpload) else store_upload(upload)
    try:
        parsed = parse_log_file(stored.path, stored.original_name)
    except ImportFormatError as exc:
        raise field_error("file", exc.message) from None
    _refuse_future_log(parsed)
    outcome = ImportOutcome(parsed=parsed, upload=stored, preview=preview)
    model_obj, ckpt = _resolve_target(model, checkpoint)
    existing = _existing_import(parsed)
    if existing is not None:
        if (existing.model_id, existing.checkpoint_id) != (model_obj.pk, ckpt.pk):
            raise field_error(
                "file",
                f"{already_imported_message(existing)}; one evaluation cannot also be evidence "
                f"for {model_obj.slug} / {ckpt.name}.",
                ConflictError,
            )
        outcome.record, outcome.already_imported = existing, True
        return outcome

    given, opted_out = _mapping_input(mapping)
    base_provenance = {
        "file_sha256": parsed.file_sha256,
        "file_name": stored.original_name,
        "format": parsed.format,
        "eval_id": parsed.eval_id,
        "run_id": parsed.run_id,
        "run_key": parsed.run_key,
        "task": parsed.task,
        "log_model": parsed.model,
        "tool_version": parsed.tool_version,
        "partial_run": parsed.partial,
        "partial_run_reasons": parsed.provenance.get("partial_run_reasons", []),
    }

    if parsed.status != "success":
        if preview:
            outcome.errors = {
                "file": [f"The log's status is {parsed.status}: it gives no results."]
            }
            return outcome
        return _record_failed_import(outcome, parsed, stored, model_obj, ckpt, actor, via)

    policy = require_policy()
    for name, key in given.items():
        if key not in policy.metrics:
            raise field_error(
                f"mapping.{name}",
                f"Unknown metric {key!r:.100}. Valid keys: {policy.valid_keys()}.",
            )
    remembered = {
        (m.task, m.source_name): m
        for m in MetricMapping.objects.filter(
            format=parsed.format,
            task__in={_task_of(parsed, metric) for metric in parsed.metrics},
            source_name__in=[metric.name for metric in parsed.metrics],
        ).select_related("updated_by")
    }
    effective: dict[str, str] = {}
    origins: dict[str, MetricMapping | None] = {}
    for metric in parsed.metrics:
        if metric.name in opted_out:
            continue
        if metric.name in given:
            effective[metric.name], origins[metric.name] = given[metric.name], None
            continue
        stored_mapping = remembered.get((_task_of(parsed, metric), metric.name))
        if stored_mapping is not None and stored_mapping.metric_key in policy.metrics:
            effective[metric.name] = stored_mapping.metric_key
            origins[metric.name] = stored_mapping
    outcome.mapping = effective
    try:
        mapped, unmapped = apply_mapping(parsed, effective)
    except MappingConflictError as exc:
        raise field_error("mapping", exc.message) from None
    outcome.unmapped = unmapped
    items = []
    by_name = {metric.name: key for key, metric in mapped}
    for metric in parsed.metrics:
        mapped_key = by_name.get(metric.name)
        row = PreviewRow(
            metric.name,
            metric.value,
            metric.stderr,
            metric.n_samples,
            mapped_key,
            task=_task_of(parsed, metric),
            higher_is_better=metric.higher_is_better,
        )
        outcome.rows.append(row)
        if metric.name in opted_out:
            row.origin = "opted out"
        if mapped_key is None:
            continue
        key = mapped_key
        origin = origins.get(metric.name)
        row.origin = "remembered" if origin is not None else "request"
        if origin is not None:
            row.remembered_at = origin.updated_at
            row.remembered_by = origin.updated_by.username if origin.updated_by else None
        row.error = _mapped_metric_error(metric, key, policy)
        if row.error:
            outcome.errors.setdefault(f"mapping.{metric.name}", []).append(row.error)
        info = policy.metrics[key]
        if (
            metric.higher_is_better is not None
            and metric.higher_is_better != info.higher_is_more_capable
        ):
            row.direction_conflict = True
            if not confirm_direction:
                outcome.errors.setdefault("confirm_direction", []).append(
                    f"{metric.name}: the log says higher_is_better={metric.higher_is_better} "
                    f"but {key} is {'higher' if info.higher_is_more_capable else 'lower'} "
                    "is more capable; map another metric, or send confirm_direction=true "
                    "if the value really means that."
                )
        item = _import_item(model_obj, ckpt, key, metric, parsed)
        if row.direction_conflict:
            item["provenance"]["direction_confirmed"] = True
        items.append(item)
    _note_other_tasks(parsed, outcome.rows, policy)
    if not mapped:
        outcome.errors.setdefault("mapping", []).append(
            "No metric of this log is mapped to a policy metric for its task "
            f"({parsed.task or 'several tasks'}); map at least one of "
            f"{listing(m.name for m in parsed.metrics)}."
        )
    if preview:
        return outcome
    if outcome.errors:
        raise EvidenceError(outcome.errors)

    with transaction.atomic():
        record = _create_import_record(
            outcome,
            parsed,
            stored,
            model_obj,
            ckpt,
            actor,
            via,
            status=ImportRecord.Status.SUCCESS,
            results_created=len(items),
        )
        if record is None:
            return outcome
        _remember_mapping(
            parsed,
            {name: key for name, key in given.items() if name in by_name},
            actor,
            via,
        )
        outcome.results = record_results(
            items,
            actor,
            EvalResult.Source.IMPORT,
            via=via,
            provenance={**base_provenance, "import_id": record.pk},
        )
        outcome.record = record
    return outcome


def _refuse_future_log(parsed: ParsedLog) -> None:
    """A log dated in the future is refused at once, at preview as at import, naming the date:
    its results would otherwise look fresher than any real evaluation."""
    if not parsed.evaluated_at:
        return
    try:
        evaluated_at(parsed.evaluated_at, "file")
    except EvidenceError:
        raise field_error(
            "file",
            f"The log says the evaluation ran at {parsed.evaluated_at}, which is in the "
            "future; check the clock of the machine that ran it, or the date in the file.",
        ) from None


def _note_other_tasks(parsed: ParsedLog, rows: list[PreviewRow], policy: PolicyView) -> None:
    """List, on each unmapped row, the mappings its source name has for other tasks."""
    unmapped = {row.source_name: row for row in rows if row.metric_key is None}
    if not unmapped:
        return
    others = (
        MetricMapping.objects.filter(format=parsed.format, source_name__in=list(unmapped))
        .exclude(task="")
        .order_by("task")
        .values_list("source_name", "task", "metric_key")
    )
    for name, task, key in others:
        row = unmapped[name]
        if task != row.task and key in policy.metrics:
            row.other_tasks.append((task, key))


def _mapped_metric_error(metric: ParsedMetric, key: str, policy: PolicyView) -> str:
    info = policy.metrics.get(key)
    if info is None:
        return f"maps to unknown metric {key!r}; valid keys: {policy.valid_keys()}."
    if metric.value is None:
        return "has no value in the log (N/A)."
    if not math.isfinite(metric.value):
        return f"has a non-finite value ({metric.value!r})."
    if metric.stderr is not None and not math.isfinite(metric.stderr):
        return f"has a non-finite stderr ({metric.stderr!r})."
    if metric.n_samples is not None and metric.n_samples < 1:
        return f"has n_samples {metric.n_samples!r}: a result needs at least one sample."
    if not info.min <= metric.value <= info.max:
        return (
            f"value {metric.value!r} is outside the range of {key}: [{info.min!r}, {info.max!r}]."
        )
    return ""


def _import_item(
    model: AIModel, ckpt: Checkpoint, key: str, metric: ParsedMetric, parsed: ParsedLog
) -> dict[str, Any]:
    return {
        "model": model.slug,
        "checkpoint": ckpt.name,
        "metric": key,
        "value": metric.value,
        "stderr": metric.stderr,
        "n_samples": metric.n_samples,
        "evaluated_at": parsed.evaluated_at,
        "partial": parsed.partial,
        "provenance": {"source_metric": metric.name, "group": metric.group},
    }


def _import_audit_data(record: ImportRecord, model: AIModel, ckpt: Checkpoint) -> dict[str, object]:
    return {
        "model": model.slug,
        "checkpoint": ckpt.name,
        "file_sha256": record.file_sha256,
        "eval_id": record.eval_id,
        "format": record.format,
        "run_key": record.run_key,
        "status": record.status,
        "results_created": record.results_created,
    }


def _record_failed_import(
    outcome: ImportOutcome,
    parsed: ParsedLog,
    stored: StoredUpload,
    model: AIModel,
    ckpt: Checkpoint,
    actor: Actor,
    via: str | None,
) -> ImportOutcome:
    with transaction.atomic():
        record = _create_import_record(
            outcome, parsed, stored, model, ckpt, actor, via, status=parsed.status
        )
        if record is None:
            return outcome
    outcome.record = record
    return outcome


def _create_import_record(
    outcome: ImportOutcome,
    parsed: ParsedLog,
    stored: StoredUpload,
    model: AIModel,
    ckpt: Checkpoint,
    actor: Actor,
    via: str | None,
    *,
    status: str,
    results_created: int = 0,
) -> ImportRecord | None:
    """Create and audit the import's record; ``None`` (with ``outcome`` pointing at the
    winner) when a concurrent import of the same file or evaluation committed first."""
    try:
        with transaction.atomic():
            record = ImportRecord.objects.create(
                file_sha256=parsed.file_sha256,
                original_name=stored.original_name,
                format=parsed.format,
                eval_id=parsed.eval_id,
                run_key=parsed.run_key,
                status=status,
                error=parsed.error or "",
                provenance=parsed.provenance,
                model=model,
                checkpoint=ckpt,
                results_created=results_created,
                imported_by=user_of(actor),
            )
    except IntegrityError:
        outcome.record = _existing_import(parsed)
        outcome.already_imported = True
        return None
    audit.record("import.create", record, _import_audit_data(record, model, ckpt), actor, via=via)
    return record


def _remember_mapping(
    parsed: ParsedLog, given: Mapping[str, str], actor: Actor, via: str | None
) -> None:
    """Store the task's mapping entries that are new or changed, each with an audit entry.

    Race-safe: a new entry is inserted in a savepoint; if another import created it after
    the lookup, the unique constraint hands over that row, locked and compared like a stored
    one (two first imports of a task never answer 500).
    """
    if not given:
        return
    tasks = {metric.name: _task_of(parsed, metric) for metric in parsed.metrics}
    stored = {
        (m.task, m.source_name): m
        for m in MetricMapping.objects.select_for_update().filter(
            format=parsed.format, task__in=set(tasks.values()), source_name__in=list(given)
        )
    }
    for name, key in given.items():
        task = tasks[name]
        current, created = stored.get((task, name)), False
        if current is None:
            current, created = _insert_mapping(parsed.format, task, name, key, actor)
        previous = None if created else current.metric_key
        if previous == key:
            continue
        if not created:
            current.metric_key = key
            current.updated_at = timezone.now()
            current.updated_by = user_of(actor)
            current.save()
        audit.record(
            "mapping.set",
            current,
            {
                "format": parsed.format,
                "task": task,
                "source_name": name,
                "metric": key,
                "previous": previous,
            },
            actor,
            via=via,
        )


def _insert_mapping(
    format_name: str, task: str, source_name: str, key: str, actor: Actor
) -> tuple[MetricMapping, bool]:
    """``(row, True)`` for a new mapping row, or ``(winner, False)`` when another transaction
    inserted the same task and source first: its committed row, locked and unchanged."""
    try:
        with transaction.atomic():
            row = MetricMapping.objects.create(
                format=format_name,
                task=task,
                source_name=source_name,
                metric_key=key,
                updated_by=user_of(actor),
            )
        return row, True
    except IntegrityError:
        winner = MetricMapping.objects.select_for_update().get(
            format=format_name, task=task, source_name=source_name
        )
        return winner, False
