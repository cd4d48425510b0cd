"""Pure parsers for evaluation evidence files: Inspect AI logs and lm-eval results.

This module turns a file on disk (or, for lm-eval, raw bytes) into a
:class:`ParsedLog`: plain data, no Django, no ORM. The service layer decides
what to store; nothing here writes anything.

Supported inputs:

* Inspect AI ``.eval`` (zip) and ``.json`` logs, read header-only through
  ``inspect_ai.log.read_eval_log``.
* lm-evaluation-harness ``results_<datetime>.json`` files.
* Generic "results JSON" files from in-house harnesses (``docs/import-formats.md``).

Each format is one class in :data:`FORMATS` with a ``detect``/``parse`` pair; a new format is
one class and one entry, with no new branch in :func:`detect_format` or :func:`parse_log_file`.

Metric naming (the left-hand side of an import mapping):

* Inspect: ``"<score name>/<metric key>"`` where ``score name`` is
  ``results.scores[i].name`` (the scorer name, e.g. ``match``) and
  ``metric key`` is the key in ``results.scores[i].metrics`` (e.g.
  ``accuracy``), so ``"match/accuracy"``. ``stderr`` and ``bootstrap_stderr``
  metrics are not emitted on their own: their value becomes
  :attr:`ParsedMetric.stderr` of every ungrouped sibling metric of the same
  score and of the overall (``all``) row of a ``grouped()`` metric computed
  over all samples. (``std``/``var`` describe the spread of sample scores,
  not the uncertainty of the mean, so they stay ordinary metrics.) When a log
  has several scores of the same name (``epochs`` with several reducers), the
  reducer qualifies the name: ``"match[max]/accuracy"``.
* lm-eval: ``"<task>/<metric>,<filter>"``, the raw key kept verbatim after the
  task name, e.g. ``"mmlu/acc,none"`` or ``"gsm8k/exact_match,strict-match"``.
  Keys without a filter (harness <= 0.3) are kept as ``"<task>/<metric>"``.
  Group aggregates use the group name in place of the task name.
* results JSON: the metric's ``name`` as written in the file.

Every failure to read or recognise a file raises :class:`ImportFormatError`
whose message is meant for the person who uploaded the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeGuard

LogFormat = Literal["inspect", "lm_eval", "results_json"]
LogStatus = Literal["success", "error", "cancelled", "started"]
InspectFileFormat = Literal["eval", "json"]

#: How many leading bytes :func:`parse_log_file` hands to :func:`detect_format`.
HEAD_BYTES = 64 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1024 * 1024
_INSPECT_STATUSES: frozenset[str] = frozenset({"success", "error", "cancelled", "started"})
# Inspect metrics whose value is the standard error of the score's mean.
_INSPECT_STDERR_METRICS: frozenset[str] = frozenset({"stderr", "bootstrap_stderr"})
# Keys of an lm-eval task entry that are descriptive, not metrics.
_LM_EVAL_SKIP_KEYS: frozenset[str] = frozenset(
    {"alias", "name", "sample_len", "sample_count", "samples"}
)
_LM_EVAL_STDERR_SUFFIX = "_stderr"
#: The version key of a results JSON file (``docs/import-formats.md``); its value is 1.
RESULTS_JSON_MARKER = "rsp_results"
_FIRST_KEY_RE = re.compile(rb'^\s*\{\s*"((?:[^"\\]|\\.){1,64})"\s*:')
_MAX_ERROR_CHARS = 300


class ImportFormatError(ValueError):
    """A file could not be read as evidence; ``str(exc)`` is a message for the uploader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MappingConflictError(ImportFormatError):
    """Two metrics of one log map to the same metric key, so the import is ambiguous."""


@dataclass(frozen=True, slots=True)
class ParsedMetric:
    """One aggregate metric read from a log.

    ``name`` follows the naming convention in the module docstring.
    ``value``/``stderr`` are floats exactly as found, possibly NaN or ±inf
    (check :attr:`is_finite` before storing); ``None`` when the tool reported
    no value (lm-eval ``"N/A"``). ``n_samples`` is the number of samples the
    metric was computed over, when known. ``group`` is Inspect's metric group
    (e.g. one category of ``frequency()``) or, for lm-eval, the parent group
    of the task (``None`` at the top level).
    """

    name: str
    value: float | None
    stderr: float | None = None
    n_samples: int | None = None
    group: str | None = None
    #: The task the metric belongs to (remembered mappings are per task).
    task: str | None = None
    #: The tool's own direction for the metric (lm-eval ``higher_is_better``), when it says.
    higher_is_better: bool | None = None

    @property
    def is_finite(self) -> bool:
        """True when ``value`` is a finite number and ``stderr`` is absent or finite."""
        if self.value is None or not math.isfinite(self.value):
            return False
        return self.stderr is None or math.isfinite(self.stderr)


@dataclass(frozen=True, slots=True)
class ParsedLog:
    """Everything the importer needs from one evidence file.

    Contract:

    * ``metrics`` is empty unless ``status == "success"``: failed, cancelled
      and in-progress runs never yield results.
    * ``eval_id`` is Inspect's globally unique ``eval.eval_id``; it is ``None``
      for the other formats.
    * ``run_key`` identifies the evaluation whatever the file's bytes:
      ``inspect:<eval_id>``, ``lm_eval:<sha256 of the canonical JSON of the
      model, date, task hashes and results>``, ``results_json:<run_id>``.
    * ``file_sha256`` is the hex SHA-256 of the file's bytes.
    * ``evaluated_at`` is when the evaluation ran, from the log's own data
      (ISO-8601 with a time zone), ``partial`` whether it ran on a sample limit.
    * ``created`` is an ISO-8601 string (timezone-aware when the tool says so).
    * ``provenance`` is JSON-safe (``json.dumps(..., allow_nan=False)``
      succeeds): non-finite floats become the strings ``"NaN"``,
      ``"Infinity"``, ``"-Infinity"``. Keys are listed in
      :func:`parse_inspect_log` and :func:`parse_lm_eval_results`.
    """

    format: LogFormat
    status: LogStatus
    eval_id: str | None
    run_id: str | None
    task: str | None
    model: str | None
    created: str | None
    tool_version: str | None
    file_sha256: str
    total_samples: int | None
    completed_samples: int | None
    error: str | None
    metrics: list[ParsedMetric] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    run_key: str | None = None
    evaluated_at: str | None = None
    partial: bool = False

    def metric(self, name: str) -> ParsedMetric | None:
        """Return the metric called ``name``, or ``None``."""
        for parsed in self.metrics:
            if parsed.name == name:
                return parsed
        return None


# ---------------------------------------------------------------------------
# Format detection and the single entry point
# ---------------------------------------------------------------------------


class LogFormatReader:
    """One evidence file format: how to recognise it and how to parse it.

    ``detect`` answers ``True`` (certainly this format), ``False`` (not it) or
    ``None`` (cannot tell from the first key, see ``markers``). Subclasses set
    ``name``, ``label``, ``first_keys`` (top-level keys the tool writes first),
    ``markers`` (byte strings that only this format's heads contain) and
    ``zip`` (whether its files are zip archives).
    """

    name: LogFormat
    label: str
    first_keys: frozenset[str] = frozenset()
    markers: tuple[bytes, ...] = ()
    zip: bool = False
    #: A marker so specific that its presence alone decides the format.
    exclusive_marker: bytes | None = None

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        raise NotImplementedError


class InspectFormat(LogFormatReader):
    name = "inspect"
    label = "Inspect AI log"
    first_keys = frozenset({"version", "status", "eval"})
    markers = (b'"eval_id"', b'"run_id"', b'"task_id"')
    zip = True

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        inspect_format: InspectFileFormat = "eval" if head.startswith(_ZIP_MAGIC) else "json"
        return _parse_inspect(path, inspect_format, sha256, display)


class LmEvalFormat(LogFormatReader):
    name = "lm_eval"
    label = "lm-eval results file"
    first_keys = frozenset(
        {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "config"}
    )
    markers = (b'"n-samples"', b'"n-shot"', b'"lm_eval_version"', b'"group_subtasks"')

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        return _parse_lm_eval_bytes(path.read_bytes(), sha256, display)


class ResultsJsonFormat(LogFormatReader):
    name = "results_json"
    label = "results JSON file"
    first_keys = frozenset({RESULTS_JSON_MARKER})
    exclusive_marker = f'"{RESULTS_JSON_MARKER}"'.encode()

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        return _parse_results_json(path.read_bytes(), sha256, display)


#: The formats the importer reads, by name. A new format is one class and one entry here.
FORMATS: dict[str, LogFormatReader] = {
    reader.name: reader for reader in (InspectFormat(), LmEvalFormat(), ResultsJsonFormat())
}


def _format_list() -> str:
    return ", ".join(reader.label for reader in FORMATS.values())


def detect_format(filename: str, head_bytes: bytes) -> LogFormat:
    """Tell which tool wrote a file from its name and its first bytes.

    A zip archive belongs to the format whose files are zips (an Inspect
    ``.eval`` log). A JSON object is recognised by its first key (Inspect
    writes ``version`` first, lm-eval ``results``, a results JSON file
    ``rsp_results``), else by tell-tale keys in ``head_bytes``.

    Raises :class:`ImportFormatError` when the file is none of :data:`FORMATS`.
    """
    display = Path(filename).name or "the file"
    suffix = Path(filename).suffix.lower()
    if head_bytes.startswith(_ZIP_MAGIC):
        if suffix not in ("", ".eval", ".zip"):
            raise ImportFormatError(
                f"{display} is a zip archive; only Inspect .eval logs may be zip files."
            )
        for reader in FORMATS.values():
            if reader.zip:
                return reader.name
    if suffix == ".eval":
        raise ImportFormatError(
            f"{display} is not an Inspect .eval log (an .eval file is a zip archive)."
        )
    text_head = head_bytes.lstrip(b"\xef\xbb\xbf")  # tolerate a UTF-8 BOM
    if not text_head.strip():
        raise ImportFormatError(f"{display} is empty.")
    if not text_head.lstrip().startswith(b"{"):
        raise ImportFormatError(f"{display} is none of: {_format_list()}.")
    match = _FIRST_KEY_RE.match(text_head)
    if match:
        first_key = match.group(1).decode("utf-8", errors="replace")
        for reader in FORMATS.values():
            if first_key in reader.first_keys:
                return reader.name
    for reader in FORMATS.values():
        if reader.exclusive_marker is not None and reader.exclusive_marker in text_head:
            return reader.name
    hits = [
        reader.name
        for reader in FORMATS.values()
        if any(marker in text_head for marker in reader.markers)
    ]
    if len(hits) == 1:
        return hits[0]
    raise ImportFormatError(f"{display} is JSON but none of: {_format_list()}.")


def parse_log_file(path: str | Path, original_name: str | None = None) -> ParsedLog:
    """Detect the format of the file at ``path`` and parse it.

    ``original_name`` is the name the file was uploaded under; it is used for
    detection and messages when ``path`` is a temporary file with another
    name. The file's SHA-256 is computed over its bytes, and its size is
    recorded as ``provenance["file_size_bytes"]``.

    Raises :class:`ImportFormatError` (never anything else for bad input)
    when the file is missing, unreadable or not a supported log.
    """
    path = Path(path)
    name = original_name or path.name
    sha256, size, head = _hash_file(path, name)
    reader = FORMATS[detect_format(name, head)]
    parsed = reader.parse(path, sha256, name, head)
    parsed.provenance["file_size_bytes"] = size
    return parsed


# ---------------------------------------------------------------------------
# Inspect AI
# ---------------------------------------------------------------------------


def parse_inspect_log(
    path: str | Path, *, log_format: InspectFileFormat | None = None
) -> ParsedLog:
    """Parse an Inspect AI ``.eval`` or ``.json`` log, reading only its header.

    ``log_format`` overrides detection by file extension (needed when the
    file is a temporary upload without the original suffix); by default a
    zip file is read as ``.eval`` and anything else as ``.json``.

    Metrics: one :class:`ParsedMetric` per ``results.scores[i].metrics``
    entry, named ``"<score name>/<metric key>"``; ``stderr`` and
    ``bootstrap_stderr`` entries are folded into the ``stderr`` of the
    ungrouped siblings of the same score. ``n_samples`` is the score's
    ``scored_samples`` (falling back to ``results.completed_samples``).
    Non-success logs keep their status and error message and have no metrics.

    ``provenance`` keys: ``tool`` ("inspect_ai"), ``tool_version``,
    ``status``, ``eval_id``, ``run_id``, ``task``, ``task_id``,
    ``task_version``, ``eval_set_id``, ``model``, ``created``, ``tags``,
    ``metadata``, ``dataset_samples``, ``epochs``, ``limit``,
    ``sample_id``, ``total_samples``, ``completed_samples``,
    ``model_usage`` (per model), ``model_usage_totals`` (summed token
    counts), ``invalidated``, ``log_updates`` (count), ``early_stopping``,
    ``partial_run`` (bool) and ``partial_run_reasons`` (list of str).

    Raises :class:`ImportFormatError` when the log cannot be read.
    """
    path = Path(path)
    sha256, _size, head = _hash_file(path, path.name)
    if log_format is None:
        log_format = "eval" if head.startswith(_ZIP_MAGIC) else "json"
    return _parse_inspect(path, log_format, sha256, path.name)


def _parse_inspect(
    path: Path, log_format: InspectFileFormat, sha256: str, display: str
) -> ParsedLog:
    """Read ``path`` with ``read_eval_log(header_only=True)`` and convert it."""
    try:
        from inspect_ai.log import read_eval_log
    except ImportError as exc:  # pragma: no cover - inspect_ai is a runtime dependency
        raise ImportFormatError("Inspect AI is not installed on the server.") from exc

    if log_format == "eval" and not zipfile.is_zipfile(path):
        raise ImportFormatError(f"{display} is not a valid Inspect .eval log (not a zip archive).")
    try:
        log = read_eval_log(str(path), header_only=True, format=log_format)
    except Exception as exc:  # any reader failure means a bad upload
        raise ImportFormatError(
            f"{display} could not be read as an Inspect {log_format} log: "
            + _short(exc).replace(str(path), display)  # don't show server paths
        ) from exc

    status = str(log.status)
    if status not in _INSPECT_STATUSES:
        raise ImportFormatError(f"{display} has an unknown Inspect status {status!r}.")
    spec = log.eval
    results = log.results
    total = results.total_samples if results is not None else None
    completed = results.completed_samples if results is not None else None
    error = log.error.message if log.error is not None else None
    if status == "error" and not error:
        error = "The evaluation ended with an error but the log records no message."

    metrics = _inspect_metrics(results, spec.task) if status == "success" else []

    tool_version = (spec.packages or {}).get("inspect_ai")
    config = spec.config
    limit = _json_safe(config.limit) if config.limit is not None else None
    sample_id = _json_safe(config.sample_id) if config.sample_id is not None else None
    usage = {model: _usage_dict(u) for model, u in log.stats.model_usage.items()}
    reasons: list[str] = []
    if limit is not None:
        reasons.append(f"sample limit {limit}")
    if sample_id is not None:
        reasons.append("run restricted to selected sample ids")
    if total is not None and completed is not None and completed < total:
        reasons.append(f"{completed} of {total} samples completed")
    early_stopping = getattr(results, "early_stopping", None) if results is not None else None
    if early_stopping is not None:
        reasons.append("early stopping")

    created = _iso(spec.created)
    provenance: dict[str, Any] = {
        "format": "inspect",
        "tool": "inspect_ai",
        "tool_version": tool_version,
        "file_format": log_format,
        "status": status,
        "eval_id": spec.eval_id or None,
        "run_id": spec.run_id or None,
        "task": spec.task,
        "task_id": spec.task_id or None,
        "task_version": spec.task_version,
        "eval_set_id": spec.eval_set_id,
        "model": spec.model,
        "created": created,
        "tags": list(log.tags),
        "metadata": dict(log.metadata),
        "dataset_samples": spec.dataset.samples,
        "epochs": config.epochs,
        "limit": limit,
        "sample_id": sample_id,
        "total_samples": total,
        "completed_samples": completed,
        "model_usage": usage,
        "model_usage_totals": _usage_totals(usage.values()),
        "invalidated": bool(log.invalidated),
        "log_updates": len(log.log_updates or []),
        "early_stopping": early_stopping.model_dump(mode="json")
        if early_stopping is not None
        else None,
        "partial_run": bool(reasons),
        "partial_run_reasons": reasons,
    }
    return ParsedLog(
        format="inspect",
        status=status,  # type: ignore[arg-type]  # checked against _INSPECT_STATUSES above
        eval_id=spec.eval_id or None,
        run_id=spec.run_id or None,
        task=spec.task,
        model=spec.model,
        created=created,
        tool_version=tool_version,
        file_sha256=sha256,
        total_samples=total,
        completed_samples=completed,
        error=error,
        metrics=metrics,
        provenance=_json_safe(provenance),
        run_key=f"inspect:{spec.eval_id}" if spec.eval_id else None,
        evaluated_at=_inspect_evaluated_at(spec, log.stats),
        partial=bool(reasons),
    )


def _inspect_metrics(results: Any, task: str | None) -> list[ParsedMetric]:
    """Flatten ``EvalResults.scores`` into metrics, folding stderr into siblings."""
    if results is None:
        return []
    name_counts: dict[str, int] = {}
    for score in results.scores:
        name_counts[score.name] = name_counts.get(score.name, 0) + 1
    parsed: list[ParsedMetric] = []
    for index, score in enumerate(results.scores):
        source = score.name
        if name_counts[score.name] > 1:
            # epochs with several reducers: one score per reducer, all named after the scorer.
            source = f"{score.name}[{score.reducer or index}]"
        stderr: float | None = None
        for key, metric in score.metrics.items():
            if key in _INSPECT_STDERR_METRICS and metric.group is None:
                stderr = float(metric.value)
                break
        n_samples = score.scored_samples
        if n_samples is None:
            n_samples = results.completed_samples
        for key, metric in score.metrics.items():
            if key in _INSPECT_STDERR_METRICS and metric.group is None:
                continue
            parsed.append(
                ParsedMetric(
                    name=f"{source}/{key}",
                    value=float(metric.value),
                    # A scorer's stderr describes its mean over all samples: an ungrouped
                    # metric or the overall row of grouped(), never one category.
                    stderr=stderr
                    if metric.group is None or _is_overall_row(key, metric.params)
                    else None,
                    n_samples=n_samples,
                    group=metric.group,
                    task=task,
                )
            )
    return parsed


def _is_overall_row(key: str, params: Any) -> bool:
    """True for the aggregate row of ``grouped(metric, all="samples")`` (``all`` by default)."""
    params = params if isinstance(params, dict) else {}
    if params.get("all", "samples") != "samples":
        return False
    return key == params.get("all_label", "all")


def _inspect_evaluated_at(spec: Any, stats: Any) -> str | None:
    """When the evaluation ran: ``stats.completed_at``, else ``eval.created`` (UTC if naive)."""
    for raw in (getattr(stats, "completed_at", None), getattr(spec, "created", None)):
        when = _aware(raw)
        if when is not None:
            return when
    return None


def _aware(raw: Any) -> str | None:
    """An ISO-8601 string with a time zone for a datetime or ISO string; naive means UTC."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str) and raw.strip():
        try:
            value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _usage_dict(usage: Any) -> dict[str, Any]:
    """Token counts of one ``ModelUsage`` with unset fields dropped."""
    dumped: dict[str, Any] = usage.model_dump(mode="python")
    return {key: value for key, value in dumped.items() if value is not None}


def _usage_totals(usages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Sum input/output/total tokens over all models."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    for usage in usages:
        for key in totals:
            value = usage.get(key)
            if isinstance(value, int):
                totals[key] += value
    return totals


# ---------------------------------------------------------------------------
# lm-evaluation-harness
# ---------------------------------------------------------------------------


def parse_lm_eval_results(path_or_bytes: str | Path | bytes) -> ParsedLog:
    """Parse an lm-evaluation-harness ``results_<datetime>.json`` file.

    Accepts a path or the file's raw bytes. Metrics come from the
    ``results`` and ``groups`` sections (a name present in both is read
    once); each ``"<metric>,<filter>"`` key becomes ``"<task>/<metric>,<filter>"``
    and its ``"<metric>_stderr,<filter>"`` sibling its ``stderr``. ``"N/A"``
    (and any non-numeric value) becomes ``None``. ``alias``, ``name``,
    ``sample_len``, ``sample_count`` and ``samples`` are skipped.
    ``n_samples`` is ``n-samples[task].effective`` (for groups:
    ``sample_count[key]`` when present, else the sum over subtasks).

    The result has ``status="success"``, ``eval_id=None`` (identity is the
    file SHA-256), ``task`` set only when the file holds a single top-level
    task or group, ``created`` from ``date`` (UTC), ``model`` from
    ``model_name`` (falling back to ``config.model_args``/``config.model``).

    ``provenance`` keys: ``tool`` ("lm_eval"), ``tool_version``, ``task``,
    ``tasks`` (top level), ``groups``, ``group_subtasks``, ``task_version``
    (alias of ``versions``), ``model``, ``model_source``, ``model_args``,
    ``model_sha``, ``model_revision``, ``created``, ``n_shot``,
    ``n_samples``, ``total_samples``, ``completed_samples``, ``limit``,
    ``task_hashes``, ``git_hash``, ``higher_is_better``, ``partial_run``
    and ``partial_run_reasons``.

    Raises :class:`ImportFormatError` for anything that is not such a file.
    """
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
        display = "the uploaded file"
    else:
        path = Path(path_or_bytes)
        display = path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportFormatError(f"{display} could not be read: {_short(exc)}") from exc
    return _parse_lm_eval_bytes(data, hashlib.sha256(data).hexdigest(), display)


def _parse_lm_eval_bytes(data: bytes, sha256: str, display: str) -> ParsedLog:
    """Decode and convert the bytes of an lm-eval results file."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(f"{display} is not valid JSON: {_short(exc)}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ImportFormatError(f'{display} is not an lm-eval results file (no "results" section).')

    results: dict[str, Any] = document["results"]
    groups: dict[str, Any] = _dict(document.get("groups"))
    group_subtasks: dict[str, list[str]] = {
        str(group): [str(task) for task in tasks]
        for group, tasks in _dict(document.get("group_subtasks")).items()
        if isinstance(tasks, list)
    }
    parent_of: dict[str, str] = {}
    for group, tasks in group_subtasks.items():
        for task in tasks:
            parent_of.setdefault(task, group)
    n_samples_doc = _dict(document.get("n-samples"))
    n_shot = _dict(document.get("n-shot"))
    config = _dict(document.get("config"))

    metrics: list[ParsedMetric] = []
    seen: set[str] = set()
    # lm-eval lists standalone tasks in group_subtasks too, with no subtasks.
    group_names = set(groups) | {name for name, subs in group_subtasks.items() if subs}
    for section in (results, groups):
        for task, entry in section.items():
            if task in seen or not isinstance(entry, dict):
                continue
            seen.add(task)
            metrics.extend(
                _lm_eval_task_metrics(
                    task,
                    entry,
                    parent=parent_of.get(task),
                    default_n=_lm_eval_n_samples(task, n_samples_doc, group_subtasks),
                    directions=_dict(_dict(document.get("higher_is_better")).get(task)),
                )
            )

    names = list(dict.fromkeys([*results, *groups]))
    top_level = [name for name in names if name not in parent_of]
    task_name = top_level[0] if len(top_level) == 1 else None

    leaf_tasks = [name for name in n_samples_doc if name not in group_names]
    total = _sum_counts(n_samples_doc, leaf_tasks, "original")
    completed = _sum_counts(n_samples_doc, leaf_tasks, "effective")
    reasons: list[str] = []
    for name in leaf_tasks:
        counts = _dict(n_samples_doc.get(name))
        original, effective = counts.get("original"), counts.get("effective")
        if _is_int(original) and _is_int(effective) and effective < original:
            reasons.append(f"{name}: {effective} of {original} samples")
    limit = config.get("limit")
    if limit is not None and not reasons:
        reasons.append(f"sample limit {limit}")

    model = _lm_eval_model(document, config)
    created = _lm_eval_created(document.get("date"))
    tool_version = document.get("lm_eval_version")
    tool_version = str(tool_version) if tool_version is not None else None

    provenance: dict[str, Any] = {
        "format": "lm_eval",
        "tool": "lm_eval",
        "tool_version": tool_version,
        "status": "success",
        "task": task_name,
        "tasks": top_level,
        "groups": sorted(group_names),
        "group_subtasks": group_subtasks,
        "task_version": _dict(document.get("versions")),
        "model": model,
        "model_source": document.get("model_source"),
        "model_args": config.get("model_args"),
        "model_sha": config.get("model_sha"),
        "model_revision": config.get("model_revision"),
        "created": created,
        "n_shot": n_shot,
        "n_samples": n_samples_doc,
        "total_samples": total,
        "completed_samples": completed,
        "limit": limit,
        "task_hashes": _dict(document.get("task_hashes")),
        "git_hash": document.get("git_hash"),
        "higher_is_better": _dict(document.get("higher_is_better")),
        "partial_run": bool(reasons),
        "partial_run_reasons": reasons,
    }
    return ParsedLog(
        format="lm_eval",
        status="success",
        eval_id=None,
        run_id=None,
        task=task_name,
        model=model,
        created=created,
        tool_version=tool_version,
        file_sha256=sha256,
        total_samples=total,
        completed_samples=completed,
        error=None,
        metrics=metrics,
        provenance=_json_safe(provenance),
        run_key=f"lm_eval:{_lm_eval_identity(document, model)}",
        evaluated_at=created,
        partial=bool(reasons),
    )


def _lm_eval_identity(document: Mapping[str, Any], model: str | None) -> str:
    """SHA-256 of the canonical JSON of what makes a run: model, date, task hashes, results.

    Whitespace, key order and the environment fields (``pretty_env_info``,
    timings) do not change it, so the same results saved twice are one run.
    """
    content = {
        "model": model,
        "model_sha": _dict(document.get("config")).get("model_sha"),
        "date": document.get("date"),
        "task_hashes": _dict(document.get("task_hashes")),
        "results": document.get("results"),
        "groups": _dict(document.get("groups")),
    }
    canonical = json.dumps(
        _json_safe(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lm_eval_task_metrics(
    task: str,
    entry: Mapping[str, Any],
    *,
    parent: str | None,
    default_n: int | None,
    directions: Mapping[str, Any],
) -> list[ParsedMetric]:
    """Metrics of one ``results``/``groups`` entry, stderr keys folded in."""
    sample_count = _dict(entry.get("sample_count"))
    values: dict[str, float | None] = {}
    stderrs: dict[str, float | None] = {}
    for key, raw in entry.items():
        if key in _LM_EVAL_SKIP_KEYS or isinstance(raw, dict | list):
            continue
        metric, sep, filter_name = key.partition(",")
        if metric.endswith(_LM_EVAL_STDERR_SUFFIX):
            base = metric[: -len(_LM_EVAL_STDERR_SUFFIX)]
            stderrs[f"{base}{sep}{filter_name}"] = _number(raw)
        else:
            values[key] = _number(raw)
    parsed = []
    for key, value in values.items():
        count = sample_count.get(key)
        direction = directions.get(key.partition(",")[0])
        parsed.append(
            ParsedMetric(
                name=f"{task}/{key}",
                value=value,
                stderr=stderrs.get(key),
                n_samples=count if _is_int(count) else default_n,
                group=parent,
                task=task,
                higher_is_better=direction if isinstance(direction, bool) else None,
            )
        )
    return parsed


def _lm_eval_n_samples(
    task: str, n_samples: Mapping[str, Any], group_subtasks: Mapping[str, list[str]]
) -> int | None:
    """``effective`` sample count of a task, or the sum over a group's subtasks."""
    counts = _dict(n_samples.get(task))
    effective = counts.get("effective")
    if _is_int(effective):
        return int(effective)
    subtasks = group_subtasks.get(task)
    if not subtasks:
        return None
    sizes = [_lm_eval_n_samples(sub, n_samples, group_subtasks) for sub in subtasks]
    if any(size is None for size in sizes):
        return None
    return sum(size for size in sizes if size is not None)


def _lm_eval_model(document: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """Best-effort model identity: ``model_name``, else ``pretrained=`` in model_args."""
    name = document.get("model_name")
    if isinstance(name, str) and name:
        return name
    model_args = config.get("model_args")
    if isinstance(model_args, dict):
        pretrained = model_args.get("pretrained")
        if isinstance(pretrained, str) and pretrained:
            return pretrained
    elif isinstance(model_args, str):
        for part in model_args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    model = config.get("model")
    return str(model) if isinstance(model, str) and model else None


def _lm_eval_created(date: Any) -> str | None:
    """lm-eval's ``date`` (Unix seconds) as an ISO-8601 UTC string."""
    if isinstance(date, bool) or not isinstance(date, int | float) or not math.isfinite(date):
        return None
    try:
        return datetime.fromtimestamp(float(date), tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _sum_counts(n_samples: Mapping[str, Any], tasks: Iterable[str], key: str) -> int | None:
    """Sum ``n-samples[task][key]`` over ``tasks``; None when there is nothing to sum."""
    total: int | None = None
    for task in tasks:
        value = _dict(n_samples.get(task)).get(key)
        if _is_int(value):
            total = (total or 0) + int(value)
    return total


# ---------------------------------------------------------------------------
# Results JSON (in-house harnesses; schema in docs/import-formats.md)
# ---------------------------------------------------------------------------

_RESULTS_JSON_KEYS: frozenset[str] = frozenset(
    {
        RESULTS_JSON_MARKER,
        "run_id",
        "task",
        "status",
        "evaluated_at",
        "model",
        "tool",
        "tool_version",
        "limit",
        "partial",
        "total_samples",
        "completed_samples",
        "error",
        "metrics",
        "metadata",
    }
)
_RESULTS_JSON_METRIC_KEYS: frozenset[str] = frozenset(
    {"name", "value", "stderr", "n_samples", "higher_is_better"}
)


def parse_results_json(path_or_bytes: str | Path | bytes) -> ParsedLog:
    """Parse a results JSON file (``docs/import-formats.md``) from a path or its bytes."""
    if isinstance(path_or_bytes, bytes):
        return _parse_results_json(
            path_or_bytes, hashlib.sha256(path_or_bytes).hexdigest(), "the uploaded file"
        )
    path = Path(path_or_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"{path.name} could not be read: {_short(exc)}") from exc
    return _parse_results_json(data, hashlib.sha256(data).hexdigest(), path.name)


def _parse_results_json(data: bytes, sha256: str, display: str) -> ParsedLog:
    """Check and convert a results JSON document; every problem names its field."""

    def bad(where: str, message: str) -> ImportFormatError:
        return ImportFormatError(f"{display}: {where}: {message}")

    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(f"{display} is not valid JSON: {_short(exc)}") from exc
    if not isinstance(document, dict) or document.get(RESULTS_JSON_MARKER) != 1:
        raise bad(RESULTS_JSON_MARKER, "must be 1 (the schema version).")
    unknown = sorted(set(document) - _RESULTS_JSON_KEYS)
    if unknown:
        raise bad(unknown[0], "unknown field.")
    run_id = document.get("run_id")
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 200:
        raise bad("run_id", "must be a non-empty string of at most 200 characters.")
    task = document.get("task")
    if not isinstance(task, str) or not task.strip() or len(task) > 200:
        raise bad("task", "must be a non-empty string of at most 200 characters.")
    status = document.get("status", "success")
    if status not in _INSPECT_STATUSES:
        raise bad("status", f"must be one of {', '.join(sorted(_INSPECT_STATUSES))}.")
    raw_when = document.get("evaluated_at")
    when = _aware(raw_when) if isinstance(raw_when, str) else None
    if when is None or not re.search(r"(Z|[+-]\d\d:?\d\d)$", str(raw_when).strip()):
        raise bad("evaluated_at", "must be an ISO 8601 date-time with a time zone.")
    limit = document.get("limit")
    if limit is not None and (not _is_int(limit) or limit < 1):
        raise bad("limit", "must be a positive integer or null.")
    partial_flag = document.get("partial", False)
    if not isinstance(partial_flag, bool):
        raise bad("partial", "must be true or false.")
    counts: dict[str, int | None] = {}
    for key in ("total_samples", "completed_samples"):
        value = document.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            raise bad(key, "must be a non-negative integer or null.")
        counts[key] = value
    error = document.get("error")
    if error is not None and not isinstance(error, str):
        raise bad("error", "must be a string or null.")
    for key in ("model", "tool", "tool_version"):
        if document.get(key) is not None and not isinstance(document.get(key), str):
            raise bad(key, "must be a string or null.")
    raw_metrics = document.get("metrics")
    if not isinstance(raw_metrics, list):
        raise bad("metrics", "must be a list of metric objects.")
    metrics: list[ParsedMetric] = []
    seen: set[str] = set()
    for index, item in enumerate(raw_metrics):
        where = f"metrics[{index}]"
        if not isinstance(item, dict):
            raise bad(where, "must be an object.")
        extra = sorted(set(item) - _RESULTS_JSON_METRIC_KEYS)
        if extra:
            raise bad(f"{where}.{extra[0]}", "unknown field.")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise bad(f"{where}.name", "must be a non-empty string of at most 200 characters.")
        if name in seen:
            raise bad(f"{where}.name", f"{name!r} appears twice.")
        seen.add(name)
        if "value" not in item:
            raise bad(f"{where}.value", "is required (a number, or null when there is none).")
        value, stderr = item.get("value"), item.get("stderr")
        for key, number in (("value", value), ("stderr", stderr)):
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, int | float)
            ):
                raise bad(f"{where}.{key}", "must be a number or null.")
        if stderr is not None and stderr < 0:
            raise bad(f"{where}.stderr", "must be zero or more.")
        n = item.get("n_samples")
        if n is not None and (not _is_int(n) or n < 0):
            raise bad(f"{where}.n_samples", "must be a non-negative integer or null.")
        direction = item.get("higher_is_better")
        if direction is not None and not isinstance(direction, bool):
            raise bad(f"{where}.higher_is_better", "must be true, false or null.")
        metrics.append(
            ParsedMetric(
                name=name,
                value=_number(value),
                stderr=_number(stderr),
                n_samples=n if n is not None else counts["completed_samples"],
                task=task,
                higher_is_better=direction,
            )
        )
    total, completed = counts["total_samples"], counts["completed_samples"]
    reasons: list[str] = []
    if limit is not None:
        reasons.append(f"sample limit {limit}")
    if partial_flag:
        reasons.append("marked partial")
    if total is not None and completed is not None and completed < total:
        reasons.append(f"{completed} of {total} samples completed")
    if status == "error" and not error:
        error = "The evaluation ended with an error but the file records no message."
    provenance: dict[str, Any] = {
        "format": "results_json",
        "tool": document.get("tool"),
        "tool_version": document.get("tool_version"),
        "status": status,
        "run_id": run_id,
        "task": task,
        "model": document.get("model"),
        "created": when,
        "limit": limit,
        "total_samples": total,
        "completed_samples": completed,
        "metadata": _dict(document.get("metadata")),
        "partial_run": bool(reasons),
        "partial_run_reasons": reasons,
    }
    return ParsedLog(
        format="results_json",
        status=status,
        eval_id=None,
        run_id=run_id,
        task=task,
        model=document.get("model"),
        created=when,
        tool_version=document.get("tool_version"),
        file_sha256=sha256,
        total_samples=total,
        completed_samples=completed,
        error=error,
        metrics=metrics if status == "success" else [],
        provenance=_json_safe(provenance),
        run_key=f"results_json:{run_id}",
        evaluated_at=when,
        partial=bool(reasons),
    )


# ---------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------


def apply_mapping(
    parsed: ParsedLog, mapping: Mapping[str, str]
) -> tuple[list[tuple[str, ParsedMetric]], list[str]]:
    """Pair parsed metrics with portal metric keys.

    ``mapping`` goes from a parsed metric name (see the module docstring,
    e.g. ``"match/accuracy"`` or ``"mmlu/acc,none"``) to a portal metric key;
    names are matched exactly. Returns ``(mapped, unmapped)``: ``mapped`` is
    a list of ``(metric_key, ParsedMetric)`` in log order, ``unmapped`` the
    names of parsed metrics with no (or an empty) mapping entry. Mapping
    entries that match nothing are ignored.

    Raises :class:`MappingConflictError` when two parsed metrics map to the
    same metric key, since the import could not tell which value is meant.
    """
    mapped: list[tuple[str, ParsedMetric]] = []
    unmapped: list[str] = []
    source_of: dict[str, str] = {}
    for metric in parsed.metrics:
        key = mapping.get(metric.name)
        if not key:
            unmapped.append(metric.name)
            continue
        if key in source_of:
            raise MappingConflictError(
                f"Both {source_of[key]!r} and {metric.name!r} map to metric {key!r}; "
                "map only one of them."
            )
        source_of[key] = metric.name
        mapped.append((key, metric))
    return mapped, unmapped


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _hash_file(path: Path, display: str) -> tuple[str, int, bytes]:
    """SHA-256 hex digest, size and first :data:`HEAD_BYTES` bytes of a file."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                if size < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - size]
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ImportFormatError(f"{display} could not be read: {_short(exc)}") from exc
    return digest.hexdigest(), size, head


def _number(raw: Any) -> float | None:
    """A metric value as float; ``"N/A"``, booleans and other non-numbers become None."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return float(raw)
    return None


def _is_int(value: Any) -> TypeGuard[int]:
    """True for real integers (not booleans)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict (tolerates missing sections)."""
    return value if isinstance(value, dict) else {}


def _iso(value: Any) -> str | None:
    """An ISO-8601 string for a datetime or string timestamp."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _short(exc: BaseException) -> str:
    """First line of an exception message, trimmed for display to a user.

    Server paths are not shown: ``OSError`` gives only its reason and a
    ``KeyError`` (a member missing from a zip) names the missing member.
    """
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, KeyError) and exc.args:
        return f"missing {exc.args[0]!s}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return text


def _json_safe(value: Any) -> Any:
    """Recursively convert ``value`` to JSON-safe data (no NaN/inf, str keys)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return _json_safe(model_dump(mode="json"))
    return str(value)


__all__ = [
    "FORMATS",
    "HEAD_BYTES",
    "ImportFormatError",
    "LogFormatReader",
    "MappingConflictError",
    "ParsedLog",
    "ParsedMetric",
    "apply_mapping",
    "detect_format",
    "parse_inspect_log",
    "parse_lm_eval_results",
    "parse_log_file",
    "parse_results_json",
]
