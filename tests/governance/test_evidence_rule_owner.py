"""One owner for "the most capable evidence": the SQL ranking agrees with the Python rule.

``policies.rules`` owns the rule (the conservative bound as a capability, weak evidence, ties
to the later id, NaN first). The summary folds results with it in Python; the ranking reader
(``governance.evidence_sql.read_ranked``) computes the same in SQL. A Hypothesis property on
random evidence checks the SQL against the Python rule, on whichever database the run uses
(SQLite by default, PostgreSQL with ``DATABASE_URL``). And a summary written under another
version of the rule reads as stale: the gate ranks the results until a write rebuilds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations import services as evidence
from evaluations import summary
from evaluations.models import AIModel, EvalResult, EvidenceSummaryState
from evaluations.policy import active_policy_view
from evaluations.summary import forget_lenses
from governance import adapter
from governance.evidence_sql import read_evidence, read_ranked
from governance.gate import Evidence, PolicySnapshot, below_line
from policies import rules
from tests.gate_oracle import claimed_ancestors
from tests.governance.test_evidence_summary import _activate, _apply, _family, _normal, _step
from tests.governance_fixtures import activate_default_policy, make_model, settle_gates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def python_evidence(model: AIModel, policy: PolicySnapshot) -> Any:
    """The ranking reader's evidence, computed row by row with ``policies.rules``."""
    specs = {}
    lines: set[tuple[str, float]] = set()
    for threshold in policy.thresholds:
        for spec in threshold.indicators:
            specs.setdefault(spec.metric_key, spec)
            lines.add((spec.metric_key, below_line(spec)))
    lineage = model.lineage_ids()
    claimed = claimed_ancestors(model)  # their results are weak evidence here (ADR 0034)
    rows = (
        EvalResult.objects.current()
        .filter(model_id__in=lineage, checkpoint__model_id__in=lineage)
        .exclude(mitigation="post")
        .filter(metric_key__in=specs)
    )
    z = float(policy.uncertainty_z or 0.0)
    picks: dict[tuple[str, bool], list[tuple[float, int]]] = {}
    counts: dict[str, list[int]] = {}
    short: dict[str, dict[float, int]] = {}
    dated: dict[tuple[Any, str], datetime] = {}
    for r in rows:
        spec = specs[r.metric_key]
        higher = spec.higher_is_more_capable
        plain = rules.is_weak(
            partial=r.partial, n_samples=r.n_samples, min_samples=spec.min_samples
        )
        weak = plain or r.model_id in claimed
        cap = rules.capability(r.value, r.stderr, z, higher)
        picks.setdefault((r.metric_key, weak), []).append((cap, r.pk))
        tally = counts.setdefault(r.metric_key, [0, 0])
        tally[0] += 1
        tally[1] += 0 if weak else 1
        bound = rules.conservative_bound(r.value, r.stderr, z, higher)
        for key, line in lines:
            if key == r.metric_key:
                shorts = short.setdefault(key, {})
                shorts[line] = shorts.get(line, 0) + (
                    1 if weak and rules.short_of(bound, line, higher) else 0
                )
        if not plain:  # a checkpoint's dates are its own; the engine skips a claimed one
            ran = r.evaluated_at or r.recorded_at
            at = dated.get((r.checkpoint_id, r.metric_key))
            dated[(r.checkpoint_id, r.metric_key)] = ran if at is None or ran > at else at
    chosen = set()
    for candidates in picks.values():
        best = rules.most_capable(candidates)
        assert best is not None
        chosen.add(best[1])
    tallies = {
        key: (total, strong, {k: v for k, v in short.get(key, {}).items() if v})
        for key, (total, strong) in counts.items()
    }
    return sorted(chosen), tallies, dated


def _sql(ev: Evidence) -> Any:
    _, results, tallies, dated = _normal(ev)
    return sorted(r.id for r in results), tallies, dated


@pytest.mark.parametrize(("z", "min_samples"), [(0.0, None), (1.5, 50)])
def test_the_sql_ranking_picks_what_the_python_rule_picks(z, min_samples):
    _activate(z, min_samples)
    model = _family()
    policy = adapter.active_snapshot()
    assert policy is not None

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(_step, min_size=1, max_size=8))
    def run(steps: list[tuple[str, Any]]) -> None:
        with transaction.atomic():
            _apply(model, steps)
            assert _sql(read_ranked(model, policy)) == python_evidence(model, policy)
            transaction.set_rollback(True)

    run()


def test_a_summary_chosen_under_another_rule_version_is_ranked_again_then_rebuilt(monkeypatch):
    activate_default_policy()
    model = make_model()
    items = [
        {"model": "atlas", "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy", "value": v,
         "stderr": 0.05, "n_samples": 100}
        for v in (0.1, 0.3)
    ]  # fmt: skip
    evidence.record_results(items, None, EvalResult.Source.API)
    settle_gates()  # the worker folds them into the summary (ADR 0055)
    policy = adapter.active_snapshot()
    assert policy is not None
    written = EvidenceSummaryState.objects.get(model=model).lens
    expected = _normal(read_ranked(model, policy))

    # The rule changes (a new release): the stored summary no longer names the current rule.
    monkeypatch.setattr(rules, "EVIDENCE_RULE_VERSION", rules.EVIDENCE_RULE_VERSION + 1)
    forget_lenses()
    with CaptureQueriesContext(connection) as queries:
        ev = read_evidence(model, policy)
    assert len(queries) == 2  # the summary read sees it stale; the results are ranked
    assert _normal(ev) == expected

    # The worker's fold after the next write rebuilds the summary under the current rule.
    evidence.record_results([{**items[0], "value": 0.2}], None, EvalResult.Source.API)
    settle_gates()
    state = EvidenceSummaryState.objects.get(model=model)
    assert state.lens != written
    assert state.lens == summary.lens_of_view(active_policy_view()).digest
    with CaptureQueriesContext(connection) as queries:
        read_evidence(model, policy)
    assert len(queries) == 1
