"""Demo evidence: two models, results below every line, idempotent, skipped without policy."""

from __future__ import annotations

import io

from evaluations.demo import seed_demo
from evaluations.models import AIModel, EvalResult
from evaluations.policy import active_policy_view
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)


def test_demo_evidence_is_idempotent_and_below_thresholds(policy) -> None:
    seed_demo(io.StringIO())
    seed_demo(io.StringIO())

    assert AIModel.objects.count() == 2
    view = active_policy_view()
    assert view is not None
    results = list(EvalResult.objects.all())
    assert len(results) == 2 * len(view.indicator_metric_keys)
    for r in results:
        for indicator in view.indicators:
            if indicator.metric_key == r.metric_key:
                assert indicator.status(r.value) == "below", (r.metric_key, r.value)


def test_demo_evidence_needs_an_active_policy(db) -> None:
    out = io.StringIO()
    seed_demo(out)
    assert AIModel.objects.count() == 0
    assert "no active policy" in out.getvalue()
