"""What every format parser shares: the parsed shapes, the error type and small helpers.

This is the public plugin API of an import format (``__all__``): a format module subclasses
:class:`LogFormatReader` (which registers it in :data:`FORMATS`), returns a :class:`ParsedLog`
of :class:`ParsedMetric` rows, raises :class:`ImportFormatError` for a bad file, and may use
the helpers below; nothing else of this module is meant for it.
"""

from __future__ import annotations

import hashlib
import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeGuard

__all__ = [
    "FIRST_KEY_RE",
    "FORMATS",
    "HEAD_BYTES",
    "INSPECT_STATUSES",
    "INSPECT_STDERR_METRICS",
    "LM_EVAL_SKIP_KEYS",
    "LM_EVAL_STDERR_SUFFIX",
    "MAX_ARCHIVE_BYTES",
    "MAX_ARCHIVE_MEMBERS",
    "MAX_COMPRESSION_RATIO",
    "MAX_MEMBER_BYTES",
    "RESULTS_JSON_MARKER",
    "ZIP_MAGIC",
    "ImportFormatError",
    "InspectFileFormat",
    "LogFormat",
    "LogFormatReader",
    "LogStatus",
    "MappingConflictError",
    "ParsedLog",
    "ParsedMetric",
    "as_dict",
    "aware_iso",
    "check_archive",
    "hash_file",
    "is_int",
    "iso_or_none",
    "json_safe",
    "number_or_none",
    "short_error",
    "unregister",
]

#: A format's name: a key of :data:`FORMATS` (stored on ``ImportRecord.format``).
LogFormat = str
LogStatus = Literal["success", "error", "cancelled", "started"]
InspectFileFormat = Literal["eval", "json"]

#: How many leading bytes :func:`parse_log_file` hands to :func:`detect_format`.
HEAD_BYTES = 64 * 1024

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1024 * 1024
INSPECT_STATUSES: frozenset[str] = frozenset({"success", "error", "cancelled", "started"})
# Inspect metrics whose value is the standard error of the score's mean.
INSPECT_STDERR_METRICS: frozenset[str] = frozenset({"stderr", "bootstrap_stderr"})
# Keys of an lm-eval task entry that are descriptive, not metrics.
LM_EVAL_SKIP_KEYS: frozenset[str] = frozenset(
    {"alias", "name", "sample_len", "sample_count", "samples"}
)
LM_EVAL_STDERR_SUFFIX = "_stderr"
#: The version key of a results JSON file (``docs/import-formats.md``); its value is 1.
RESULTS_JSON_MARKER = "rsp_results"
FIRST_KEY_RE = re.compile(rb'^\s*\{\s*"((?:[^"\\]|\\.){1,64})"\s*:')
_MAX_ERROR_CHARS = 300


class ImportFormatError(ValueError):
    """A file could not be read as evidence; ``str(exc)`` is a message for the uploader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MappingConflictError(ImportFormatError):
    """Two metrics of one log map to the same metric key, so the import is ambiguous."""


#: What an uploaded zip (an Inspect ``.eval`` log) may inflate to, checked from its central
#: directory before anything is inflated. zipfile never inflates a member past its declared
#: size, so declared sizes bound the memory and time a parser can spend (issue 22 obs 8: a
#: 398 KB bomb used to take 871 MB and 8.7 s in a web worker).
MAX_ARCHIVE_MEMBERS = 100_000
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
#: Text compresses well, but not a thousandfold: over this ratio a member larger than
#: ``_RATIO_FLOOR`` is a decompression bomb.
MAX_COMPRESSION_RATIO = 200
_RATIO_FLOOR = 1024 * 1024


def check_archive(path: Path, display: str) -> None:
    """Refuse a zip whose members would inflate beyond the bounds above."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFormatError(
            f"{display} is not a readable zip archive: {short_error(exc)}"
        ) from None
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ImportFormatError(
            f"{display} holds {len(members):,} files; at most {MAX_ARCHIVE_MEMBERS:,} are read."
        )
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > MAX_MEMBER_BYTES or (
            member.file_size > _RATIO_FLOOR and ratio > MAX_COMPRESSION_RATIO
        ):
            raise ImportFormatError(
                f"{display}: {member.filename[:100]} would inflate to "
                f"{member.file_size // (1024 * 1024):,} MiB ({ratio:,.0f}:1); refused as a "
                "possible decompression bomb."
            )
    if total > MAX_ARCHIVE_BYTES:
        raise ImportFormatError(
            f"{display} would inflate to {total // (1024 * 1024):,} MiB; at most "
            f"{MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB are read."
        )


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


def hash_file(path: Path, display: str) -> tuple[str, int, bytes]:
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
        raise ImportFormatError(f"{display} could not be read: {short_error(exc)}") from exc
    return digest.hexdigest(), size, head


def number_or_none(raw: object) -> float | None:
    """A metric value as float; ``"N/A"``, booleans and other non-numbers become None."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return float(raw)
    return None


def is_int(value: object) -> TypeGuard[int]:
    """True for real integers (not booleans)."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict (tolerates missing sections)."""
    return value if isinstance(value, dict) else {}


def iso_or_none(value: object) -> str | None:
    """An ISO-8601 string for a datetime or string timestamp."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def short_error(exc: BaseException) -> str:
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


def json_safe(value: object) -> Any:
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
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return json_safe(model_dump(mode="json"))
    return str(value)


def aware_iso(raw: object) -> str | None:
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
    #: How the upload form and the API describe the files (``"lm-eval results_*.json"``).
    files: str = ""
    first_keys: frozenset[str] = frozenset()
    markers: tuple[bytes, ...] = ()
    zip: bool = False
    #: A marker so specific that its presence alone decides the format.
    exclusive_marker: bytes | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Defining a reader with a ``name`` registers it in :data:`FORMATS` (its one entry)."""
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        if name in FORMATS:
            raise TypeError(f"two readers for the import format {name!r}")
        FORMATS[name] = cls()

    def parse(self, path: Path, sha256: str, display: str, head: bytes) -> ParsedLog:
        raise NotImplementedError


#: The formats the importer reads, by name: each reader registered itself by being defined.
FORMATS: dict[str, LogFormatReader] = {}


def unregister(name: str) -> None:
    """Forget a format (tests that define a test-only one)."""
    FORMATS.pop(name, None)
