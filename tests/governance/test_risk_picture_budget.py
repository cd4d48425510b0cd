"""Query budgets of the risk-picture pages: fixed whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from evaluations.models import Checkpoint, EvalResult
from governance import services
from tests.conftest import client_for
from tests.governance_fixtures import BELOW, activate_default_policy, make_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _grow(model, checkpoints: int, results: int, prefix: str = "c") -> None:
    """``checkpoints`` checkpoints and ``results`` results spread over them and the metrics."""
    with transaction.atomic():
        ckpts = Checkpoint.objects.bulk_create(
            Checkpoint(model=model, name=f"{prefix}{i}", effective_compute=1e23 * (1.1**i))
            for i in range(checkpoints)
        )
        metrics = sorted(BELOW)
        EvalResult.objects.bulk_create(
            EvalResult(
                model=model,
                checkpoint=ckpts[i % len(ckpts)],
                metric_key=metrics[i % len(metrics)],
                value=BELOW[metrics[i % len(metrics)]],
                mitigation="post" if i % 7 == 0 else "pre",
                source="api",
            )
            for i in range(results)
        )
        services.on_evidence_changed(model, "bench")


def _queries(client, url: str) -> int:
    client.get(url)  # warm the stored gate
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_model_page_and_dashboard_queries_do_not_grow_with_rows(safety):
    activate_default_policy()
    model = make_model(compute=None)
    client = client_for(safety)
    _grow(model, 2, 10)
    small = {url: _queries(client, url) for url in ("/models/atlas/", "/")}
    _grow(model, 20, 1000, prefix="d")
    large = {url: _queries(client, url) for url in ("/models/atlas/", "/")}
    # The model page: session, user, roles, titles, model, policy (3), checkpoints, results
    # page, imports, triggers, both stored gates, the warning notification, transitions,
    # thresholds' standards, the chart points: a fixed number whatever the rows.
    assert small == large, (small, large)


def test_the_model_page_with_50_checkpoints_and_10000_results_keeps_its_query_budget(safety):
    """Speed is measured by benchmarks, not timed here; what a test can hold is that the page
    still renders its charts with the same number of queries."""
    activate_default_policy()
    model = make_model(compute=None)
    client = client_for(safety)
    _grow(model, 2, 10)
    small = _queries(client, "/models/atlas/")
    _grow(model, 50, 10_000, prefix="big")
    with CaptureQueriesContext(connection) as context:
        response = client.get("/models/atlas/")
    assert response.status_code == 200
    assert b'class="metric-chart"' in response.content
    assert len(context) == small
