"""Suite runners: what a worker executes for a suite run, and their configuration checks.

Two kinds:

* ``inspect`` runs an Inspect AI task shipped in the repository (``suites/inspect_tasks/``)
  with ``inspect_ai.eval()`` in the worker process, writes the log under
  ``MEDIA_ROOT/suite-logs/``, and reads it back through the evidence importer
  (:func:`evaluations.importers.parse_log_file` and the suite's mapping).
* ``command`` runs a command of the deployment's allow-list (``suites.commands``; no shell, a
  minimal environment) with a timeout and reads a JSON
  object of metrics from its standard output: ``{"<scorer>/<metric>": value}`` or
  ``{"metrics": {...}}``, where a value is a number or ``{"value", "stderr", "n_samples"}``.

Runners know nothing of the database: they take plain configuration and return plain data.
Every failure raises :class:`RunnerError` with a message meant for the run page.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeGuard

from evaluations.importers import (
    ImportFormatError,
    MappingConflictError,
    ParsedMetric,
    apply_mapping,
    parse_log_file,
)
from suites import commands

#: Where shipped Inspect tasks live; an ``inspect`` suite can name only these.
TASKS_DIR = Path(__file__).resolve().parent / "inspect_tasks"
REPO_DIR = TASKS_DIR.parent.parent
#: Where the tasks lived before suites became an app; stored configurations may name it.
_LEGACY_TASKS_PREFIX = "evaluations/inspect_tasks/"
#: Characters of output kept on the run (the tail, where errors are).
EXCERPT_CHARS = 4000
DEFAULT_COMMAND_TIMEOUT = 600
MAX_COMMAND_TIMEOUT = 24 * 3600
_MODEL_SPEC = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./:@-]+$")
_TASK_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(@[A-Za-z_][A-Za-z0-9_]*)?$")
_INSPECT_KEYS = {"task", "model", "model_args", "task_args", "limit", "epochs"}
_COMMAND_KEYS = {"command", "args", "timeout"}

Progress = Callable[[int, int], None]


class ConfigError(ValueError):
    """A runner configuration is invalid; ``errors`` maps ``config.<field>`` to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class RunnerError(Exception):
    """A run failed; ``message`` is shown on the run, ``log_excerpt`` is kept with it.

    ``retryable`` is False for failures another attempt cannot fix (a bad mapping).
    """

    def __init__(self, message: str, log_excerpt: str = "", *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.log_excerpt = log_excerpt
        self.retryable = retryable


@dataclass
class RunOutput:
    """What a runner measured: ``(metric key, parsed metric)`` pairs and its log."""

    results: list[tuple[str, ParsedMetric]]
    log_excerpt: str = ""
    log_file: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    # When the evaluation ran (the log's own date; None: now) and whether on a sample limit.
    evaluated_at: str | None = None
    partial: bool = False


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The tail of ``text``, scrubbed of the worker's secrets, marked when cut."""
    text = commands.scrub(text)
    if len(text) <= limit:
        return text
    return "[…]\n" + text[-limit:]


# --- Configuration -------------------------------------------------------------------------


def validate_config(runner: str, raw: object) -> dict[str, Any]:
    """Check a runner configuration; returns it normalised or raises :class:`ConfigError`."""
    if not isinstance(raw, Mapping):
        raise ConfigError({"config": ["Must be a JSON object."]})
    if runner not in RUNNERS:
        raise ConfigError({"runner": [f"Must be one of {', '.join(RUNNERS)}."]})
    return RUNNERS[runner].validate(raw)


def _int(
    raw: object, name: str, errors: dict[str, list[str]], low: int, high: int, default: int | None
) -> int | None:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        errors.setdefault(f"config.{name}", []).append(
            f"Must be a whole number from {low} to {high}."
        )
        return default
    return raw


def _scalars(raw: object, name: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str | int | float | bool))
        for k, v in raw.items()
    ):
        errors.setdefault(f"config.{name}", []).append(
            "Must be a JSON object of strings, numbers and booleans."
        )
        return {}
    return dict(raw)


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


def _validate_inspect(raw: Mapping[str, Any]) -> dict[str, Any]:
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
        "model_args": _scalars(raw.get("model_args"), "model_args", errors),
        "task_args": _scalars(raw.get("task_args"), "task_args", errors),
        "limit": _int(raw.get("limit"), "limit", errors, 1, 1_000_000, None),
        "epochs": _int(raw.get("epochs"), "epochs", errors, 1, 100, None),
    }
    if errors:
        raise ConfigError(errors)
    return config


def _validate_command(raw: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    names = sorted(commands.allowed())
    listed = ", ".join(names) if names else "none: the operator lists them in SUITE_COMMANDS_FILE"
    if "argv" in raw or "cwd" in raw:
        errors["config"] = [
            "A command suite names an allow-listed command instead of an argv "
            f'({{"command": "<name>"}}); allowed here: {listed}.'
        ]
    unknown = sorted(set(raw) - _COMMAND_KEYS - {"argv", "cwd"})
    if unknown:
        errors.setdefault("config", []).append(
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_COMMAND_KEYS))}."
        )
    name = raw.get("command")
    args = raw.get("args", [])
    if not isinstance(name, str) or not name:
        errors["config.command"] = [f"Required: the name of an allow-listed command ({listed})."]
    elif name not in names:
        errors["config.command"] = [f"{name!r} is not an allow-listed command ({listed})."]
    if not isinstance(args, list) or not all(isinstance(a, str) and "\x00" not in a for a in args):
        errors["config.args"] = ["Must be a list of strings."]
    elif args and isinstance(name, str) and not commands.allowed().get(name, {}).get("allow_args"):
        errors["config.args"] = [f"The command {name!r} takes no arguments from a suite."]
    timeout = _int(
        raw.get("timeout"), "timeout", errors, 1, MAX_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT
    )
    if errors:
        raise ConfigError(errors)
    return {"command": name, "args": list(args), "timeout": timeout}


def validate_mapping(raw: Any, metric_keys: Mapping[str, Any] | set[str] | None) -> dict[str, str]:
    """Check a ``{"<scorer>/<metric>": "<metric key>"}`` mapping against the policy's keys."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError({"metrics": ['Required: {"<scorer>/<metric>": "<metric key>", ...}.']})
    errors: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for name, key in raw.items():
        if not isinstance(name, str) or not name or len(name) > 300:
            errors.setdefault("metrics", []).append("Source names must be non-empty strings.")
            continue
        if not isinstance(key, str) or (metric_keys is not None and key not in metric_keys):
            valid = ", ".join(sorted(metric_keys)) if metric_keys is not None else ""
            errors[f"metrics.{name}"] = [f"Unknown metric {key!r:.100}. Valid keys: {valid}."]
            continue
        if key in seen:
            errors[f"metrics.{name}"] = [f"{seen[key]!r} already maps to {key!r}."]
        seen[key] = name
    if errors:
        raise ConfigError(errors)
    return dict(raw)


# --- Mapping measured metrics ----------------------------------------------------------------


def _map(metrics: list[ParsedMetric], mapping: Mapping[str, str]) -> list[tuple[str, ParsedMetric]]:
    """The mapped metrics; every metric the suite declares must be present and finite."""
    by_name = {m.name: m for m in metrics}
    missing = sorted(name for name in mapping if name not in by_name)
    if missing:
        raise RunnerError(
            f"The run did not report {', '.join(missing)} (it reported "
            f"{', '.join(sorted(by_name)) or 'nothing'}).",
            retryable=False,
        )
    mapped = [(mapping[name], by_name[name]) for name in mapping]
    bad = [f"{m.name}={m.value!r}" for _, m in mapped if not m.is_finite]
    if bad:
        raise RunnerError(f"Non-numeric or non-finite values: {', '.join(bad)}.", retryable=False)
    return mapped


# --- Command runner ------------------------------------------------------------------------


def parse_metrics_output(stdout: str) -> list[ParsedMetric]:
    """Metrics from a command's output: the whole output, or its last line, as a JSON object."""
    document: Any = None
    text = stdout.strip()
    candidates = [text] + [line.strip() for line in reversed(text.splitlines())]
    for candidate in candidates:
        if not candidate.startswith("{"):
            continue
        try:
            document = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(document, dict):
            break
        document = None
    if document is None:
        raise RunnerError(
            'The command printed no JSON object of metrics (expected {"scorer/metric": value} '
            'or {"metrics": {...}} on standard output).'
        )
    if "metrics" in document and isinstance(document["metrics"], dict):
        document = document["metrics"]
    metrics: list[ParsedMetric] = []
    for name, raw in document.items():
        stderr: float | None = None
        n_samples: int | None = None
        if isinstance(raw, dict):
            stderr_raw: object = raw.get("stderr")
            n_raw: object = raw.get("n_samples")
            raw = raw.get("value")
            if _is_number(stderr_raw):
                stderr = float(stderr_raw)
            if isinstance(n_raw, int) and not isinstance(n_raw, bool) and n_raw >= 0:
                n_samples = n_raw
        if not _is_number(raw):
            raise RunnerError(
                f"Metric {name!r:.100} is not a number: {raw!r:.60}.", retryable=False
            )
        metrics.append(ParsedMetric(str(name), float(raw), stderr, n_samples))
    return metrics


def _is_number(raw: object) -> TypeGuard[int | float]:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def run_command(
    config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress
) -> RunOutput:
    """Run the allow-listed command (no shell, a minimal environment) and map its metrics."""
    try:
        argv, workdir, env = commands.resolve(
            str(config.get("command") or ""), config.get("args") or []
        )
    except commands.CommandNotAllowed as exc:
        raise RunnerError(str(exc), retryable=False) from None
    timeout = int(config.get("timeout") or DEFAULT_COMMAND_TIMEOUT)
    cwd = Path(workdir or ".")
    cwd = cwd if cwd.is_absolute() else REPO_DIR / cwd
    progress(0, 1)
    try:
        completed = run_in_own_group(argv, cwd, timeout, env)
    except subprocess.TimeoutExpired as exc:
        output = _decode(exc.stdout) + _decode(exc.stderr)
        raise RunnerError(f"The command timed out after {timeout} s.", excerpt(output)) from None
    except OSError as exc:
        raise RunnerError(f"The command could not start: {exc}.") from None
    stdout, stderr = _decode(completed.stdout), _decode(completed.stderr)
    log = excerpt(stdout + (f"\n--- stderr ---\n{stderr}" if stderr else ""))
    if completed.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or stdout.strip().splitlines()[-1:]
        raise RunnerError(
            f"The command exited with status {completed.returncode}"
            + (f": {commands.scrub(tail[0][:300])}" if tail else "."),
            log,
        )
    try:
        results = _map(parse_metrics_output(stdout), mapping)
    except RunnerError as exc:
        exc.log_excerpt = log
        raise
    progress(1, 1)
    return RunOutput(results=results, log_excerpt=log, provenance={"command": config["command"]})


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Child side: SIGKILL when the worker process that started it dies (Linux), so killing
    a worker never leaves its command running as an orphan."""
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(1)


def run_in_own_group(
    argv: list[str], cwd: Path, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (no shell) in its own process group; the group is killed on timeout or on
    any exception (a soft time limit, a worker shutting down), and the command itself dies
    with the worker process (``PR_SET_PDEATHSIG``)."""
    import signal

    process = subprocess.Popen(  # argv from the deployment's allow-list; no shell
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole below
        preexec_fn=_die_with_parent,  # a prefork worker process runs one task at a time
    )

    def kill_group() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group()
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
    except BaseException:
        kill_group()
        process.wait()
        raise
    kill_group()  # anything the command left behind in its group goes with it
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


# --- Inspect runner ------------------------------------------------------------------------


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
    results = _map(parsed.metrics, mapping)
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


# --- The runner registry -------------------------------------------------------------------


class Runner:
    """One way to run a suite (the plugin shape of importers and transports): ``kind`` (the
    value of ``EvalSuite.runner``), ``validate`` (its configuration, normalised, or a
    :class:`ConfigError`) and ``run``. Defining a subclass registers it in :data:`RUNNERS`."""

    kind: str
    label: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind in RUNNERS:
            raise TypeError(f"two runners of kind {cls.kind!r}")
        RUNNERS[cls.kind] = cls()

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run(
        self, config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress, logs: Path
    ) -> RunOutput:
        """Run once; raise :class:`RunnerError` for a failure the run records."""
        raise NotImplementedError


RUNNERS: dict[str, Runner] = {}


def runner_for(kind: str) -> Runner:
    """The runner of a suite's ``runner`` value."""
    return RUNNERS[kind]


class InspectRunner(Runner):
    kind = "inspect"
    label = "Inspect AI task"

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return _validate_inspect(raw)

    def run(
        self, config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress, logs: Path
    ) -> RunOutput:
        return run_inspect(config, mapping, progress, logs)


class CommandRunner(Runner):
    kind = "command"
    label = "Command"

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return _validate_command(raw)

    def run(
        self, config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress, logs: Path
    ) -> RunOutput:
        return run_command(config, mapping, progress)
