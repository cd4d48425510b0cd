"""The generic results JSON format (docs/import-formats.md) and the importer registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluations.importers import (
    ImportFormatError,
    ParsedMetric,
    parse_log_file,
    parse_results_json,
)
from tests.evaluations.test_importers import assert_json_safe


def results_json_document(**overrides: Any) -> dict[str, Any]:
    """A results JSON file as documented in docs/import-formats.md."""
    document: dict[str, Any] = {
        "rsp_results": 1,
        "run_id": "bio-harness-2026-05-01-0007",
        "task": "bio_protocols",
        "status": "success",
        "evaluated_at": "2026-05-01T12:00:00Z",
        "model": "atlas-step-1000",
        "tool": "bio-harness",
        "tool_version": "2.3.0",
        "limit": None,
        "total_samples": 400,
        "completed_samples": 400,
        "metrics": [
            {"name": "accuracy", "value": 0.42, "stderr": 0.025, "higher_is_better": True},
            {"name": "refusal_rate", "value": 0.1, "n_samples": 380},
        ],
    }
    document.update(overrides)
    return document


def test_a_results_json_file_is_detected_and_parsed(tmp_path: Path) -> None:
    path = tmp_path / "harness-output.json"
    path.write_text(json.dumps(results_json_document()))

    parsed = parse_log_file(path)

    assert parsed.format == "results_json"
    assert parsed.task == "bio_protocols" and parsed.status == "success"
    assert parsed.run_key == "results_json:bio-harness-2026-05-01-0007"
    assert parsed.evaluated_at == "2026-05-01T12:00:00+00:00"
    assert parsed.partial is False
    assert parsed.metrics == [
        ParsedMetric("accuracy", 0.42, 0.025, 400, None, "bio_protocols", True),
        ParsedMetric("refusal_rate", 0.1, None, 380, None, "bio_protocols", None),
    ]
    assert_json_safe(parsed)
    limited = tmp_path / "limited.json"
    limited.write_text(json.dumps(results_json_document(limit=50)))
    assert parse_log_file(limited).partial is True
    # A limit at least the dataset's size ran every sample (issue 23, observation 6).
    generous = tmp_path / "generous.json"
    generous.write_text(json.dumps(results_json_document(limit=5000)))
    assert parse_log_file(generous).partial is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rsp_results": 2}, "rsp_results"),
        ({"run_id": ""}, "run_id"),
        ({"evaluated_at": "2026-05-01T12:00:00"}, "evaluated_at"),
        ({"metrics": [{"name": "a", "value": "high"}]}, r"metrics\[0\]\.value"),
        ({"metrics": [{"name": "a", "value": 1}, {"name": "a", "value": 2}]}, "twice"),
        ({"metrics": [{"name": "a", "value": 1, "stderr": -1}]}, "stderr"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_results_json_file_names_the_field(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(results_json_document(**overrides)))

    with pytest.raises(ImportFormatError, match=message):
        parse_log_file(path)


def test_a_failed_results_json_run_gives_no_metrics() -> None:
    parsed = parse_results_json(
        json.dumps(results_json_document(status="error", error="harness crashed")).encode()
    )

    assert parsed.status == "error" and parsed.error == "harness crashed"
    assert parsed.metrics == []


def test_each_format_is_one_module_and_one_registry_entry() -> None:
    """A new format is a module in evaluations/importers/ with its reader class, an entry in
    FORMATS and a member of ImportRecord.Format (CONTRIBUTING.md, "Evidence import format")."""
    from evaluations.importers import FORMATS
    from evaluations.models import ImportRecord

    assert set(ImportRecord.Format.values) <= set(FORMATS)
    modules = [type(reader).__module__ for reader in FORMATS.values()]
    assert all(m.startswith("evaluations.importers.") for m in modules), modules
    assert len(set(modules)) == len(modules), modules
    assert all(name == reader.name for name, reader in FORMATS.items())
