"""Importing evaluation logs (Inspect AI, lm-eval): upload, preview, mapping, import.

Results are written through :func:`evaluations.services.record_results`'s validation and the
same ``ON_EVIDENCE_CHANGED`` hooks, so an import is audited and moves the gate like any other
write.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    TooLargeError,
    _error,
    _listing,
    _user,
    record_results,
    require_policy,
)

#: Largest log file accepted for import (bytes); the settings may override it.
DEFAULT_MAX_IMPORT_BYTES = 256 * 1024 * 1024


# --- Imports -------------------------------------------------------------------------------


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
        raise _error(
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
                    raise _error(
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
        raise _error("file", "The file is empty.")
    sha = digest.hexdigest()
    target = directory / sha
    if target.exists():
        tmp_path.unlink(missing_ok=True)
    else:
        shutil.move(str(tmp_path), target)
    return StoredUpload(sha256=sha, original_name=name, path=target, size=size)


def stored_upload(sha256: Any, original_name: Any) -> StoredUpload:
    """A previously stored upload, by its hash (from the preview form)."""
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise _error("file", "The uploaded file is missing; upload it again.")
    path = imports_dir() / sha256
    if not path.is_file():
        raise _error("file", "The uploaded file is no longer available; upload it again.")
    name = Path(str(original_name or "upload")).name[:255]
    return StoredUpload(sha256=sha256, original_name=name, path=path, size=path.stat().st_size)


@dataclass
class PreviewRow:
    """One parsed metric of a log, and what the import would do with it."""

    source_name: str
    value: float | None
    stderr: float | None
    n_samples: int | None
    metric_key: str | None
    error: str = ""


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
    def message(self) -> str:
        if self.already_imported and self.record is not None:
            return (
                f"Already imported on {self.record.imported_at:%Y-%m-%d %H:%M} UTC "
                f"(import #{self.record.pk}, {self.record.status}); nothing was added."
            )
        if self.record is not None and self.record.status != ImportRecord.Status.SUCCESS:
            return (
                f"The log's status is {self.record.status}: it was recorded "
                f"(import #{self.record.pk}) but gives no results."
            )
        if self.preview:
            return (
                f"{sum(1 for r in self.rows if r.metric_key and not r.error)} result(s) to import."
            )
        return f"Imported {len(self.results)} result(s)."


def _existing_import(parsed_sha: str, eval_id: str | None) -> ImportRecord | None:
    record = ImportRecord.objects.filter(file_sha256=parsed_sha).first()
    if record is None and eval_id:
        record = ImportRecord.objects.filter(
            eval_id=eval_id, status=ImportRecord.Status.SUCCESS
        ).first()
    return record


def _mapping_input(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise _error(
                "mapping", 'Must be a JSON object {"<scorer>/<metric>": "<key>"}.'
            ) from None
    if not isinstance(raw, dict):
        raise _error("mapping", 'Must be a JSON object {"<scorer>/<metric>": "<key>"}.')
    mapping: dict[str, str] = {}
    for name, key in raw.items():
        if key in (None, ""):
            continue
        if not isinstance(key, str) or len(str(name)) > 300:
            raise _error(f"mapping.{name}", "Must map to a metric key (a string).")
        mapping[str(name)] = key
    return mapping


def import_log(
    upload: Any,
    *,
    model: Any,
    checkpoint: Any,
    mapping: Any = None,
    actor: Any = None,
    preview: bool = False,
    via: str | None = None,
) -> ImportOutcome:
    """Import an Inspect AI or lm-eval log as results of ``checkpoint`` of ``model``.

    ``upload`` is an uploaded file or a :class:`StoredUpload`. ``mapping`` (a dict or its JSON
    text) maps log metric names to metric keys and is remembered for later imports; remembered
    entries apply when not given. Only ``status == success`` logs give results; others are
    recorded with their error. Re-importing the same file (SHA-256) or Inspect ``eval_id``
    changes nothing and returns the original record (``already_imported``). With ``preview``
    nothing is written: the outcome lists each parsed metric and its mapping.
    """
    stored = upload if isinstance(upload, StoredUpload) else store_upload(upload)
    try:
        parsed = parse_log_file(stored.path, stored.original_name)
    except ImportFormatError as exc:
        raise _error("file", exc.message) from None
    outcome = ImportOutcome(parsed=parsed, upload=stored, preview=preview)
    existing = _existing_import(parsed.file_sha256, parsed.eval_id)
    if existing is not None:
        outcome.record, outcome.already_imported = existing, True
        return outcome

    model_obj = model if isinstance(model, AIModel) else None
    if model_obj is None:
        model_obj = AIModel.objects.filter(slug=model).first() if isinstance(model, str) else None
        if model_obj is None:
            raise _error("model", f"Unknown model {model!r:.100}.")
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else None
    if ckpt is None:
        name = checkpoint if isinstance(checkpoint, str) else None
        ckpt = Checkpoint.objects.filter(model=model_obj, name=name).first() if name else None
        if ckpt is None:
            raise _error(
                "checkpoint", f"Model {model_obj.slug} has no checkpoint {checkpoint!r:.100}."
            )
    if ckpt.model_id != model_obj.pk:
        raise _error("checkpoint", f"Checkpoint {ckpt.name} does not belong to {model_obj.slug}.")

    given = _mapping_input(mapping)
    base_provenance = {
        "file_sha256": parsed.file_sha256,
        "file_name": stored.original_name,
        "format": parsed.format,
        "eval_id": parsed.eval_id,
        "run_id": parsed.run_id,
        "task": parsed.task,
        "log_model": parsed.model,
        "tool_version": parsed.tool_version,
        "partial_run": parsed.provenance.get("partial_run", False),
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
            raise _error(
                f"mapping.{name}",
                f"Unknown metric {key!r:.100}. Valid keys: {policy.valid_keys()}.",
            )
    # Remembered entries apply unless given anew, and only while their key is in the policy.
    remembered = {
        name: key
        for name, key in MetricMapping.objects.values_list("source_name", "metric_key")
        if key in policy.metrics
    }
    effective = {**remembered, **given}
    outcome.mapping = effective
    try:
        mapped, unmapped = apply_mapping(parsed, effective)
    except MappingConflictError as exc:
        raise _error("mapping", exc.message) from None
    outcome.unmapped = unmapped
    items = []
    by_name = {metric.name: key for key, metric in mapped}
    for metric in parsed.metrics:
        mapped_key = by_name.get(metric.name)
        row = PreviewRow(metric.name, metric.value, metric.stderr, metric.n_samples, mapped_key)
        outcome.rows.append(row)
        if mapped_key is None:
            continue
        key = mapped_key
        row.error = _mapped_metric_error(metric, key, policy)
        if row.error:
            outcome.errors.setdefault(f"mapping.{metric.name}", []).append(row.error)
        items.append(_import_item(model_obj, ckpt, key, metric))
    if not mapped:
        outcome.errors.setdefault("mapping", []).append(
            "No metric of this log is mapped to a policy metric; map at least one of "
            f"{_listing(m.name for m in parsed.metrics)}."
        )
    if preview:
        return outcome
    if outcome.errors:
        raise EvidenceError(outcome.errors)

    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ImportRecord.objects.create(
                    file_sha256=parsed.file_sha256,
                    original_name=stored.original_name,
                    format=parsed.format,
                    eval_id=parsed.eval_id,
                    status=ImportRecord.Status.SUCCESS,
                    provenance=parsed.provenance,
                    model=model_obj,
                    checkpoint=ckpt,
                    results_created=len(items),
                    imported_by=_user(actor),
                )
        except IntegrityError:
            # A concurrent import of the same file or eval committed first.
            outcome.record = _existing_import(parsed.file_sha256, parsed.eval_id)
            outcome.already_imported = True
            return outcome
        audit.record(
            "import.create", record, _import_audit_data(record, model_obj, ckpt), actor, via=via
        )
        _remember_mapping(given, actor, via)
        outcome.results = record_results(
            items,
            actor,
            EvalResult.Source.IMPORT,
            via=via,
            provenance={**base_provenance, "import_id": record.pk},
        )
        outcome.record = record
    return outcome


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
    if not info.min <= metric.value <= info.max:
        return (
            f"value {metric.value!r} is outside the range of {key}: [{info.min!r}, {info.max!r}]."
        )
    return ""


def _import_item(
    model: AIModel, ckpt: Checkpoint, key: str, metric: ParsedMetric
) -> dict[str, Any]:
    return {
        "model": model.slug,
        "checkpoint": ckpt.name,
        "metric": key,
        "value": metric.value,
        "stderr": metric.stderr,
        "n_samples": metric.n_samples,
        "provenance": {"source_metric": metric.name, "group": metric.group},
    }


def _import_audit_data(record: ImportRecord, model: AIModel, ckpt: Checkpoint) -> dict[str, Any]:
    return {
        "model": model.slug,
        "checkpoint": ckpt.name,
        "file_sha256": record.file_sha256,
        "eval_id": record.eval_id,
        "format": record.format,
        "status": record.status,
        "results_created": record.results_created,
    }


def _record_failed_import(
    outcome: ImportOutcome,
    parsed: ParsedLog,
    stored: StoredUpload,
    model: AIModel,
    ckpt: Checkpoint,
    actor: Any,
    via: str | None,
) -> ImportOutcome:
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ImportRecord.objects.create(
                    file_sha256=parsed.file_sha256,
                    original_name=stored.original_name,
                    format=parsed.format,
                    eval_id=parsed.eval_id,
                    status=parsed.status,
                    error=parsed.error or "",
                    provenance=parsed.provenance,
                    model=model,
                    checkpoint=ckpt,
                    results_created=0,
                    imported_by=_user(actor),
                )
        except IntegrityError:
            outcome.record = _existing_import(parsed.file_sha256, parsed.eval_id)
            outcome.already_imported = True
            return outcome
        audit.record(
            "import.create", record, _import_audit_data(record, model, ckpt), actor, via=via
        )
    outcome.record = record
    return outcome


def _remember_mapping(given: Mapping[str, str], actor: Any, via: str | None) -> None:
    """Store the mapping entries that are new or changed, each with an audit entry."""
    if not given:
        return
    stored = {m.source_name: m for m in MetricMapping.objects.filter(source_name__in=list(given))}
    for name, key in given.items():
        current = stored.get(name)
        if current is not None and current.metric_key == key:
            continue
        if current is None:
            current = MetricMapping(source_name=name)
        previous = current.metric_key or None
        current.metric_key = key
        current.updated_at = timezone.now()
        current.updated_by = _user(actor)
        current.save()
        audit.record(
            "mapping.set",
            current,
            {"source_name": name, "metric": key, "previous": previous},
            actor,
            via=via,
        )
