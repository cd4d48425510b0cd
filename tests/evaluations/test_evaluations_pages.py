"""Browser pages for the evidence: access per role, forms with inline errors, the import
preview and confirm steps, corrections, and query budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from evaluations import import_service, services
from evaluations.models import EvalResult, ImportRecord, MetricMapping
from tests.conftest import client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import VCT, result
from tests.inspect_fixtures import make_inspect_log

pytestmark = pytest.mark.filterwarnings(
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning"
)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


PAGES = ["/models/", "/models/atlas/"]
FORMS = ["/models/atlas/results/new/", "/models/atlas/import/"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_evidence_view(ckpt, outsider, auditor, url) -> None:
    assert Client().get(url).status_code == 302
    assert client_for(outsider).get(url).status_code == 403
    assert client_for(auditor).get(url).status_code == 200


@pytest.mark.parametrize("url", FORMS)
def test_forms_need_evidence_report(ckpt, auditor, safety, url) -> None:
    assert Client().get(url).status_code == 302
    assert client_for(auditor).get(url).status_code == 403
    assert client_for(safety).get(url).status_code == 200


def test_correction_needs_evidence_correct(ckpt, safety, auditor, pipeline) -> None:
    (old,) = services.record_results([result()], safety, EvalResult.Source.BROWSER)
    url = f"/results/{old.pk}/correct/"
    assert Client().get(url).status_code == 302
    assert client_for(auditor).get(url).status_code == 403
    assert client_for(pipeline).get(url).status_code == 403
    assert client_for(safety).get(url).status_code == 200


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "checkpoint": "step-1000",
        "metric": VCT,
        "value": "0.2",
        "mitigation": "pre",
        "scaffold": "react",
        "tools": "python, bash",
        "safety_training_removed": "on",
    }
    data.update(overrides)
    return data


def test_a_result_logged_in_the_browser_is_stored_with_its_elicitation(ckpt, safety) -> None:
    response = client_for(safety).post("/models/atlas/results/new/", form_data())

    assert response.status_code == 302
    stored = EvalResult.objects.get()
    assert (stored.value, stored.source) == (0.2, "browser")
    assert stored.elicitation == {
        "scaffold": "react",
        "tools": ["python", "bash"],
        "safety_training_removed": True,
    }


@pytest.mark.parametrize(
    ("value", "message"), [("1.5", "outside the range"), ("nan", "Enter a number")]
)
def test_the_result_form_shows_errors_inline(ckpt, safety, value, message) -> None:
    response = client_for(safety).post("/models/atlas/results/new/", form_data(value=value))

    assert response.status_code == 200
    assert message in response.context["form"].errors["value"][0]
    assert message in response.content.decode()
    assert EvalResult.objects.count() == 0


def test_a_correction_in_the_browser_supersedes(ckpt, safety) -> None:
    (old,) = services.record_results([result()], safety, EvalResult.Source.BROWSER)
    client = client_for(safety)
    missing = client.post(f"/results/{old.pk}/correct/", {"value": "0.3"})
    assert "correction_reason" in missing.context["form"].errors

    done = client.post(
        f"/results/{old.pk}/correct/", {"value": "0.3", "correction_reason": "wrong split"}
    )

    assert done.status_code == 302
    assert list(EvalResult.objects.current().values_list("value", flat=True)) == [0.3]
    page = client.get("/models/atlas/").content.decode()
    assert "superseded" in page and "wrong split" in page


def test_import_preview_then_confirm(ckpt, safety, tmp_path) -> None:
    log = make_inspect_log(tmp_path / "logs", "json", ["4", "6", "9"])
    client = client_for(safety)

    preview = client.post(
        "/models/atlas/import/",
        {
            "step": "upload",
            "checkpoint": "step-1000",
            "file": SimpleUploadedFile(log.name, log.read_bytes()),
        },
    )

    assert preview.status_code == 200
    page = preview.content.decode()
    assert "match/accuracy" in page and "0.66" in page
    sha = preview.context["outcome"].upload.sha256
    assert (Path(import_service.imports_dir()) / sha).is_file()
    assert EvalResult.objects.count() == 0

    confirm = client.post(
        "/models/atlas/import/",
        {
            "step": "confirm",
            "sha256": sha,
            "original_name": log.name,
            "checkpoint": "step-1000",
            "map-name-0": "match/accuracy",
            "map-key-0": VCT,
        },
    )

    assert confirm.status_code == 302
    assert EvalResult.objects.get().metric_key == VCT
    assert ImportRecord.objects.get().status == "success"
    assert MetricMapping.objects.get().metric_key == VCT


def test_confirming_without_a_mapping_shows_the_preview_again(ckpt, safety, tmp_path) -> None:
    log = make_inspect_log(tmp_path / "logs", "json", ["4", "6", "8"])
    stored = import_service.store_upload(SimpleUploadedFile(log.name, log.read_bytes()))

    response = client_for(safety).post(
        "/models/atlas/import/",
        {
            "step": "confirm",
            "sha256": stored.sha256,
            "original_name": log.name,
            "checkpoint": "step-1000",
            "map-name-0": "match/accuracy",
            "map-key-0": "",
        },
    )

    assert response.status_code == 200
    assert "mapping" in response.context["errors"]
    assert EvalResult.objects.count() == 0


@pytest.mark.usefixtures("verified_trail")
def test_the_model_page_shows_indicator_status_and_triggers(ckpt, safety) -> None:
    services.record_results([result(value=0.4)], safety, EvalResult.Source.BROWSER)

    page = client_for(safety).get("/models/atlas/").content.decode()

    assert "CBRN-3" in page and 'badge warning">warning' in page  # 0.4 ≥ warning 0.35
    assert "never fully evaluated" in page
    assert "Reassessment triggers" in page


def model_page_queries(client: Client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/models/atlas/")  # warm the session
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/models/atlas/").status_code == 200
    return len(queries)


def test_the_model_page_has_a_constant_query_budget(ckpt, safety) -> None:
    # Ours: session, user, roles, titles; model; policy (version, metrics, indicators);
    # checkpoints; results; imports; triggers (checkpoints, latest result times) — plus
    # whatever the governance gate panel reads. The count must not grow with the evidence.
    client = client_for(safety)
    services.record_results([result(value=0.1)], safety, "browser")
    few = model_page_queries(client)
    services.record_results([result(value=i / 100) for i in range(60)], safety, "browser")
    for i in range(5):
        services.report_checkpoint(
            ckpt.model, name=f"c{i}", effective_compute=1e24 + i, actor=safety
        )
    (old,) = services.record_results([result()], safety, "browser")
    services.correct_result(old, {"value": 0.3}, "typo", safety)
    assert model_page_queries(client) == few
    assert few <= 25


@pytest.mark.parametrize("n", [1, 25])
def test_the_model_list_has_a_constant_query_budget(
    policy, safety, n, django_assert_num_queries
) -> None:
    for i in range(n):
        m = services.create_model(slug=f"m{i}", name=f"M{i}", actor=safety)
        services.report_checkpoint(m, name="c", effective_compute=1e20, actor=safety)
    client = client_for(safety)
    client.get("/models/")
    # Session, user (its role is a column), titles (page header); the active policy's id and
    # hash (its view of metrics and indicators is cached per version); models; triggers
    # (checkpoints, latest result times).
    with django_assert_num_queries(7):
        response = client.get("/models/")
    assert response.content.decode().count('badge warning">due') == n


def _upload_preview(client: Client, path: Path) -> Any:
    return client.post(
        "/models/atlas/import/",
        {
            "step": "upload",
            "checkpoint": "step-1000",
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
        },
    )


def test_the_preview_shows_the_date_the_partial_flag_and_the_mapping_origin(
    ckpt, safety, tmp_path
) -> None:
    client = client_for(safety)
    first = make_inspect_log(tmp_path / "a", "json", ["4", "6", "9"], limit=2)
    import_service.import_log(
        SimpleUploadedFile(first.name, first.read_bytes()),
        model="atlas",
        checkpoint="step-1000",
        mapping={"match/accuracy": VCT},
        actor=safety,
    )
    second = make_inspect_log(tmp_path / "b", "json", ["4", "6", "9"], limit=2)

    page = _upload_preview(client, second).content.decode()

    assert "partial run" in page and "sample limit 2" in page
    parsed = import_service.parse_log_file(second)
    assert parsed.evaluated_at is not None and parsed.evaluated_at in page
    assert "remembered for task <code>tiny_arithmetic</code> by safety" in page


def test_a_direction_conflict_is_imported_only_with_the_checkbox(ckpt, safety, tmp_path) -> None:
    import json

    from tests.evaluations.test_importers import lm_eval_document

    document = lm_eval_document()
    document["results"]["wikitext"] = {"alias": "wikitext", "word_perplexity,none": 0.4}
    document["higher_is_better"]["wikitext"] = {"word_perplexity": False}
    path = tmp_path / "results_2024-08-18T16-53-20.json"
    path.write_text(json.dumps(document))
    client = client_for(safety)
    preview = _upload_preview(client, path)
    names = [row.source_name for row in preview.context["outcome"].rows]
    index = names.index("wikitext/word_perplexity,none")
    assert "confirm_direction" in preview.content.decode()
    form = {
        "step": "confirm",
        "sha256": preview.context["outcome"].upload.sha256,
        "original_name": path.name,
        "checkpoint": "step-1000",
        **{f"map-name-{i}": name for i, name in enumerate(names)},
        f"map-key-{index}": VCT,
    }

    refused = client.post("/models/atlas/import/", form)
    confirmed = client.post("/models/atlas/import/", {**form, "confirm_direction": "on"})

    assert refused.status_code == 200
    assert "confirm_direction" in refused.context["errors"]
    assert confirmed.status_code == 302
    assert EvalResult.objects.get().provenance["direction_confirmed"] is True


def test_a_failed_log_confirmed_in_the_browser_is_a_warning(ckpt, safety, tmp_path) -> None:
    log = make_inspect_log(tmp_path / "f", "eval", ["4", "6", "9"], fail=True)
    client = client_for(safety)
    preview = _upload_preview(client, log)

    done = client.post(
        "/models/atlas/import/",
        {
            "step": "confirm",
            "sha256": preview.context["outcome"].upload.sha256,
            "original_name": log.name,
            "checkpoint": "step-1000",
        },
        follow=True,
    )

    assert ImportRecord.objects.get().status == "error"
    [message] = list(done.context["messages"])
    assert message.level_tag == "warning" and "gives no results" in message.message
