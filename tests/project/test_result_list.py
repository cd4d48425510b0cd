"""The results list's short cuts give the answer of the long way: the rows the serializer
would give, django-filter's filters without a FilterSet per request, DRF's times without a
field per row, one queryset copied per request, and ``is_current`` per row shown (ADR 0054).
Its query count is asserted with the evidence API's (tests/evaluations/test_evaluations_api.py)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from django.utils import timezone

from evaluations.models import EvalResult
from tests.conftest import bearer
from tests.governance_fixtures import activate_default_policy, make_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def test_the_result_list_rows_are_the_serializers_representation(pipeline):
    from evaluations import services as evidence
    from evaluations.api.serializers import RESULT_VALUES, EvalResultSerializer, result_rows
    from evaluations.api.views import result_queryset

    activate_default_policy()
    model = make_model()
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    evidence.record_results(
        [
            {**item, "value": 0.25, "stderr": 0.01, "n_samples": 200, "notes": "é ✓"},
            {**item, "value": 1, "evaluated_at": "2026-01-02T03:04:05.678901+02:00"},
            {**item, "value": 0.5, "partial": True, "mitigation": "post",
             "elicitation": {"attempts": 3}, "evidence_url": "https://evidence.example/r"},
        ],
        pipeline,
        EvalResult.Source.API,
        provenance={"eval_id": "e-1"},
    )  # fmt: skip
    old = EvalResult.objects.order_by("pk").first()
    assert old is not None
    evidence.correct_result(old, {"value": 0.3}, "typo", None, source=EvalResult.Source.API)
    expected = [dict(row) for row in EvalResultSerializer(result_queryset(), many=True).data]
    assert result_rows(list(result_queryset().values(*RESULT_VALUES))) == expected
    assert {row["current"] for row in expected} == {True, False}
    assert {row["submitted_by"] for row in expected} == {pipeline.username, None}
    client = bearer(pipeline)
    listed = client.get(f"/api/v1/results/?model={model.slug}&current=false").json()
    assert [row["id"] for row in listed["results"]] == [old.pk]
    current = client.get(f"/api/v1/results/?model={model.slug}&current=true").json()
    assert old.pk not in [row["id"] for row in current["results"]] and current["count"] == 3
    # Whether a row is current: a scalar subquery run per row shown, not an EXISTS (which
    # PostgreSQL ran as a hash over every result's ``supersedes``, on every page).
    sql = str(result_queryset().query)
    assert "EXISTS" not in sql and "IS NULL" in sql


RESULT_QUERIES = [
    "",
    "model=atlas",
    "model=+atlas+&metric=cbrn.vct_accuracy",
    "model=nobody",
    "checkpoint=ckpt-1&current=true",
    "current=false",
    "current=0",
    "current=maybe",
    "source=api",
    "source=bogus",
    "source=",
    "model=a%00b",
    "metric=x&metric=cbrn.vct_accuracy",
]


@pytest.mark.parametrize("query", RESULT_QUERIES)
def test_the_result_list_filters_as_django_filter_does(pipeline, query, monkeypatch):
    from django_filters.rest_framework import DjangoFilterBackend

    from evaluations import services as evidence
    from evaluations.api.views import ResultList

    activate_default_policy()
    model = make_model()
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    evidence.record_results(
        [{**item, "value": 0.25}, {**item, "metric": "cyber.ctf_solve_rate", "value": 0.3}],
        pipeline,
        EvalResult.Source.API,
    )
    client = bearer(pipeline)
    fast = client.get(f"/api/v1/results/?{query}")
    monkeypatch.setattr(ResultList, "filter_backends", [DjangoFilterBackend])
    slow = client.get(f"/api/v1/results/?{query}")
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)


def test_the_result_list_builds_no_filterset_per_request(pipeline, monkeypatch):
    from evaluations.api.views import ResultFilter

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a FilterSet was built")

    monkeypatch.setattr(ResultFilter, "__init__", refuse)
    response = bearer(pipeline).get("/api/v1/results/?source=bogus")
    assert response.status_code == 400
    assert "source" in response.json()["errors"]


def test_the_result_list_copies_one_queryset_and_never_runs_it(pipeline, monkeypatch):
    """The list's queryset is built once per process and copied per request: a request's
    filters and page never reach the template, and the template is never run."""
    from evaluations.api import views

    activate_default_policy()
    make_model()
    template = views._results_template()
    built = views.result_queryset()
    assert built is not template and str(built.query) == str(template.query)
    client = bearer(pipeline)
    assert client.get("/api/v1/results/?model=atlas&current=true").status_code == 200
    assert client.get("/api/v1/results/?source=api").status_code == 200
    assert views._results_template() is template
    assert template._result_cache is None and str(template.query) == str(built.query)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the results queryset was built again")

    monkeypatch.setattr(EvalResult.objects, "for_display", refuse)
    assert client.get("/api/v1/results/").status_code == 200


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_the_result_list_times_are_drfs_without_a_field_per_row(pipeline, zone, monkeypatch):
    from datetime import datetime, timedelta
    from datetime import timezone as dt_timezone

    from rest_framework.fields import DateTimeField

    from evaluations.api.serializers import RESULT_VALUES, result_rows

    moments = [
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, tzinfo=dt_timezone(timedelta(hours=-5))),
    ]
    with timezone.override(zone):
        expected = [DateTimeField().to_representation(m) for m in moments]
        monkeypatch.setattr(DateTimeField, "enforce_timezone", None)  # not called per row
        row = dict.fromkeys(RESULT_VALUES, None) | {
            "value": 1, "partial": False, "is_current": True,
        }  # fmt: skip
        got = [result_rows([row | {"recorded_at": m}])[0]["recorded_at"] for m in moments]
    assert got == expected
