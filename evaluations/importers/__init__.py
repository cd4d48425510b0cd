"""Pure parsers for evaluation evidence files: Inspect AI logs and lm-eval results.

This module turns a file on disk (or, for lm-eval, raw bytes) into a
:class:`ParsedLog`: plain data, no Django, no ORM. The service layer decides
what to store; nothing here writes anything.

Supported inputs:

* Inspect AI ``.eval`` (zip) and ``.json`` logs, read header-only through
  ``inspect_ai.log.read_eval_log``.
* lm-evaluation-harness ``results_<datetime>.json`` files.
* Generic "results JSON" files from in-house harnesses (``docs/import-formats.md``).

Each format is one module here with its reader class (``detect`` data and ``parse``; defining it
registers it in :data:`FORMATS`) and its name in the import of the shipped formats below, with
no new branch in :func:`detect_format` or :func:`parse_log_file`.

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

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from evaluations.importers.base import (
    FIRST_KEY_RE,
    FORMATS,
    HEAD_BYTES,
    ZIP_MAGIC,
    ImportFormatError,
    LogFormat,
    LogFormatReader,
    MappingConflictError,
    ParsedLog,
    ParsedMetric,
    hash_file,
)
from evaluations.importers.inspect_logs import InspectFormat, parse_inspect_log
from evaluations.importers.lm_eval import LmEvalFormat, parse_lm_eval_results
from evaluations.importers.results_json import ResultsJsonFormat, parse_results_json

#: The shipped formats, in detection order (importing their modules registered them).
SHIPPED = (InspectFormat, LmEvalFormat, ResultsJsonFormat)


def accepted_files() -> str:
    """The accepted files in words, for the upload form and the API's help text."""
    return ", ".join(reader.files or reader.label for reader in FORMATS.values())


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
    if head_bytes.startswith(ZIP_MAGIC):
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
    match = FIRST_KEY_RE.match(text_head)
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


#: The generic results format opens with a list, or with a ``results`` key holding one (an
#: lm-eval file's ``results`` is an object).
_RESULTS_LIST_RE = re.compile(rb'^\s*(\[|\{\s*"results"\s*:\s*\[)')
FileKind = Literal["results", "log"]


def classify(filename: str, head: bytes, size: int | None = None) -> tuple[FileKind, str | None]:
    """What a file is, as the server tells a client (``POST /api/v1/results/detect/``):
    ``("log", format name)`` for a file of a registered format (import it), ``("results",
    None)`` for the generic results format (a JSON list of results, or an object whose
    ``results`` is a list: post it in bulk). ``head`` is the file's first bytes (at least
    :data:`HEAD_BYTES` of a larger file), ``size`` its length when known.

    The registered formats are asked first, so a new format is recognised with no change to
    any client. Raises :class:`ImportFormatError` for a file that is neither.
    """
    text = head.lstrip(b"\xef\xbb\xbf")
    if _RESULTS_LIST_RE.match(text):
        return "results", None
    try:
        return "log", detect_format(filename, head)
    except ImportFormatError:
        if (size is None or size <= len(head)) and _has_results_list(text):
            return "results", None
        raise


def _has_results_list(text: bytes) -> bool:
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("results"), list)


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
    sha256, size, head = hash_file(path, name)
    reader = FORMATS[detect_format(name, head)]
    parsed = reader.parse(path, sha256, name, head)
    parsed.provenance["file_size_bytes"] = size
    return parsed


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


__all__ = [
    "FORMATS",
    "HEAD_BYTES",
    "FileKind",
    "ImportFormatError",
    "LogFormatReader",
    "MappingConflictError",
    "ParsedLog",
    "ParsedMetric",
    "apply_mapping",
    "classify",
    "detect_format",
    "parse_inspect_log",
    "parse_lm_eval_results",
    "parse_log_file",
    "parse_results_json",
]
