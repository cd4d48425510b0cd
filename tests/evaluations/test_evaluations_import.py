"""Importing real Inspect AI logs and lm-eval results as evidence."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from inspect_ai.log import read_eval_log

from audit.models import AuditEntry
from evaluations import import_service
from evaluations.models import EvalResult, ImportRecord, MetricMapping
from tests.conftest import bearer, client_for
from tests.evaluations.test_importers import lm_eval_document
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import UPLIFT, VCT
from tests.inspect_fixtures import FAIL_MESSAGE, make_inspect_log

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
    import_service.import_log(
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

    outcome = import_service.import_log(
        upload(copy), model="atlas", checkpoint="step-1000", actor=safety
    )

    assert outcome.already_imported
    assert EvalResult.objects.count() == 1


def test_a_failed_run_is_recorded_with_its_error_and_gives_no_results(logs, ckpt, pipeline):
    response = post_import(bearer(pipeline), logs["failed"], mapping={"match/accuracy": VCT})

    # Not 201: no client may read a failed run as created results (`curl -f` fails on 422).
    assert response.status_code == 422, response.json()
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.ERROR
    assert FAIL_MESSAGE in record.error
    assert record.results_created == 0
    assert EvalResult.objects.count() == 0
    assert response.json()["results"] == []


def test_preview_writes_nothing_and_shows_the_mapping(logs, ckpt, safety) -> None:
    before = AuditEntry.objects.count()
    outcome = import_service.import_log(
        upload(logs["json"]),
        model="atlas",
        checkpoint="step-1000",
        mapping={"match/accuracy": VCT},
        actor=safety,
        preview=True,
    )

    assert [(r.source_name, r.metric_key) for r in outcome.rows] == [("match/accuracy", VCT)]
    assert outcome.rows[0].value == pytest.approx(2 / 3)
    assert (Path(import_service.imports_dir()) / outcome.upload.sha256).is_file()
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


# --- Issue 11 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def more_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from inspect_ai import Epochs

    from tests.inspect_fixtures import includes

    base = tmp_path_factory.mktemp("issue11_logs")
    ten = [str(2 * i) for i in range(10)]
    return {
        # A bio log and an unrelated task, both scored by includes().
        "bio": make_inspect_log(
            base / "b", "eval", OUTPUTS, scorer=includes(), task_name="bio_vct"
        ),
        "geo": make_inspect_log(
            base / "g",
            "eval",
            [ten[0], *["nowhere"] * 9],
            targets=ten,
            scorer=includes(),
            task_name="geography_trivia",
        ),
        "epochs": make_inspect_log(base / "ep", "eval", OUTPUTS, epochs=Epochs(3, ["mean", "max"])),
        "limited": make_inspect_log(base / "lim", "eval", OUTPUTS, limit=2),
        "cancelled": _cancelled(base / "c", make_inspect_log(base / "c0", "json", OUTPUTS)),
    }


def _cancelled(directory: Path, source: Path) -> Path:
    from inspect_ai.log import write_eval_log

    log = read_eval_log(str(source))
    log.status = "cancelled"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cancelled.json"
    write_eval_log(log, str(path), format="json")
    return path


def _gate(client: Any, slug: str) -> dict[str, Any]:
    body = client.get(f"/api/v1/models/{slug}/gate/").json()
    return {key: body.get(key) for key in ("state", "reasons", "determinations")}


def test_a_mapping_is_remembered_for_its_task_only(more_logs, ckpt, other_ckpt, safety, pipeline):
    # Observation 1: a safety user maps the bio log's includes/accuracy ...
    safety_client = client_for(safety)
    first = post_import(safety_client, more_logs["bio"], mapping={"includes/accuracy": VCT})
    assert first.status_code == 201, first.json()
    mapping = MetricMapping.objects.get()
    assert (mapping.format, mapping.task, mapping.source_name) == (
        "inspect",
        "bio_vct",
        "includes/accuracy",
    )
    gate_before = _gate(safety_client, "borealis")

    # ... then a pipeline imports an unrelated task's log into another model, with no mapping.
    response = post_import(
        bearer(pipeline), more_logs["geo"], model="borealis", checkpoint="b-only"
    )

    assert response.status_code == 400, response.json()
    assert "includes/accuracy" in response.json()["errors"]["mapping"][0]
    assert not EvalResult.objects.filter(model__slug="borealis").exists()
    assert EvalResult.objects.filter(metric_key=VCT).count() == 1
    assert _gate(safety_client, "borealis") == gate_before
    preview = post_import(
        bearer(pipeline), more_logs["geo"], model="borealis", checkpoint="b-only", preview="1"
    ).json()
    [row] = preview["metrics"]
    assert row["metric_key"] is None and row["value"] == pytest.approx(0.1)
    # The bio mapping is shown for what it is, and not applied.
    assert row["other_tasks"] == [{"task": "bio_vct", "metric": VCT}]


def test_the_preview_says_where_each_mapping_comes_from(more_logs, ckpt, safety) -> None:
    post_import(client_for(safety), more_logs["bio"], mapping={"includes/accuracy": VCT})
    copy = read_eval_log(str(more_logs["bio"]))
    from inspect_ai.log import write_eval_log

    copy.eval.eval_id = "another-run-of-the-same-task"
    path = more_logs["bio"].parent / "rerun.json"
    write_eval_log(copy, str(path), format="json")

    body = post_import(client_for(safety), path, preview="true").json()

    [row] = body["metrics"]
    assert row["metric_key"] == VCT
    assert row["origin"] == "remembered"
    assert row["remembered_by"] == "safety"
    assert row["task"] == "bio_vct"


def test_an_empty_value_opts_a_source_out_for_that_import(tmp_path, ckpt, pipeline) -> None:
    client = bearer(pipeline)
    first = write_lm_eval(tmp_path, lm_eval_document())
    mapping = {"gsm8k/exact_match,strict-match": UPLIFT, "mmlu/acc,none": VCT}
    assert post_import(client, first, mapping=mapping).status_code == 201
    # A later run where the remembered gsm8k source has no value (N/A).
    document = lm_eval_document()
    document["date"] = 1724100000.0
    document["results"]["gsm8k"]["exact_match,strict-match"] = "N/A"
    later = tmp_path / "later"
    later.mkdir()
    path = write_lm_eval(later, document)

    refused = post_import(client, path)
    opted_out = post_import(client, path, mapping={"gsm8k/exact_match,strict-match": ""})

    assert refused.status_code == 400
    assert opted_out.status_code == 201, opted_out.json()
    assert [r["metric"] for r in opted_out.json()["results"]] == [VCT]
    # Opting out is for that import: the remembered mapping stays.
    assert MetricMapping.objects.get(source_name="gsm8k/exact_match,strict-match").metric_key == (
        UPLIFT
    )


def test_epochs_with_two_reducers_import_the_chosen_reducer(more_logs, ckpt, pipeline) -> None:
    response = post_import(
        bearer(pipeline), more_logs["epochs"], mapping={"match[max]/accuracy": VCT}
    )

    assert response.status_code == 201, response.json()
    [result] = EvalResult.objects.all()
    assert result.provenance["source_metric"] == "match[max]/accuracy"
    assert "match[mean]/accuracy" in response.json()["unmapped"]


def test_the_same_lm_eval_results_with_other_bytes_are_already_imported(
    tmp_path, ckpt, pipeline
) -> None:
    client = bearer(pipeline)
    path = write_lm_eval(tmp_path, lm_eval_document())
    first = post_import(client, path, mapping={"mmlu/acc,none": VCT})
    path.write_text(path.read_text() + " ")  # one trailing space

    again = post_import(client, path)

    assert first.status_code == 201
    assert again.status_code == 200, again.json()
    assert again.json()["already_imported"] is True
    assert EvalResult.objects.count() == 1


def test_a_metric_whose_direction_contradicts_needs_confirmation(tmp_path, ckpt, pipeline) -> None:
    document = lm_eval_document()
    document["results"]["wikitext"] = {"alias": "wikitext", "word_perplexity,none": 0.4}
    document["higher_is_better"]["wikitext"] = {"word_perplexity": False}
    path = write_lm_eval(tmp_path, document)
    client = bearer(pipeline)

    refused = post_import(client, path, mapping={"wikitext/word_perplexity,none": VCT})
    confirmed = post_import(
        client,
        path,
        mapping={"wikitext/word_perplexity,none": VCT},
        confirm_direction="true",
    )

    assert refused.status_code == 400
    [message] = refused.json()["errors"]["confirm_direction"]
    assert "higher_is_better" in message and "wikitext/word_perplexity,none" in message
    assert confirmed.status_code == 201, confirmed.json()
    assert confirmed.json()["results"][0]["provenance"]["direction_confirmed"] is True


def test_a_failed_log_is_recorded_and_answered_422(logs, more_logs, ckpt, pipeline) -> None:
    client = bearer(pipeline)
    failed = post_import(client, logs["failed"], mapping={"match/accuracy": VCT})
    cancelled = post_import(client, more_logs["cancelled"], mapping={"match/accuracy": VCT})
    again = post_import(client, logs["failed"])

    for response, status in ((failed, "error"), (cancelled, "cancelled")):
        assert response.status_code == 422, response.json()
        body = response.json()
        assert body["status"] == status
        assert body["results"] == []
        assert status in body["errors"]["file"][0]
        assert body["record"]["status"] == status
    assert again.status_code == 422
    assert ImportRecord.objects.count() == 2
    assert EvalResult.objects.count() == 0


def test_already_imported_names_the_model_checkpoint_and_import(
    logs, ckpt, other_ckpt, pipeline
) -> None:
    client = bearer(pipeline)
    first = post_import(client, logs["eval"], mapping={"match/accuracy": VCT})
    again = post_import(client, logs["eval"])
    elsewhere = post_import(client, logs["eval"], model="borealis", checkpoint="b-only")

    record_id = first.json()["record"]["id"]
    detail = again.json()["detail"]
    assert "atlas" in detail and "step-1000" in detail and f"#{record_id}" in detail
    assert elsewhere.status_code == 409
    [message] = elsewhere.json()["errors"]["file"]
    assert "atlas" in message and "step-1000" in message
    assert EvalResult.objects.count() == 1


def test_results_carry_the_log_date_and_the_partial_flag(more_logs, ckpt, pipeline) -> None:
    header = read_eval_log(str(more_logs["limited"]), header_only=True)
    client = bearer(pipeline)

    preview = post_import(
        client, more_logs["limited"], mapping={"match/accuracy": VCT}, preview="true"
    ).json()
    response = post_import(client, more_logs["limited"], mapping={"match/accuracy": VCT})

    assert preview["partial"] is True
    assert preview["evaluated_at"] is not None
    assert response.status_code == 201, response.json()
    [result] = EvalResult.objects.all()
    assert result.partial is True
    from datetime import datetime

    assert result.evaluated_at == datetime.fromisoformat(header.stats.completed_at)


def test_lm_eval_date_and_limit_set_the_result(tmp_path, ckpt, pipeline) -> None:
    path = write_lm_eval(tmp_path, lm_eval_document(stem_effective=50, limit=50))

    response = post_import(bearer(pipeline), path, mapping={"mmlu/acc,none": VCT})

    assert response.status_code == 201, response.json()
    [result] = EvalResult.objects.all()
    assert result.partial is True
    assert result.evaluated_at.isoformat() == "2024-08-18T16:53:20+00:00"


def test_a_grouped_metric_imports_its_stderr(tmp_path, ckpt, pipeline, monkeypatch) -> None:
    from inspect_ai.scorer import Score, Target, accuracy, grouped, scorer, stderr
    from inspect_ai.solver import TaskState

    import tests.inspect_fixtures as fixtures
    from tests.evaluations.test_importers import _with_category

    @scorer(metrics=[grouped(accuracy(), "category"), stderr()])
    def by_category() -> Any:
        async def score(state: TaskState, target: Target) -> Score:
            return Score(value=1 if state.output.completion.strip() == target.text else 0)

        return score

    monkeypatch.setattr(fixtures, "MemoryDataset", _with_category(OUTPUTS))
    path = make_inspect_log(tmp_path, "eval", OUTPUTS, scorer=by_category())

    response = post_import(bearer(pipeline), path, mapping={"by_category/all": VCT})

    assert response.status_code == 201, response.json()
    assert EvalResult.objects.get().stderr is not None


def results_json(tmp_path: Path, **overrides: Any) -> Path:
    from tests.evaluations.test_importer_results_json import results_json_document

    path = tmp_path / "harness.json"
    path.write_text(json.dumps(results_json_document(**overrides)))
    return path


def test_a_results_json_file_imports_with_mapping_and_idempotency(tmp_path, ckpt, pipeline):
    client = bearer(pipeline)
    path = results_json(tmp_path)
    first = post_import(client, path, mapping={"accuracy": VCT})
    path.write_text(path.read_text() + "\n")
    again = post_import(client, path)

    assert first.status_code == 201, first.json()
    assert again.status_code == 200 and again.json()["already_imported"] is True
    [result] = EvalResult.objects.all()
    assert result.value == 0.42 and result.stderr == 0.025
    assert result.evaluated_at.isoformat() == "2026-05-01T12:00:00+00:00"
    assert ImportRecord.objects.get().format == "results_json"
    assert MetricMapping.objects.get().task == "bio_protocols"


def test_mappings_are_listed_over_the_api(more_logs, ckpt, safety, outsider) -> None:
    post_import(client_for(safety), more_logs["bio"], mapping={"includes/accuracy": VCT})

    response = client_for(safety).get("/api/v1/mappings/", {"metric": VCT})

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row == {
        "format": "inspect",
        "task": "bio_vct",
        "source_name": "includes/accuracy",
        "metric": VCT,
        "updated_by": "safety",
        "updated_at": row["updated_at"],
    }
    assert Client().get("/api/v1/mappings/").status_code == 401
    assert client_for(outsider).get("/api/v1/mappings/").status_code == 403


def test_mappings_are_listed_on_a_page_per_metric(more_logs, ckpt, safety, outsider) -> None:
    post_import(client_for(safety), more_logs["bio"], mapping={"includes/accuracy": VCT})

    page = client_for(safety).get(f"/metrics/{VCT}/mappings/")

    assert page.status_code == 200
    assert b"bio_vct" in page.content and b"includes/accuracy" in page.content
    assert Client().get(f"/metrics/{VCT}/mappings/").status_code == 302
    assert client_for(outsider).get(f"/metrics/{VCT}/mappings/").status_code == 403


def test_a_preview_upload_is_pruned_after_a_day_and_imports_after_retention(
    logs, ckpt, safety, settings
) -> None:
    import os
    import time

    from evaluations.tasks import prune_imports

    settings.IMPORT_FILE_RETENTION_DAYS = 30
    preview = import_service.import_log(
        upload(logs["json"]), model="atlas", checkpoint="step-1000", actor=safety, preview=True
    )
    done = import_service.import_log(
        upload(logs["eval"]),
        model="atlas",
        checkpoint="step-1000",
        mapping={"match/accuracy": VCT},
        actor=safety,
    )
    preview_path = import_service.imports_dir() / preview.upload.sha256
    done_path = import_service.imports_dir() / done.upload.sha256
    two_days_ago = time.time() - 2 * 86400
    for path in (preview_path, done_path):
        os.utime(path, (two_days_ago, two_days_ago))

    prune_imports()

    assert not preview_path.exists()
    assert done_path.exists()  # kept within the retention period
    long_ago = time.time() - 31 * 86400
    os.utime(done_path, (long_ago, long_ago))
    prune_imports()
    assert not done_path.exists()
    assert ImportRecord.objects.get().file_sha256 == done.upload.sha256  # the hash stays


@pytest.mark.skipif(
    not os.environ.get("RSP_SLOW_TESTS"),
    reason="generating a 5,000-sample Inspect log takes minutes: set RSP_SLOW_TESTS=1 "
    "(server time is measured by bench/import_inspect.py)",
)
@pytest.mark.timeout(900)
def test_a_5000_sample_eval_log_imports(tmp_path, ckpt, pipeline) -> None:
    answers = [str(2 * i) for i in range(5000)]
    answers[0] = "wrong"
    path = make_inspect_log(tmp_path, "eval", answers, targets=[str(2 * i) for i in range(5000)])

    response = post_import(bearer(pipeline), path, mapping={"match/accuracy": VCT})

    assert response.status_code == 201, response.json()
    [result] = EvalResult.objects.all()
    assert result.n_samples == 5000
    assert result.value == pytest.approx(4999 / 5000)
    assert result.partial is False


@pytest.mark.parametrize("n", [2, 40])
def test_the_mapping_list_and_page_have_constant_query_budgets(
    policy, safety, n, django_assert_num_queries
) -> None:
    for i in range(n):
        MetricMapping.objects.create(
            format="inspect",
            task=f"task{i}",
            source_name="match/accuracy",
            metric_key=VCT,
            updated_by=safety,
        )
    client = client_for(safety)
    client.get("/api/v1/mappings/")  # warm the session
    # Session, user (its role is a column); count; one page with the updater joined.
    with django_assert_num_queries(4):
        response = client.get("/api/v1/mappings/", {"metric": VCT})
    assert response.json()["count"] == n
    client.get(f"/metrics/{VCT}/mappings/")
    # Session, user, roles; the policy's metrics (3); the mappings with their updater.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as page_queries:
        assert client.get(f"/metrics/{VCT}/mappings/").status_code == 200
    assert len(page_queries) <= 10


def test_a_token_import_leaves_other_sources_unmapped_and_says_so(tmp_path, ckpt, pipeline):
    from tests.inspect_fixtures import includes, match

    path = make_inspect_log(tmp_path, "eval", OUTPUTS, scorer=[match(), includes()])
    client = bearer(pipeline)

    response = post_import(client, path, mapping={"match/accuracy": VCT})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["unmapped"] == ["includes/accuracy"]
    assert "left unmapped: includes/accuracy" in body["detail"]
    entry = AuditEntry.objects.get(action="mapping.set")
    data = entry.parsed["data"]
    assert data["task"] == "tiny_arithmetic" and data["metric"] == VCT


def test_a_started_log_is_422_and_the_finished_log_imports_later(logs, ckpt, pipeline, tmp_path):
    import zipfile

    started = tmp_path / "in_progress.eval"
    with zipfile.ZipFile(logs["eval"]) as src, zipfile.ZipFile(started, "w") as dst:
        for name in src.namelist():
            if name.startswith("_journal/start"):
                dst.writestr(name, src.read(name))
    client = bearer(pipeline)

    early = post_import(client, started, mapping={"match/accuracy": VCT})
    finished = post_import(client, logs["eval"], mapping={"match/accuracy": VCT})

    assert early.status_code == 422, early.json()
    assert early.json()["status"] == "started"
    assert finished.status_code == 201, finished.json()
    assert sorted(ImportRecord.objects.values_list("status", flat=True)) == ["started", "success"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_first_imports_of_one_task_remember_its_mapping_once(tmp_path, ckpt, safety):
    """Two imports of one task, each the first to map it, meet at the mapping's INSERT.

    Each runs in an audit batch (``audit.batch()`` takes the log-head lock only at the end, so
    it no longer serialises the two). Both have looked the mapping up and found none; each then
    waits at a barrier just before inserting it, so the second INSERT always meets the first's
    uncommitted row and, once that commits, the unique constraint."""
    import threading

    from django.db import connection, connections, transaction

    import audit

    paths = [make_inspect_log(tmp_path / name, "eval", OUTPUTS) for name in ("a", "b")]
    barrier = threading.Barrier(2, timeout=60)
    failures: list[BaseException] = []

    def meet_before_the_insert(execute: Any, sql: str, params: Any, many: bool, context: Any):
        if sql.startswith('INSERT INTO "evaluations_metricmapping"'):
            barrier.wait()
        return execute(sql, params, many, context)

    def first_import(path: Path) -> None:
        try:
            with (
                connection.execute_wrapper(meet_before_the_insert),
                transaction.atomic(),
                audit.batch(),
            ):
                import_service.import_log(
                    upload(path),
                    model="atlas",
                    checkpoint="step-1000",
                    mapping={"match/accuracy": VCT},
                    actor=safety,
                )
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_import, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert ImportRecord.objects.count() == 2
    assert EvalResult.objects.count() == 2
    assert MetricMapping.objects.get(source_name="match/accuracy").metric_key == VCT
    assert AuditEntry.objects.filter(action="mapping.set").count() == 1
