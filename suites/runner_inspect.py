"""The ``inspect`` runner: an Inspect AI task shipped in the repository
(``suites/inspect_tasks/``), run with ``inspect_ai.eval()`` in the worker process; its log is
written under ``MEDIA_ROOT/suite-logs/`` and read back through the evidence importer
(:func:`evaluations.importers.parse_log_file` and the suite's mapping)."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from evaluations.importers import (
    ImportFormatError,
    MappingConflictError,
    apply_mapping,
    parse_log_file,
)
from suites.runners import (
    REPO_DIR,
    ConfigError,
    Progress,
    Runner,
    RunnerError,
    RunOutput,
    int_setting,
    map_metrics,
    scalar_settings,
)

#: Where shipped Inspect tasks live; an ``inspect`` suite can name only these.
TASKS_DIR = Path(__file__).resolve().parent / "inspect_tasks"

#: Where the tasks lived before suites became an app; stored configurations may name it.
_LEGACY_TASKS_PREFIX = "evaluations/inspect_tasks/"

_MODEL_SPEC = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./:@-]+$")

_TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(@[A-Za-z_][A-Za-z0-9_]*)?$")

_INSPECT_KEYS = {"task", "model", "model_args", "task_args", "limit", "epochs"}


def shipped_tasks() -> list[str]:
    """Names of the Inspect task files shipped in the repository."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.py") if not p.name.startswith("_"))


def resolve_task(task: str) -> tuple[Path, str]:
    """``(file, function)`` of a task given by shipped name (``name[@fn]``) or repo path.

    Only files under ``suites/inspect_tasks/`` are accepted, so a suite cannot point the
    worker at arbitrary code.
    """
    spec, _, function = task.partition("@")
    if spec.startswith(_LEGACY_TASKS_PREFIX):
        spec = "suites/inspect_tasks/" + spec.removeprefix(_LEGACY_TASKS_PREFIX)
    if spec.endswith(".py"):
        path = (REPO_DIR / spec).resolve()
    elif _TASK_NAME.match(task):
        path = (TASKS_DIR / f"{spec}.py").resolve()
    else:
        raise ConfigError({"config.task": [f"Not a task name or file: {task!r:.100}."]})
    if path.parent != TASKS_DIR or not path.is_file() or path.name.startswith("_"):
        raise ConfigError(
            {
                "config.task": [
                    f"Unknown task {task!r:.100}: name one shipped in suites/inspect_tasks/ "
                    f"({', '.join(shipped_tasks()) or 'none'})."
                ]
            }
        )
    function = function or path.stem
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", function):
        raise ConfigError({"config.task": [f"Bad task function name {function!r:.60}."]})
    return path, function


def validate_inspect(raw: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(raw) - _INSPECT_KEYS)
    if unknown:
        errors["config"] = [
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_INSPECT_KEYS))}."
        ]
    task = raw.get("task")
    if not isinstance(task, str) or not task:
        errors["config.task"] = ["Required: a task shipped in suites/inspect_tasks/."]
    else:
        try:
            resolve_task(task)
        except ConfigError as exc:
            errors.update(exc.errors)
    model = raw.get("model")
    if not isinstance(model, str) or not _MODEL_SPEC.match(model):
        errors["config.model"] = ["Required: a model spec such as 'mockllm/model'."]
    config = {
        "task": task,
        "model": model,
        "model_args": scalar_settings(raw.get("model_args"), "model_args", errors),
        "task_args": scalar_settings(raw.get("task_args"), "task_args", errors),
        "limit": int_setting(raw.get("limit"), "limit", errors, 1, 1_000_000, None),
        "epochs": int_setting(raw.get("epochs"), "epochs", errors, 1, 100, None),
    }
    if errors:
        raise ConfigError(errors)
    return config


def _load_task_module(path: Path) -> ModuleType:
    name = f"rsp_inspect_task_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RunnerError(f"Cannot load task file {path.name}.", retryable=False)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def run_inspect(
    config: Mapping[str, Any],
    mapping: Mapping[str, str],
    progress: Progress,
    log_dir: Path,
) -> RunOutput:
    """Run an Inspect task in this process and import its log through the evidence importer.

    With a ``mockllm/`` model spec, a task module's ``MOCKLLM_OUTPUTS`` (a ``custom_outputs``
    callable) scripts the answers, so demo and test suites run offline.
    """
    os.environ.setdefault("INSPECT_DISPLAY", "none")
    os.environ.setdefault("INSPECT_LOG_LEVEL", "warning")
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    path, function = resolve_task(str(config["task"]))
    module = _load_task_module(path)
    task_fn = getattr(module, function, None)
    if not callable(task_fn):
        raise RunnerError(f"{path.name} has no task function {function}.", retryable=False)
    task = task_fn(**dict(config.get("task_args") or {}))
    total = len(task.dataset)
    if config.get("limit"):
        total = min(total, int(config["limit"]))
    total *= int(config.get("epochs") or 1)
    progress(0, total)

    spec = str(config["model"])
    model_args = dict(config.get("model_args") or {})
    scripted = getattr(module, "MOCKLLM_OUTPUTS", None)
    if spec.startswith("mockllm/") and scripted is not None:
        model_args.setdefault("custom_outputs", scripted)
    try:
        model = get_model(spec, **model_args)
        log_dir.mkdir(parents=True, exist_ok=True)
        logs = inspect_eval(
            task,
            model=model,
            log_dir=str(log_dir),
            log_format="eval",
            display="none",
            limit=config.get("limit"),
            epochs=config.get("epochs"),
            fail_on_error=True,
        )
    except Exception as exc:  # Inspect raises many kinds; all end the attempt
        raise RunnerError(f"Inspect failed: {type(exc).__name__}: {exc}"[:1000]) from None
    log_path = Path(logs[0].location)
    try:
        parsed = parse_log_file(log_path)
    except ImportFormatError as exc:
        raise RunnerError(f"The Inspect log could not be read: {exc}") from None
    summary = [
        f"task {parsed.task} on {parsed.model}: {parsed.status}",
        f"samples {parsed.completed_samples}/{parsed.total_samples}",
        *(f"{m.name} = {m.value}" for m in parsed.metrics),
        f"log {log_path.name}",
    ]
    if parsed.status != "success":
        raise RunnerError(
            f"The Inspect run ended {parsed.status}: {parsed.error or 'no error given'}"[:1000],
            "\n".join(summary),
        )
    try:
        apply_mapping(parsed, mapping)  # refuses two log metrics mapped to one key
    except MappingConflictError as exc:
        raise RunnerError(str(exc), "\n".join(summary), retryable=False) from None
    results = map_metrics(parsed.metrics, mapping)
    progress(total, total)
    return RunOutput(
        results=results,
        log_excerpt="\n".join(summary),
        log_file=str(log_path),
        provenance={
            "eval_id": parsed.eval_id,
            "file_sha256": parsed.file_sha256,
            "task": parsed.task,
            "log_model": parsed.model,
        },
        evaluated_at=parsed.evaluated_at,
        partial=parsed.partial,
    )


class InspectRunner(Runner):
    kind = "inspect"
    label = "Inspect AI task"

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return validate_inspect(raw)

    def run(
        self, config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress, logs: Path
    ) -> RunOutput:
        return run_inspect(config, mapping, progress, logs)
