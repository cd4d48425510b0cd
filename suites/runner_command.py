"""The ``command`` runner: a command of the deployment's allow-list (``suites.commands``; no
shell, a minimal environment) run with a timeout in its own process group; it reads a JSON
object of metrics from standard output: ``{"<scorer>/<metric>": value}`` or
``{"metrics": {...}}``, where a value is a number or ``{"value", "stderr", "n_samples"}``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

from evaluations.importers import ParsedMetric
from suites import commands
from suites.runners import (
    REPO_DIR,
    ConfigError,
    Progress,
    Runner,
    RunnerError,
    RunOutput,
    excerpt,
    int_setting,
    map_metrics,
)

DEFAULT_COMMAND_TIMEOUT = 600

MAX_COMMAND_TIMEOUT = 24 * 3600

_COMMAND_KEYS = {"command", "args", "timeout"}


def validate_command(raw: Mapping[str, Any]) -> dict[str, Any]:
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
    timeout = int_setting(
        raw.get("timeout"), "timeout", errors, 1, MAX_COMMAND_TIMEOUT, DEFAULT_COMMAND_TIMEOUT
    )
    if errors:
        raise ConfigError(errors)
    return {"command": name, "args": list(args), "timeout": timeout}


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
        results = map_metrics(parse_metrics_output(stdout), mapping)
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


class CommandRunner(Runner):
    kind = "command"
    label = "Command"

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return validate_command(raw)

    def run(
        self, config: Mapping[str, Any], mapping: Mapping[str, str], progress: Progress, logs: Path
    ) -> RunOutput:
        return run_command(config, mapping, progress)
