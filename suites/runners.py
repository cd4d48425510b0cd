"""Suite runners: the registry and what every runner shares (errors, output, settings checks,
the metric mapping). Each kind lives in a module of its own and registers itself by
subclassing :class:`Runner` (``suites.apps`` imports them):

* ``inspect`` (``suites.runner_inspect``): an Inspect AI task shipped in the repository, its
  log read back through the evidence importer;
* ``command`` (``suites.runner_command``): a command of the deployment's allow-list, its metrics
  read from standard output.

A new kind is one module with a ``Runner`` subclass, and its import in ``suites.apps``.

Runners know nothing of the database: they take plain configuration and return plain data.
Every failure raises :class:`RunnerError` with a message meant for the run page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluations.importers import ParsedMetric
from suites import commands

#: The repository: shipped tasks and relative command directories are resolved against it.
REPO_DIR = Path(__file__).resolve().parent.parent
#: Characters of output kept on the run (the tail, where errors are).
EXCERPT_CHARS = 4000

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


def int_setting(
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


def scalar_settings(raw: object, name: str, errors: dict[str, list[str]]) -> dict[str, Any]:
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


def map_metrics(
    metrics: list[ParsedMetric], mapping: Mapping[str, str]
) -> list[tuple[str, ParsedMetric]]:
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
