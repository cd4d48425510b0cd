"""Sample counts and standard errors (issue 23, observation 7): ``n_samples`` is at least 1
wherever a result enters, and a proportion reported without a standard error takes the
binomial one from its sample count, so leaving stderr out never gives a kinder bound."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evaluations import services
from evaluations.models import EvalResult, EvidenceSummary
from tests.conftest import bearer, client_for
from tests.evaluations.test_importers import lm_eval_document
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import UPLIFT, VCT, result
from tests.governance_fixtures import settle_gates

JSON = "application/json"


def post(client: Any, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type=JSON)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_zero_samples_is_refused_by_the_api(ckpt, pipeline) -> None:
    response = post(bearer(pipeline), "/api/v1/results/", result(n_samples=0))

    assert response.status_code == 400, response.content
    assert "n_samples" in response.json()["errors"]
    assert EvalResult.objects.count() == 0


def test_zero_samples_is_refused_in_bulk_naming_the_item(ckpt, pipeline) -> None:
    body = {"results": [result(), result(n_samples=0)]}
    response = post(bearer(pipeline), "/api/v1/results/bulk/", body)

    assert response.status_code == 400, response.content
    assert "results[1].n_samples" in response.json()["errors"]
    assert EvalResult.objects.count() == 0


def test_zero_samples_is_refused_in_the_browser(ckpt, safety) -> None:
    form = {"checkpoint": "step-1000", "metric": VCT, "value": "0.2", "n_samples": "0"}
    response = client_for(safety).post("/models/atlas/results/new/", form)

    assert response.status_code == 200
    assert "n_samples" in response.context["form"].errors
    assert EvalResult.objects.count() == 0


def test_zero_samples_is_refused_on_import(tmp_path, ckpt, pipeline) -> None:
    document = lm_eval_document()
    document["n-samples"]["gsm8k"] = {"original": 0, "effective": 0}
    path = tmp_path / "results_2024-08-18T16-53-20.json"
    path.write_text(json.dumps(document))
    response = bearer(pipeline).post(
        "/api/v1/results/import/",
        {
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
            "model": "atlas",
            "checkpoint": "step-1000",
            "mapping": json.dumps({"gsm8k/exact_match,strict-match": VCT}),
        },
    )

    assert response.status_code == 400, response.content
    assert "n_samples" in json.dumps(response.json()["errors"])
    assert EvalResult.objects.count() == 0


def test_a_proportion_without_stderr_takes_the_binomial_one(ckpt, pipeline) -> None:
    item = result(value=0.3, n_samples=100)
    del item["stderr"]
    response = post(bearer(pipeline), "/api/v1/results/", item)

    assert response.status_code == 201, response.content
    stored = EvalResult.objects.get()
    assert stored.stderr == pytest.approx(math.sqrt(0.3 * 0.7 / 100))
    assert stored.stderr_derived is True
    assert response.json()["stderr_derived"] is True


def test_a_reported_stderr_is_kept_and_not_flagged(ckpt, safety) -> None:
    (stored,) = services.record_results([result(stderr=0.001)], safety, "api")

    assert (stored.stderr, stored.stderr_derived) == (0.001, False)


def test_a_metric_that_is_not_a_proportion_keeps_no_stderr(ckpt, safety) -> None:
    (stored,) = services.record_results(
        [result(metric=UPLIFT, value=3.0, stderr=None)], safety, "api"
    )

    assert (stored.stderr, stored.stderr_derived) == (None, False)


def test_lm_eval_na_stderr_is_derived_from_the_sample_count(tmp_path, ckpt, pipeline) -> None:
    path = tmp_path / "results_2024-08-18T16-53-20.json"
    path.write_text(json.dumps(lm_eval_document()))
    response = bearer(pipeline).post(
        "/api/v1/results/import/",
        {
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
            "model": "atlas",
            "checkpoint": "step-1000",
            "mapping": json.dumps({"gsm8k/exact_match,flexible-extract": VCT}),
        },
    )

    assert response.status_code == 201, response.content
    stored = EvalResult.objects.get()
    assert stored.stderr == pytest.approx(math.sqrt(0.3 * 0.7 / 1319))
    assert stored.stderr_derived is True


def test_leaving_stderr_out_never_gives_a_kinder_bound(ckpt, safety) -> None:
    """The default pack sets ``uncertainty_z``: a proportion posted without stderr is read
    (by the evidence summary the gate uses) at the same conservative bound as the same result
    with its binomial stderr reported, not at its bare value."""
    bare = result(value=0.3, n_samples=400)
    del bare["stderr"]
    services.record_results([bare], safety, "api")
    settle_gates()  # the worker folds it into the summary (ADR 0055)
    (summary,) = EvidenceSummary.objects.filter(metric_key=VCT)
    z = services.require_policy().uncertainty_z

    assert z > 0
    assert summary.best_strong_capability == pytest.approx(0.3 + z * math.sqrt(0.21 / 400))


def test_a_correction_of_a_derived_stderr_derives_it_again(ckpt, safety, rso) -> None:
    bare = result(value=0.2, n_samples=100)
    del bare["stderr"]
    (old,) = services.record_results([bare], safety, "api")
    new = services.correct_result(old, {"value": 0.1}, "re-scored", safety)

    assert new.stderr == pytest.approx(math.sqrt(0.1 * 0.9 / 100))
    assert new.stderr_derived is True


def test_a_future_dated_log_is_refused_already_at_preview(tmp_path, ckpt, pipeline) -> None:
    """Issue 23, observation 10: the preview says what the import would say."""
    document = lm_eval_document()
    document["date"] = 4_070_908_800.0  # 2099-01-01
    path = tmp_path / "results_2099-01-01T00-00-00.json"
    path.write_text(json.dumps(document))
    body = {
        "model": "atlas",
        "checkpoint": "step-1000",
        "mapping": json.dumps({"mmlu/acc,none": VCT}),
        "preview": "true",
    }
    response = bearer(pipeline).post(
        "/api/v1/results/import/",
        {"file": SimpleUploadedFile(path.name, path.read_bytes()), **body},
    )

    assert response.status_code == 400, response.content
    assert "future" in response.json()["errors"]["file"][0]
    assert "2099" in response.json()["errors"]["file"][0]
