"""Results JSON files from in-house harnesses (schema: ``docs/import-formats.md``)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from evaluations.importers.base import (
    INSPECT_STATUSES,
    RESULTS_JSON_MARKER,
    ImportFormatError,
    LogFormatReader,
    ParsedLog,
    ParsedMetric,
    as_dict,
    aware_iso,
    is_int,
    json_safe,
    number_or_none,
    short_error,
)

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
        raise ImportFormatError(f"{path.name} could not be read: {short_error(exc)}") from exc
    return _parse_results_json(data, hashlib.sha256(data).hexdigest(), path.name)


def _parse_results_json(data: bytes, sha256: str, display: str) -> ParsedLog:
    """Check and convert a results JSON document; every problem names its field."""

    def bad(where: str, message: str) -> ImportFormatError:
        return ImportFormatError(f"{display}: {where}: {message}")

    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(f"{display} is not valid JSON: {short_error(exc)}") from exc
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
    if status not in INSPECT_STATUSES:
        raise bad("status", f"must be one of {', '.join(sorted(INSPECT_STATUSES))}.")
    raw_when = document.get("evaluated_at")
    when = aware_iso(raw_when) if isinstance(raw_when, str) else None
    if when is None or not re.search(r"(Z|[+-]\d\d:?\d\d)$", str(raw_when).strip()):
        raise bad("evaluated_at", "must be an ISO 8601 date-time with a time zone.")
    limit = document.get("limit")
    if limit is not None and (not is_int(limit) or limit < 1):
        raise bad("limit", "must be a positive integer or null.")
    partial_flag = document.get("partial", False)
    if not isinstance(partial_flag, bool):
        raise bad("partial", "must be true or false.")
    counts: dict[str, int | None] = {}
    for key in ("total_samples", "completed_samples"):
        value = document.get(key)
        if value is not None and (not is_int(value) or value < 0):
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
        if n is not None and (not is_int(n) or n < 1):
            raise bad(f"{where}.n_samples", "must be a positive integer or null.")
        direction = item.get("higher_is_better")
        if direction is not None and not isinstance(direction, bool):
            raise bad(f"{where}.higher_is_better", "must be true, false or null.")
        metrics.append(
            ParsedMetric(
                name=name,
                value=number_or_none(value),
                stderr=number_or_none(stderr),
                n_samples=n if n is not None else counts["completed_samples"],
                task=task,
                higher_is_better=direction,
            )
        )
    total, completed = counts["total_samples"], counts["completed_samples"]
    reasons: list[str] = []
    # A limit at least the dataset's size (``total_samples``) ran every sample.
    if limit is not None and (total is None or limit < total):
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
        "metadata": as_dict(document.get("metadata")),
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
        provenance=json_safe(provenance),
        run_key=f"results_json:{run_id}",
        evaluated_at=when,
        partial=bool(reasons),
    )


class ResultsJsonFormat(LogFormatReader):
    name = "results_json"
    label = "results JSON file"
    files = "results JSON files from in-house harnesses"
    first_keys = frozenset({RESULTS_JSON_MARKER})
    exclusive_marker = f'"{RESULTS_JSON_MARKER}"'.encode()

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        return _parse_results_json(path.read_bytes(), sha256, display)
