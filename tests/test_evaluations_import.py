"""Importing real Inspect AI logs and lm-eval results as evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from inspect_ai.log import read_eval_log

from audit.models import AuditEntry
from evaluations import imports
from evaluations.models import EvalResult, ImportRecord, MetricMapping
from tests.conftest import bearer
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import UPLIFT, VCT
from tests.inspect_fixtures import FAIL_MESSAGE, make_inspect_log
from tests.test_importers import lm_eval_document

pytestmark = pytest.mark.filterwarnings(
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning"
)
OUTPUTS = ["4", "6", "9"]  # accuracy 2/3 under match()


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("evidence_logs")
    return {
        "eval": make_inspect_log(base / "e", "eval", OUTPUTS),
        "json": make_inspect_log(base / "j", "json", OUTPUTS),
        "failed": make_inspect_log(base / "f", "eval", OUTPUTS, fail=True),
    }


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def post_import(client: Any, path: Path, **fields: Any) -> Any:
    data = {"model": "atlas", "checkpoint": "step-1000", **fields}
    if isinstance(data.get("mapping"), dict):
        data["mapping"] = json.dumps(data["mapping"])
    return client.post("/api/v1/results/import/", {"file": upload(path), **data})


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_an_inspect_log_imports_the_header_values(logs, fmt, ckpt, pipeline) -> None:
    header = read_eval_log(str(logs[fmt]), header_only=True)
    score = header.results.scores[0]

    response = post_import(bearer(pipeline), logs[fmt], mapping={"match/accuracy": VCT})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["record"]["eval_id"] == header.eval.eval_id
    assert body["record"]["status"] == "success"
    [result] = EvalResult.objects.all()
    assert result.value == score.metrics["accuracy"].value == pytest.approx(2 / 3)
    assert result.stderr == score.metrics["stderr"].value
    assert result.n_samples == 3
    assert result.metric_key == VCT
    assert result.source == EvalResult.Source.IMPORT
    assert result.provenance["eval_id"] == header.eval.eval_id
    assert result.provenance["source_metric"] == "match/accuracy"
    assert result.provenance["import_id"] == body["record"]["id"]
    assert AuditEntry.objects.filter(action="result.create", model_slug="atlas").count() == 1
    assert AuditEntry.objects.filter(action="import.create").count() == 1
    # Kept for later imports.
    assert MetricMapping.objects.get(source_name="match/accuracy").metric_key == VCT


def test_reimporting_the_same_log_is_idempotent(logs, ckpt, pipeline) -> None:
    client = bearer(pipeline)
    first = post_import(client, logs["eval"], mapping={"match/accuracy": VCT})
    again = post_import(client, logs["eval"])  # the mapping is remembered

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["already_imported"] is True
    assert "Already imported" in again.json()["detail"]
    assert again.json()["record"]["id"] == first.json()["record"]["id"]
    assert EvalResult.objects.count() == 1
    assert ImportRecord.objects.count() == 1


def test_the_same_eval_id_in_another_file_is_already_imported(logs, ckpt, safety, tmp_path):
    imports.import_log(
        upload(logs["eval"]),
        model="atlas",
        checkpoint="step-1000",
        mapping={"match/accuracy": VCT},
        actor=safety,
    )
    # The same evaluation rewritten as a .json file has another hash but the same eval_id.
    from inspect_ai.log import write_eval_log

    log = read_eval_log(str(logs["eval"]))
    copy = tmp_path / "copy.json"
    write_eval_log(log, str(copy), format="json")

    outcome = imports.import_log(upload(copy), model="atlas", checkpoint="step-1000", actor=safety)

    assert outcome.already_imported
    assert EvalResult.objects.count() == 1


def test_a_failed_run_is_recorded_with_its_error_and_gives_no_results(logs, ckpt, pipeline):
    response = post_import(bearer(pipeline), logs["failed"], mapping={"match/accuracy": VCT})

    assert response.status_code == 201, response.json()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.ERROR
    assert FAIL_MESSAGE in record.error
    assert record.results_created == 0
    assert EvalResult.objects.count() == 0
    assert response.json()["results"] == []


def test_preview_writes_nothing_and_shows_the_mapping(logs, ckpt, safety) -> None:
    before = AuditEntry.objects.count()
    outcome = imports.import_log(
        upload(logs["json"]),
        model="atlas",
        checkpoint="step-1000",
        mapping={"match/accuracy": VCT},
        actor=safety,
        preview=True,
    )

    assert [(r.source_name, r.metric_key) for r in outcome.rows] == [("match/accuracy", VCT)]
    assert outcome.rows[0].value == pytest.approx(2 / 3)
    assert (Path(imports.imports_dir()) / outcome.upload.sha256).is_file()
    assert EvalResult.objects.count() == ImportRecord.objects.count() == 0
    assert MetricMapping.objects.count() == 0
    assert AuditEntry.objects.count() == before


def test_an_unmapped_log_is_refused_naming_its_metrics(logs, ckpt, pipeline) -> None:
    response = post_import(bearer(pipeline), logs["json"])

    assert response.status_code == 400
    assert "match/accuracy" in response.json()["errors"]["mapping"][0]
    assert ImportRecord.objects.count() == 0


def test_a_mapping_to_an_unknown_metric_lists_the_valid_keys(logs, ckpt, pipeline) -> None:
    response = post_import(bearer(pipeline), logs["json"], mapping={"match/accuracy": "nope"})

    assert response.status_code == 400
    [message] = response.json()["errors"]["mapping.match/accuracy"]
    assert VCT in message and UPLIFT in message
    assert EvalResult.objects.count() == 0


def test_import_into_a_checkpoint_of_another_model_is_refused(logs, ckpt, other_ckpt, pipeline):
    response = post_import(
        bearer(pipeline), logs["json"], checkpoint="b-only", mapping={"match/accuracy": VCT}
    )

    assert response.status_code == 400
    assert "checkpoint" in response.json()["errors"]
    assert EvalResult.objects.count() == 0


def write_lm_eval(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "results_2024-08-18T16-53-20.123456.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_lm_eval_results_with_groups_and_na_import(tmp_path, ckpt, pipeline) -> None:
    path = write_lm_eval(tmp_path, lm_eval_document())
    mapping = {"mmlu/acc,none": VCT, "gsm8k/exact_match,flexible-extract": UPLIFT}

    response = post_import(bearer(pipeline), path, mapping=mapping)

    assert response.status_code == 201, response.json()
    values = {r.metric_key: r for r in EvalResult.objects.all()}
    assert values[VCT].value == 0.55  # the mmlu group aggregate, `acc,none`
    assert values[VCT].stderr == 0.004  # `acc_stderr,none`
    assert values[VCT].n_samples == 700  # the group's sample_count
    assert values[UPLIFT].value == 0.3
    assert values[UPLIFT].stderr is None  # "N/A"
    record = ImportRecord.objects.get()
    assert record.format == "lm_eval" and record.eval_id is None
    assert values[VCT].provenance["file_sha256"] == record.file_sha256


def test_an_lm_eval_metric_with_na_value_cannot_be_mapped(tmp_path, ckpt, pipeline) -> None:
    document = lm_eval_document()
    document["results"]["gsm8k"]["exact_match,strict-match"] = "N/A"
    path = write_lm_eval(tmp_path, document)

    response = post_import(bearer(pipeline), path, mapping={"gsm8k/exact_match,strict-match": VCT})

    assert response.status_code == 400
    assert "N/A" in response.json()["errors"]["mapping.gsm8k/exact_match,strict-match"][0]
    assert EvalResult.objects.count() == 0


def test_a_file_that_is_not_a_log_is_a_400_on_file(tmp_path, ckpt, pipeline) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"hello": 1}')

    response = post_import(bearer(pipeline), path)

    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_an_import_too_large_is_a_413(tmp_path, ckpt, pipeline, settings) -> None:
    settings.MAX_IMPORT_BYTES = 1024
    path = write_lm_eval(tmp_path, lm_eval_document())

    response = post_import(bearer(pipeline), path, mapping={"mmlu/acc,none": VCT})

    assert response.status_code == 413
    assert "file" in response.json()["errors"]
    assert ImportRecord.objects.count() == 0
