"""Inspect AI ``.eval`` and ``.json`` logs, read header-only through ``inspect_ai``."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evaluations.importers.base import (
    INSPECT_STATUSES,
    INSPECT_STDERR_METRICS,
    ZIP_MAGIC,
    ImportFormatError,
    InspectFileFormat,
    LogFormatReader,
    ParsedLog,
    ParsedMetric,
    aware_iso,
    check_archive,
    hash_file,
    iso_or_none,
    json_safe,
    short_error,
)


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
    sha256, _size, head = hash_file(path, path.name)
    if log_format is None:
        log_format = "eval" if head.startswith(ZIP_MAGIC) else "json"
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
    if log_format == "eval":
        check_archive(path, display)
    try:
        log = read_eval_log(str(path), header_only=True, format=log_format)
    except Exception as exc:  # any reader failure means a bad upload
        raise ImportFormatError(
            f"{display} could not be read as an Inspect {log_format} log: "
            + short_error(exc).replace(str(path), display)  # don't show server paths
        ) from exc

    status = str(log.status)
    if status not in INSPECT_STATUSES:
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
    limit = json_safe(config.limit) if config.limit is not None else None
    sample_id = json_safe(config.sample_id) if config.sample_id is not None else None
    usage = {model: _usage_dict(u) for model, u in log.stats.model_usage.items()}
    reasons: list[str] = []
    if _limit_cuts_dataset(config.limit, spec.dataset.samples):
        reasons.append(f"sample limit {limit}")
    if sample_id is not None:
        reasons.append("run restricted to selected sample ids")
    if total is not None and completed is not None and completed < total:
        reasons.append(f"{completed} of {total} samples completed")
    early_stopping = getattr(results, "early_stopping", None) if results is not None else None
    if early_stopping is not None:
        reasons.append("early stopping")

    created = iso_or_none(spec.created)
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
        status=status,  # type: ignore[arg-type]  # checked against INSPECT_STATUSES above
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
        provenance=json_safe(provenance),
        run_key=f"inspect:{spec.eval_id}" if spec.eval_id else None,
        evaluated_at=_inspect_evaluated_at(spec, log.stats),
        partial=bool(reasons),
    )


def _limit_cuts_dataset(limit: Any, dataset_samples: int | None) -> bool:
    """Whether a sample limit left samples of the dataset out: partial only then.

    Inspect takes ``limit`` as a count (the first N samples) or a ``(start, end)`` range. A
    count at least the dataset's size, or a range from 0 past its end, ran every sample; an
    unknown dataset size leaves any limit suspect.
    """
    if limit is None:
        return False
    if dataset_samples is None:
        return True
    if isinstance(limit, int) and not isinstance(limit, bool):
        return limit < dataset_samples
    if isinstance(limit, tuple | list) and len(limit) == 2:
        start, end = limit
        return not (start == 0 and isinstance(end, int) and end >= dataset_samples)
    return True


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
            if key in INSPECT_STDERR_METRICS and metric.group is None:
                stderr = float(metric.value)
                break
        n_samples = score.scored_samples
        if n_samples is None:
            n_samples = results.completed_samples
        for key, metric in score.metrics.items():
            if key in INSPECT_STDERR_METRICS and metric.group is None:
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
    return bool(key == params.get("all_label", "all"))


def _inspect_evaluated_at(spec: Any, stats: Any) -> str | None:
    """When the evaluation ran: ``stats.completed_at``, else ``eval.created`` (UTC if naive)."""
    for raw in (getattr(stats, "completed_at", None), getattr(spec, "created", None)):
        when = aware_iso(raw)
        if when is not None:
            return when
    return None


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


class InspectFormat(LogFormatReader):
    name = "inspect"
    label = "Inspect AI log"
    files = "Inspect AI .eval or .json logs"
    first_keys = frozenset({"version", "status", "eval"})
    markers = (b'"eval_id"', b'"run_id"', b'"task_id"')
    zip = True

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        inspect_format: InspectFileFormat = "eval" if head.startswith(ZIP_MAGIC) else "json"
        return _parse_inspect(path, inspect_format, sha256, display)
