"""Policy packs: parse, validate, normalise, dump and hash policy YAML files.

This module is the API (import from here) and does the parsing, file reading, dumping and
hashing; validation lives in :mod:`policies.pack_validation` and the format's vocabulary in
:mod:`policies.pack_format`. All three are pure: no Django, no ORM. A *pack* is a YAML file in
the shape of ``GET /api/v1/policy/`` plus ``source`` and ``disclaimer``; the format is
documented field by field in ``docs/policy-packs.md``.

The normalised form returned by :func:`validate_pack` is the single representation the
rest of the portal works with:

* every key is present (optional fields filled with their defaults), in a fixed order;
* real-valued quantities (``effective_compute_multiple``, ``uncertainty_z``, metric
  ``min``/``max``, indicator ``warning``/``critical``) are ``float``; counts (``rank``,
  months, ``min_samples``) are ``int``;
* lists of entities are sorted by their identifier (levels by ``rank``; standards,
  domains, thresholds and requirements by ``code``; metrics by ``key``; indicators by
  ``metric``), and lists of codes are sorted, except ``signoff_titles`` and
  ``advisory_titles`` which keep the author's order. Ordering in the YAML therefore
  carries no meaning, and two packs that differ only in order or formatting have the same
  :func:`content_sha256`.

Note: shipped YAML files live in the directory ``policies/packs/``, which must stay a
plain data directory (no ``__init__.py``) so that ``import policies.packs`` finds this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from policies.pack_format import (
    DOMAIN_CATEGORIES,
    DOMAIN_TIERS,
    REQUIRES_SCOPES,
    STANDARD_KINDS,
    THRESHOLD_TIERS,
    UNCERTAINTY_Z_RANGE,
    WARNING_BEHAVIOURS,
    Pack,
    PackDomain,
    PackError,
    PackIndicator,
    PackLevel,
    PackMetric,
    PackRequirement,
    PackSettings,
    PackSource,
    PackStandard,
    PackThreshold,
)
from policies.pack_validation import validate_pack

__all__ = [
    "DOMAIN_CATEGORIES",
    "DOMAIN_TIERS",
    "PACKS_DIR",
    "REQUIRES_SCOPES",
    "SHIPPED_PACKS",
    "STANDARD_KINDS",
    "THRESHOLD_TIERS",
    "UNCERTAINTY_Z_RANGE",
    "WARNING_BEHAVIOURS",
    "Pack",
    "PackDomain",
    "PackError",
    "PackIndicator",
    "PackLevel",
    "PackMetric",
    "PackRequirement",
    "PackSettings",
    "PackSource",
    "PackStandard",
    "PackThreshold",
    "content_sha256",
    "dump_pack",
    "load_pack_file",
    "parse_pack",
    "validate_pack",
]

#: Directory holding the shipped packs.
PACKS_DIR: Path = Path(__file__).resolve().parent / "packs"

#: Names of the packs shipped with the portal (``policies/packs/<name>.yaml``).
SHIPPED_PACKS: list[str] = [
    # Anthropic RSP family, oldest first; ``default`` is RSP v2.2.
    "anthropic-rsp-v1-0",
    "anthropic-rsp-v2-0",
    "anthropic-rsp-v2-1",
    "default",
    "anthropic-rsp-v3-0",
    "anthropic-rsp-v3-1",
    "anthropic-rsp-v3-2",
    "anthropic-rsp-v3-3",
    "anthropic-rsp-v3-4",
    "openai-preparedness-v2",
    "gdm-fsf-v3",
    "gdm-fsf-v3-1",
    "meta-frontier-ai-v1",
    "meta-scaling-v2",
    "microsoft-fgf",
    "amazon-fmsf",
    # Issue 24: every version of the other labs' frameworks, each from its own text.
    "gdm-fsf-v1",
    "gdm-fsf-v2",
    "openai-preparedness-2023",
    "xai-rmf-2025-02",
    "xai-rmf-2025-08",
    "xai-faif-2025-12",
    "xai-faif-2026-06",
]


# --------------------------------------------------------------------------- parsing


class _PackLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last.

    A duplicated ``critical:`` line would otherwise change a red line without anyone
    noticing, so duplicates are errors.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, str]] = []

    # The return type is PyYAML's: keys and values of any YAML type (a boundary).
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeConstructor reports it below
                continue
            if duplicate:
                mark = key_node.start_mark
                self.duplicates.append((mark.line + 1, mark.column + 1, str(key)))
        return super().construct_mapping(node, deep=deep)


def _mark_location(filename: str, mark: yaml.Mark | None) -> str:
    if mark is None:
        return filename
    return f"{filename}: line {mark.line + 1}, column {mark.column + 1}"


def parse_pack(text: str, filename: str) -> Pack:
    """Parse pack YAML text and return the validated, normalised pack.

    ``filename`` is used only to build error locations. Raises :class:`PackError` for
    YAML syntax errors (located by line and column, 1-based), duplicate mapping keys,
    and every validation problem reported by :func:`validate_pack`.
    """
    loader = _PackLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise PackError(
            [
                (
                    _mark_location(filename, exc.problem_mark),
                    f"YAML syntax error: {problem}",
                )
            ]
        ) from exc
    except yaml.YAMLError as exc:
        raise PackError([(filename, f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()
    if loader.duplicates:
        raise PackError(
            (f"{filename}: line {line}, column {col}", f"duplicate key {key!r}")
            for line, col, key in loader.duplicates
        )
    return validate_pack(data, filename)


# -------------------------------------------------------------------- files, dump, hash


def load_pack_file(path_or_name: str | Path) -> Pack:
    """Read, parse and validate a pack file; return the normalised pack.

    A bare name without directory or suffix (``"default"``) means the shipped pack
    ``policies/packs/<name>.yaml``; anything else is a filesystem path. Error locations
    use the file's base name. Raises :class:`PackError` for an unknown shipped name, an
    unreadable file, or any parse/validation problem.
    """
    candidate = Path(path_or_name)
    if isinstance(path_or_name, str) and candidate.name == path_or_name and not candidate.suffix:
        candidate = PACKS_DIR / f"{path_or_name}.yaml"
        if not candidate.is_file():
            shipped = ", ".join(SHIPPED_PACKS)
            message = f"no shipped pack of that name (shipped: {shipped}); give a path"
            raise PackError([(str(path_or_name), message)])
    try:
        text = candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError([(str(candidate), f"cannot read pack file: {exc}")]) from exc
    return parse_pack(text, candidate.name)


class _PackDumper(yaml.SafeDumper):
    """SafeDumper without anchors/aliases and with block style for multi-line text."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_PackDumper.add_representer(str, _represent_str)


def dump_pack(data: Mapping[str, object]) -> str:
    """Serialise a pack to YAML text in normalised form.

    ``data`` is validated (and thereby normalised) first, so the output is canonical and
    ``validate_pack(yaml.safe_load(dump_pack(x)), f) == validate_pack(x, f)``; for a
    normalised ``x``, ``parse_pack(dump_pack(x), f) == x``. Raises :class:`PackError` if
    ``data`` is not a valid pack.
    """
    normalised = validate_pack(dict(data), "<dump>")
    header = (
        f"# Policy pack {normalised['key']!r}, version {normalised['version']!r}.\n"
        "# Format: docs/policy-packs.md. Read the disclaimer below before relying on numbers.\n"
    )
    body = yaml.dump(
        normalised,
        Dumper=_PackDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return header + body


def content_sha256(data: Mapping[str, object]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``data``.

    Canonical JSON: ``json.dumps(data, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)`` encoded as UTF-8. Nothing is excluded: every
    key of ``data`` counts. Pass a normalised pack (from :func:`validate_pack`) so that
    the hash is independent of the YAML's ordering and formatting.
    """
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
