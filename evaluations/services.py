"""State changes of the evidence: models, checkpoints, results, corrections, imports.

Every write validates all of its input first, then writes in one transaction together with its
audit entries and the ``ON_EVIDENCE_CHANGED`` hooks (the gate recomputes there), so nothing
partial is ever committed. Validation failures raise :class:`EvidenceError`, whose
``message_dict`` names the offending field (``value``, ``results[3].metric``...); forms and
the API show those messages as they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
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
from evaluations.policy import MetricInfo, PolicyView, active_policy_view

#: Called with each AI model whose evidence changed, inside the writing transaction (the gate
#: registers its recomputation here). A hook that raises rolls the write back.
ON_EVIDENCE_CHANGED: list[Callable[[AIModel], None]] = []

#: Results in one bulk request.
MAX_BULK_RESULTS = 10_000
#: Largest log file accepted for import (bytes); the settings may override it.
DEFAULT_MAX_IMPORT_BYTES = 256 * 1024 * 1024

RESULT_FIELDS = frozenset(
    {
        "model",
        "checkpoint",
        "metric",
        "value",
        "stderr",
        "n_samples",
        "elicitation",
        "mitigation",
        "notes",
        "evidence_url",
        "provenance",
    }
)
CORRECTION_FIELDS = frozenset(
    {
        "metric",
        "value",
        "stderr",
        "n_samples",
        "elicitation",
        "mitigation",
        "notes",
        "evidence_url",
    }
)
ELICITATION_FIELDS = {
    "scaffold": "a string",
    "attempts": "a positive integer",
    "pass_at_k": "a positive integer",
    "tools": "a list of strings",
    "safety_training_removed": "true or false",
    "fine_tuned": "true or false",
    "inference_budget": "a number or a string",
}
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_MAX_TEXT = 10_000
_MAX_JSON_BYTES = 64 * 1024
_MAX_LISTED = 30


class EvidenceError(ValidationError):
    """Refused input; ``message_dict`` maps each offending field to its messages."""

    status_code = 400


class NoActivePolicyError(EvidenceError):
    """Results cannot be checked (or triggers computed) without an active policy."""

    status_code = 409


class ConflictError(EvidenceError):
    """The write conflicts with the stored state, e.g. a result that was already corrected."""

    status_code = 409


class TooLargeError(EvidenceError):
    """The input exceeds a size limit (answered with 413)."""

    status_code = 413


def _error(field_name: str, message: str, cls: type[EvidenceError] = EvidenceError) -> Any:
    return cls({field_name: [message]})


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    if not names:
        return "(none)"
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _evidence_changed(models: Iterable[AIModel]) -> None:
    """Run the hooks once per touched model, inside the caller's transaction."""
    seen: set[int] = set()
    for model in models:
        if model.pk in seen:
            continue
        seen.add(model.pk)
        for hook in ON_EVIDENCE_CHANGED:
            hook(model)


def _user(actor: Any) -> Any:
    return None if actor is None or isinstance(actor, str) else actor


# --- Plain value checks --------------------------------------------------------------------


def finite_number(raw: Any, field_name: str, *, required: bool = True) -> float | None:
    """A JSON number that is finite; strings, booleans, NaN and infinities are refused."""
    if raw is None:
        if required:
            raise _error(field_name, "This field is required.")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _error(field_name, f"Must be a number, not {type(raw).__name__} {raw!r:.40}.")
    try:
        value = float(raw)
    except OverflowError:
        raise _error(field_name, "Must be a finite number (this one is too large).") from None
    if not math.isfinite(value):
        raise _error(field_name, f"Must be a finite number, not {value!r}.")
    return value


def _integer(raw: Any, field_name: str, *, minimum: int = 0) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _error(field_name, f"Must be a whole number, not {raw!r:.40}.")
    if raw < minimum:
        raise _error(field_name, f"Must be at least {minimum}.")
    if raw > 2**62:
        raise _error(field_name, "Is too large.")
    return raw


def _text(raw: Any, field_name: str, *, max_length: int = _MAX_TEXT) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise _error(field_name, "Must be a string.")
    if len(raw) > max_length:
        raise _error(field_name, f"Must be at most {max_length} characters.")
    return raw


def _json_object(raw: Any, field_name: str) -> dict[str, Any]:
    """A JSON object of finite numbers only, under a size limit."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _error(field_name, "Must be a JSON object.")
    try:
        encoded = json.dumps(raw, allow_nan=False)
    except (ValueError, TypeError):
        raise _error(field_name, "Must not contain NaN or infinite numbers.") from None
    if len(encoded) > _MAX_JSON_BYTES:
        raise _error(field_name, f"Is larger than {_MAX_JSON_BYTES // 1024} KiB.")
    return raw


def _elicitation(raw: Any, field_name: str) -> dict[str, Any]:
    data = _json_object(raw, field_name)
    unknown = sorted(set(data) - set(ELICITATION_FIELDS))
    if unknown:
        raise _error(
            field_name,
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(ELICITATION_FIELDS)}.",
        )
    for key, value in data.items():
        path = f"{field_name}.{key}"
        if value is None:
            continue
        if key == "scaffold":
            _text(value, path, max_length=200)
        elif key in ("attempts", "pass_at_k"):
            _integer(value, path, minimum=1)
        elif key == "tools":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise _error(path, "Must be a list of strings.")
        elif key in ("safety_training_removed", "fine_tuned"):
            if not isinstance(value, bool):
                raise _error(path, "Must be true or false.")
        elif key == "inference_budget" and not isinstance(value, str):
            finite_number(value, path)
    return data


def _url(raw: Any, field_name: str) -> str:
    text = _text(raw, field_name, max_length=500)
    if text:
        try:
            URLValidator(schemes=["http", "https"])(text)
        except ValidationError:
            raise _error(field_name, "Must be an http(s) URL.") from None
    return text


def _metric(policy: PolicyView, raw: Any, field_name: str) -> MetricInfo:
    if not isinstance(raw, str) or not raw:
        raise _error(field_name, f"Required: a metric key, one of {policy.valid_keys()}.")
    info = policy.metrics.get(raw)
    if info is None:
        raise _error(field_name, f"Unknown metric {raw!r:.100}. Valid keys: {policy.valid_keys()}.")
    return info


def require_policy() -> PolicyView:
    policy = active_policy_view()
    if policy is None:
        raise _error(
            "metric",
            "No policy version is active, so results cannot be checked; activate a policy first.",
            NoActivePolicyError,
        )
    return policy


# --- Models and checkpoints ----------------------------------------------------------------


def create_model(
    *,
    slug: Any,
    name: Any,
    family: Any = "",
    parent: Any = None,
    owner_team: Any = "",
    actor: Any = None,
    via: str | None = None,
) -> AIModel:
    """Register an AI model; ``parent`` is a model or the slug of one (lineage)."""
    if not isinstance(slug, str) or not slug:
        raise _error("slug", "Required: letters, digits, hyphens and underscores.")
    if len(slug) > 100 or not _SLUG_RE.match(slug):
        raise _error("slug", "Use at most 100 letters, digits, hyphens and underscores.")
    name_text = _text(name, "name", max_length=200) or slug
    family_text = _text(family, "family", max_length=100)
    team = _text(owner_team, "owner_team", max_length=100)
    parent_model = None
    if parent not in (None, ""):
        if isinstance(parent, AIModel):
            parent_model = parent
        elif isinstance(parent, str):
            parent_model = AIModel.objects.filter(slug=parent).first()
            if parent_model is None:
                raise _error("parent", f"Unknown model {parent!r:.100}.")
        else:
            raise _error("parent", "Must be a model slug.")
    with transaction.atomic():
        if AIModel.objects.filter(slug=slug).exists():
            raise _error("slug", f"A model with slug {slug!r} already exists.", ConflictError)
        model = AIModel.objects.create(
            slug=slug,
            name=name_text,
            family=family_text,
            parent=parent_model,
            owner_team=team,
            created_by=_user(actor),
        )
        audit.record(
            "model.create",
            model,
            {
                "model": model.slug,
                "name": model.name,
                "family": model.family,
                "parent": parent_model.slug if parent_model else None,
                "owner_team": model.owner_team,
            },
            actor,
            via=via,
        )
        _evidence_changed([model])
    return model


def report_checkpoint(
    model: AIModel,
    *,
    name: Any,
    effective_compute: Any,
    step: Any = None,
    stage: Any = Checkpoint.Stage.PRETRAINING,
    metadata: Any = None,
    actor: Any = None,
    via: str | None = None,
) -> Checkpoint:
    """Record a checkpoint of ``model`` with its effective compute in FLOP (append-only)."""
    if not isinstance(name, str) or not name.strip():
        raise _error("name", "Required: the checkpoint's name, unique within the model.")
    if len(name) > 200:
        raise _error("name", "Must be at most 200 characters.")
    compute = finite_number(effective_compute, "effective_compute")
    assert compute is not None
    if compute < 0:
        raise _error("effective_compute", "Must be zero or more (FLOP).")
    step_value = _integer(step, "step")
    stage_value = stage or Checkpoint.Stage.PRETRAINING
    if stage_value not in Checkpoint.Stage.values:
        raise _error("stage", f"Must be one of {', '.join(Checkpoint.Stage.values)}.")
    meta = _json_object(metadata, "metadata")
    with transaction.atomic():
        if Checkpoint.objects.filter(model=model, name=name).exists():
            raise _error(
                "name",
                f"Model {model.slug} already has a checkpoint named {name!r}.",
                ConflictError,
            )
        checkpoint = Checkpoint.objects.create(
            model=model,
            name=name,
            effective_compute=compute,
            step=step_value,
            stage=stage_value,
            metadata=meta,
            reported_by=_user(actor),
        )
        audit.record(
            "checkpoint.report",
            checkpoint,
            {
                "model": model.slug,
                "name": name,
                "effective_compute": compute,
                "step": step_value,
                "stage": stage_value,
            },
            actor,
            via=via,
        )
        _evidence_changed([model])
    return checkpoint


# --- Results -------------------------------------------------------------------------------


@dataclass
class _Lookup:
    """Models and checkpoints named by a batch of results, read in two queries."""

    models: dict[str, AIModel] = field(default_factory=dict)
    checkpoints: dict[tuple[int, str], Checkpoint] = field(default_factory=dict)
    checkpoint_owner: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, items: Sequence[Any]) -> _Lookup:
        slugs = {i.get("model") for i in items if isinstance(i, Mapping)}
        names = {i.get("checkpoint") for i in items if isinstance(i, Mapping)}
        slugs = {s for s in slugs if isinstance(s, str)}
        names = {n for n in names if isinstance(n, str)}
        lookup = cls()
        lookup.models = {m.slug: m for m in AIModel.objects.filter(slug__in=slugs)}
        for ckpt in Checkpoint.objects.filter(name__in=names).select_related("model"):
            lookup.checkpoints[(ckpt.model_id, ckpt.name)] = ckpt
            lookup.checkpoint_owner.setdefault(ckpt.name, []).append(ckpt.model.slug)
        return lookup


def validate_result(
    item: Any,
    policy: PolicyView,
    lookup: _Lookup,
    *,
    prefix: str = "",
    allowed: frozenset[str] = RESULT_FIELDS,
) -> dict[str, Any]:
    """Check one result given by natural keys; returns the EvalResult field values."""
    if not isinstance(item, Mapping):
        raise _error(prefix.rstrip(".") or "non_field_errors", "Must be a JSON object.")
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise _error(
            f"{prefix}{unknown[0]}", f"Unknown field; allowed: {', '.join(sorted(allowed))}."
        )
    slug = item.get("model")
    model = lookup.models.get(slug) if isinstance(slug, str) else None
    if model is None:
        raise _error(f"{prefix}model", f"Unknown model {slug!r:.100}.")
    name = item.get("checkpoint")
    checkpoint = lookup.checkpoints.get((model.pk, name)) if isinstance(name, str) else None
    if checkpoint is None:
        owners = lookup.checkpoint_owner.get(name, []) if isinstance(name, str) else []
        if owners:
            raise _error(
                f"{prefix}checkpoint",
                f"Checkpoint {name!r:.100} belongs to model {_listing(owners)}, not {model.slug}.",
            )
        raise _error(f"{prefix}checkpoint", f"Model {model.slug} has no checkpoint {name!r:.100}.")
    metric = _metric(policy, item.get("metric"), f"{prefix}metric")
    value = finite_number(item.get("value"), f"{prefix}value")
    assert value is not None
    if not metric.min <= value <= metric.max:
        raise _error(
            f"{prefix}value",
            f"{value!r} is outside the range of {metric.key}: [{metric.min!r}, {metric.max!r}].",
        )
    stderr = finite_number(item.get("stderr"), f"{prefix}stderr", required=False)
    if stderr is not None and stderr < 0:
        raise _error(f"{prefix}stderr", "Must be zero or more.")
    mitigation = item.get("mitigation") or EvalResult.Mitigation.PRE
    if mitigation not in EvalResult.Mitigation.values:
        raise _error(f"{prefix}mitigation", "Must be 'pre' or 'post'.")
    return {
        "model": model,
        "checkpoint": checkpoint,
        "metric_key": metric.key,
        "value": value,
        "stderr": stderr,
        "n_samples": _integer(item.get("n_samples"), f"{prefix}n_samples"),
        "elicitation": _elicitation(item.get("elicitation"), f"{prefix}elicitation"),
        "mitigation": mitigation,
        "notes": _text(item.get("notes"), f"{prefix}notes"),
        "evidence_url": _url(item.get("evidence_url"), f"{prefix}evidence_url"),
        "provenance": _json_object(item.get("provenance"), f"{prefix}provenance"),
    }


def _result_audit_data(result: EvalResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": result.model.slug,
        "checkpoint": result.checkpoint.name,
        "metric": result.metric_key,
        "value": result.value,
        "stderr": result.stderr,
        "n_samples": result.n_samples,
        "mitigation": result.mitigation,
        "source": result.source,
    }
    if result.supersedes_id is not None:
        data["supersedes"] = result.supersedes_id
        data["reason"] = result.correction_reason
    for key in ("eval_id", "file_sha256", "import_id", "suite_run_id"):
        if key in result.provenance:
            data[key] = result.provenance[key]
    return data


def record_results(
    items: Sequence[Any],
    actor: Any,
    source: str,
    *,
    via: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    indexed: bool = False,
) -> list[EvalResult]:
    """Validate every result, then store all of them in one transaction (or none).

    Items name their references by natural key (``model`` slug, ``checkpoint`` name,
    ``metric`` key). ``provenance`` is merged under each item's own. With ``indexed`` the
    error fields carry the item's position: ``results[3].value``.
    """
    if source not in EvalResult.Source.values:
        raise ValueError(f"unknown source {source!r}")
    if len(items) > MAX_BULK_RESULTS:
        raise _error("results", f"At most {MAX_BULK_RESULTS} results per request.", TooLargeError)
    if not items:
        raise _error("results", "No results given.")
    policy = require_policy()
    lookup = _Lookup.load(items)
    rows = []
    for index, item in enumerate(items):
        prefix = f"results[{index}]." if indexed else ""
        values = validate_result(item, policy, lookup, prefix=prefix)
        values["provenance"] = {**dict(provenance or {}), **values["provenance"]}
        rows.append(EvalResult(**values, source=source, submitted_by=_user(actor)))
    with transaction.atomic():
        created = EvalResult.objects.bulk_create(rows)
        for result in created:
            audit.record("result.create", result, _result_audit_data(result), actor, via=via)
        _evidence_changed(result.model for result in created)
    return created


def correct_result(
    old: EvalResult,
    values: Mapping[str, Any],
    reason: Any,
    actor: Any,
    *,
    via: str | None = None,
    source: str = EvalResult.Source.BROWSER,
) -> EvalResult:
    """Supersede ``old`` with a corrected result; the old row stays as it was.

    ``values`` may change ``metric``, ``value``, ``stderr``, ``n_samples``, ``elicitation``,
    ``mitigation``, ``notes`` and ``evidence_url``; omitted ones are copied from ``old``.
    """
    reason_text = _text(reason, "correction_reason").strip()
    if not reason_text:
        raise _error("correction_reason", "Say why the result is being corrected.")
    unknown = sorted(set(values) - CORRECTION_FIELDS)
    if unknown:
        raise _error(unknown[0], "This field cannot be changed by a correction.")
    policy = require_policy()
    item = {
        "model": old.model.slug,
        "checkpoint": old.checkpoint.name,
        "metric": old.metric_key,
        "value": old.value,
        "stderr": old.stderr,
        "n_samples": old.n_samples,
        "elicitation": old.elicitation,
        "mitigation": old.mitigation,
        "notes": old.notes,
        "evidence_url": old.evidence_url,
        **values,
    }
    lookup = _Lookup(
        models={old.model.slug: old.model},
        checkpoints={(old.model_id, old.checkpoint.name): old.checkpoint},
    )
    fields = validate_result(item, policy, lookup)
    fields["provenance"] = {**old.provenance, "corrects": old.pk}
    with transaction.atomic():
        # Lock the row being corrected so two concurrent corrections cannot both pass the check.
        locked = EvalResult.objects.select_for_update().get(pk=old.pk)
        if EvalResult.objects.filter(supersedes=locked).exists():
            raise _error(
                "non_field_errors",
                f"Result #{old.pk} was already corrected; correct the current result instead.",
                ConflictError,
            )
        try:
            with transaction.atomic():
                new = EvalResult.objects.create(
                    **fields,
                    source=source,
                    submitted_by=_user(actor),
                    supersedes=locked,
                    correction_reason=reason_text,
                )
        except IntegrityError:
            raise _error(
                "non_field_errors", f"Result #{old.pk} was already corrected.", ConflictError
            ) from None
        audit.record("result.correct", new, _result_audit_data(new), actor, via=via)
        _evidence_changed([new.model])
    return new


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


# --- Reassessment triggers -----------------------------------------------------------------


@dataclass(frozen=True)
class Triggers:
    """How far a model has moved since its last full evaluation (DESIGN §4 due checks)."""

    latest_checkpoint: Checkpoint | None
    last_full: Checkpoint | None
    evaluated_at: datetime | None
    compute_multiple: float | None
    months_since: int | None
    due_compute: bool
    due_time: bool
    never_evaluated: bool
    policy_multiple: float | None
    policy_months: int | None

    @property
    def evaluation_due(self) -> bool:
        return self.due_compute or self.due_time or self.never_evaluated


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    from governance.gate import add_months

    months = max(0, (end.year - start.year) * 12 + end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months


def compute_triggers(
    checkpoints: Sequence[Checkpoint],
    latest_by_metric: Mapping[tuple[int, str], datetime],
    policy: PolicyView | None,
    now: datetime,
) -> Triggers:
    """The trigger arithmetic over plain data (checkpoints oldest first).

    ``latest_by_metric`` maps (checkpoint id, metric key) to the time of the latest current
    result. The last fully evaluated checkpoint is the most recent one with a current result
    for every indicator metric; its evaluation dates from the stalest of those results.
    Boundaries are inclusive: exactly ``multiple`` times the compute, or exactly ``months``
    calendar months, is due.
    """
    from governance.gate import add_months

    latest = checkpoints[-1] if checkpoints else None
    if policy is None or latest is None:
        return Triggers(
            latest,
            None,
            None,
            None,
            None,
            False,
            False,
            False,
            policy.effective_compute_multiple if policy else None,
            policy.months_between_assessments if policy else None,
        )
    keys = policy.indicator_metric_keys
    last_full, evaluated_at = None, None
    for ckpt in reversed(checkpoints):
        times = [latest_by_metric.get((ckpt.pk, key)) for key in keys]
        if all(t is not None for t in times):
            last_full = ckpt
            evaluated_at = min((t for t in times if t is not None), default=ckpt.reported_at)
            break
    if last_full is None or evaluated_at is None:
        return Triggers(
            latest,
            None,
            None,
            None,
            None,
            False,
            False,
            True,
            policy.effective_compute_multiple,
            policy.months_between_assessments,
        )
    base, top = last_full.effective_compute, latest.effective_compute
    # Zero compute (a stub checkpoint) is a ratio of 1 to zero, and of infinity to anything more.
    multiple = top / base if base > 0 else (1.0 if top == 0 else math.inf)
    due_compute = top >= policy.effective_compute_multiple * base and top > 0
    due_time = now >= add_months(evaluated_at, policy.months_between_assessments)
    return Triggers(
        latest,
        last_full,
        evaluated_at,
        multiple,
        months_between(evaluated_at, now),
        due_compute,
        due_time,
        False,
        policy.effective_compute_multiple,
        policy.months_between_assessments,
    )


def triggers_for_models(
    models: Sequence[AIModel], policy: PolicyView | None = None, now: datetime | None = None
) -> dict[int, Triggers]:
    """Triggers of several models in two queries (checkpoints, latest result times)."""
    now = now or timezone.now()
    ids = [m.pk for m in models]
    checkpoints: dict[int, list[Checkpoint]] = {pk: [] for pk in ids}
    for ckpt in Checkpoint.objects.filter(model_id__in=ids).order_by("reported_at", "id"):
        checkpoints[ckpt.model_id].append(ckpt)
    latest: dict[tuple[int, str], datetime] = {}
    if policy is not None and policy.indicator_metric_keys and ids:
        rows = (
            EvalResult.objects.current()
            .filter(model_id__in=ids, metric_key__in=policy.indicator_metric_keys)
            .values("checkpoint_id", "metric_key")
            .annotate(last=Max("recorded_at"))
            .order_by()
        )
        latest = {(r["checkpoint_id"], r["metric_key"]): r["last"] for r in rows}
    return {pk: compute_triggers(checkpoints[pk], latest, policy, now) for pk in ids}


def triggers_for(
    model: AIModel, policy: PolicyView | None = None, now: datetime | None = None
) -> Triggers:
    """Reassessment triggers of one model under the active policy."""
    if policy is None:
        policy = active_policy_view()
    return triggers_for_models([model], policy, now)[model.pk]
