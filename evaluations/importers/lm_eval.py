"""lm-evaluation-harness ``results_<datetime>.json`` files (0.4 schema)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluations.importers.base import (
    LM_EVAL_SKIP_KEYS,
    LM_EVAL_STDERR_SUFFIX,
    ImportFormatError,
    LogFormatReader,
    ParsedLog,
    ParsedMetric,
    as_dict,
    is_int,
    json_safe,
    number_or_none,
    short_error,
)


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
            raise ImportFormatError(f"{display} could not be read: {short_error(exc)}") from exc
    return _parse_lm_eval_bytes(data, hashlib.sha256(data).hexdigest(), display)


def _parse_lm_eval_bytes(data: bytes, sha256: str, display: str) -> ParsedLog:
    """Decode and convert the bytes of an lm-eval results file."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(f"{display} is not valid JSON: {short_error(exc)}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise ImportFormatError(f'{display} is not an lm-eval results file (no "results" section).')

    results: dict[str, Any] = document["results"]
    groups: dict[str, Any] = as_dict(document.get("groups"))
    group_subtasks: dict[str, list[str]] = {
        str(group): [str(task) for task in tasks]
        for group, tasks in as_dict(document.get("group_subtasks")).items()
        if isinstance(tasks, list)
    }
    parent_of: dict[str, str] = {}
    for group, tasks in group_subtasks.items():
        for task in tasks:
            parent_of.setdefault(task, group)
    n_samples_doc = as_dict(document.get("n-samples"))
    n_shot = as_dict(document.get("n-shot"))
    config = as_dict(document.get("config"))

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
                    directions=as_dict(as_dict(document.get("higher_is_better")).get(task)),
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
        counts = as_dict(n_samples_doc.get(name))
        original, effective = counts.get("original"), counts.get("effective")
        if is_int(original) and is_int(effective) and effective < original:
            reasons.append(f"{name}: {effective} of {original} samples")
    limit = config.get("limit")
    # A limit is partial only when it cut a task short: lm-eval records each task's size and
    # what was run in ``n-samples`` (effective < original is caught above). Without those
    # counts nobody can tell, and the run stays weak evidence.
    counted = [as_dict(n_samples_doc.get(name)) for name in leaf_tasks]
    all_counted = bool(counted) and all(
        is_int(c.get("original")) and is_int(c.get("effective")) for c in counted
    )
    if limit is not None and not reasons and not all_counted:
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
        "task_version": as_dict(document.get("versions")),
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
        "task_hashes": as_dict(document.get("task_hashes")),
        "git_hash": document.get("git_hash"),
        "higher_is_better": as_dict(document.get("higher_is_better")),
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
        provenance=json_safe(provenance),
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
        "model_sha": as_dict(document.get("config")).get("model_sha"),
        "date": document.get("date"),
        "task_hashes": as_dict(document.get("task_hashes")),
        "results": document.get("results"),
        "groups": as_dict(document.get("groups")),
    }
    canonical = json.dumps(
        json_safe(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False
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
    sample_count = as_dict(entry.get("sample_count"))
    values: dict[str, float | None] = {}
    stderrs: dict[str, float | None] = {}
    for key, raw in entry.items():
        if key in LM_EVAL_SKIP_KEYS or isinstance(raw, dict | list):
            continue
        metric, sep, filter_name = key.partition(",")
        if metric.endswith(LM_EVAL_STDERR_SUFFIX):
            base = metric[: -len(LM_EVAL_STDERR_SUFFIX)]
            stderrs[f"{base}{sep}{filter_name}"] = number_or_none(raw)
        else:
            values[key] = number_or_none(raw)
    parsed = []
    for key, value in values.items():
        count = sample_count.get(key)
        direction = directions.get(key.partition(",")[0])
        parsed.append(
            ParsedMetric(
                name=f"{task}/{key}",
                value=value,
                stderr=stderrs.get(key),
                n_samples=count if is_int(count) else default_n,
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
    counts = as_dict(n_samples.get(task))
    effective = counts.get("effective")
    if is_int(effective):
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
        value = as_dict(n_samples.get(task)).get(key)
        if is_int(value):
            total = (total or 0) + int(value)
    return total


class LmEvalFormat(LogFormatReader):
    name = "lm_eval"
    label = "lm-eval results file"
    files = "lm-eval results_*.json files"
    first_keys = frozenset(
        {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "config"}
    )
    markers = (b'"n-samples"', b'"n-shot"', b'"lm_eval_version"', b'"group_subtasks"')

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        return _parse_lm_eval_bytes(path.read_bytes(), sha256, display)
