"""The scaling gate engine (governance/gate.py) as a pure function: no database needed.

Run alone with ``pytest tests/test_gate_engine.py -p no:django``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.gate import (
    REASON_CODES,
    ApprovalInfo,
    CheckpointInfo,
    Evidence,
    GateInput,
    IndicatorDetermination,
    IndicatorSpec,
    PauseInfo,
    PolicySnapshot,
    ResultInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    Verdict,
    add_months,
    evaluate,
    expand_standards,
    last_full_evaluation,
    reasons_key,
    requirements_of,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
VCT = "cbrn.vct_accuracy"  # higher is more capable
HOURS = "cbrn.hours_to_protocol"  # lower is more capable: faster to a working protocol

ASL2_REQUIREMENTS = (
    "ASL-2-D.acceptable-use",
    "ASL-2-D.harmlessness-training",
    "ASL-2-S.access-control",
    "ASL-2-S.vulnerability-disclosure",
)
ASL3_S_REQUIREMENTS = ("ASL-3-S.egress-limits", "ASL-3-S.two-party-access")
ASL3_D_REQUIREMENTS = ("ASL-3-D.classifiers", "ASL-3-D.jailbreak-response")
ALL_REQUIREMENTS = ASL2_REQUIREMENTS + ASL3_S_REQUIREMENTS + ASL3_D_REQUIREMENTS


# ----------------------------------------------------------------------- builders


def make_policy(**overrides: Any) -> PolicySnapshot:
    """A small policy modelled on RSP v2.2: ASL-2 baseline, CBRN-3 needs ASL-3."""
    standards = {
        "ASL-2-D": StandardSpec(
            code="ASL-2-D", level="ASL-2", kind="deployment", requirements=ASL2_REQUIREMENTS[:2]
        ),
        "ASL-2-S": StandardSpec(
            code="ASL-2-S", level="ASL-2", kind="security", requirements=ASL2_REQUIREMENTS[2:]
        ),
        "ASL-3-D": StandardSpec(
            code="ASL-3-D",
            level="ASL-3",
            kind="deployment",
            includes=("ASL-2-D",),
            requirements=ASL3_D_REQUIREMENTS,
        ),
        "ASL-3-S": StandardSpec(
            code="ASL-3-S",
            level="ASL-3",
            kind="security",
            includes=("ASL-2-S",),
            requirements=ASL3_S_REQUIREMENTS,
        ),
    }
    cbrn3 = ThresholdSpec(
        code="CBRN-3",
        domain="cbrn",
        name="CBRN weapons uplift to novices",
        requires_scaling=("ASL-3-S",),
        requires_deployment=("ASL-3-D", "ASL-3-S"),
        indicators=(
            IndicatorSpec(metric_key=VCT, warning=0.5, critical=0.7, higher_is_more_capable=True),
            IndicatorSpec(
                metric_key=HOURS, warning=24.0, critical=8.0, higher_is_more_capable=False
            ),
        ),
    )
    fields: dict[str, Any] = {
        "version_id": 7,
        "version_label": "default v2.2",
        "baseline_standards": ("ASL-2-D", "ASL-2-S"),
        "standards": standards,
        "thresholds": (cbrn3,),
        "effective_compute_multiple": 4.0,
        "months_between_assessments": 6,
        "safeguard_reapproval_months": 12,
        "warning_behaviour": "notify",
        "signoff_titles": ("RSO", "CEO"),
        "levels": ("ASL-1", "ASL-2", "ASL-3", "ASL-4"),
    }
    fields.update(overrides)
    return PolicySnapshot(**fields)


CK1 = CheckpointInfo(id=1, name="ck-1", effective_compute=1e24, created_at=NOW - timedelta(days=60))
CK2 = CheckpointInfo(id=2, name="ck-2", effective_compute=2e24, created_at=NOW - timedelta(days=20))


def result(
    rid: int, metric: str, value: float, *, checkpoint: int = 2, at: datetime | None = None
) -> ResultInfo:
    return ResultInfo(
        id=rid,
        checkpoint_id=checkpoint,
        metric_key=metric,
        value=value,
        recorded_at=at or NOW - timedelta(days=10),
    )


def verified(*codes: str, at: datetime | None = None) -> dict[str, SafeguardInfo]:
    return {
        c: SafeguardInfo(status="verified", verified_at=at or NOW - timedelta(days=30))
        for c in codes
    }


def happy(**overrides: Any) -> GateInput:
    """An input that passes every check: CBRN-3 below, ASL-2 verified, approved to 5e24."""
    fields: dict[str, Any] = {
        "policy": make_policy(),
        "scope": "scaling",
        "now": NOW,
        "planned_compute": None,  # latest checkpoint: 2e24
        "evidence": Evidence(
            checkpoints=(CK1, CK2), results=(result(10, VCT, 0.3), result(11, HOURS, 40.0))
        ),
        "safeguards": verified(*ASL2_REQUIREMENTS),
        "approval": ApprovalInfo(decision_id=3, compute_limit=5e24, approved_at=NOW),
        "pauses": (),
    }
    fields.update(overrides)
    return GateInput(**fields)


def with_results(
    *results: ResultInfo, checkpoints: tuple[CheckpointInfo, ...] = (CK1, CK2)
) -> Evidence:
    return Evidence(checkpoints=checkpoints, results=results)


class Exploding:
    """Wraps an object; reading ``attr`` raises ``exc`` (a fault injected into the engine)."""

    def __init__(self, inner: object, attr: str, exc: Exception) -> None:
        self._inner = inner
        self._attr = attr
        self._exc = exc

    def __getattr__(self, name: str) -> Any:
        if name == self._attr:
            raise self._exc
        return getattr(self._inner, name)


def codes(verdict: Verdict) -> set[str]:
    return {r.code for r in verdict.reasons}


# ------------------------------------------------------------- one case per code

ALL_VERIFIED = verified(*ASL2_REQUIREMENTS, *ASL3_S_REQUIREMENTS)

CASES: dict[str, Callable[[], GateInput]] = {
    "no_active_policy": lambda: happy(policy=None),
    # Without a checkpoint every threshold is presumed crossed: ASL-3-S must be in place.
    "no_checkpoint": lambda: happy(
        evidence=Evidence(), planned_compute=2e24, safeguards=ALL_VERIFIED
    ),
    "missing_evidence": lambda: happy(
        evidence=with_results(result(10, VCT, 0.3)), safeguards=ALL_VERIFIED
    ),
    # A crossed threshold that halts (or whose standard is undefined) has no way forward.
    "threshold_crossed": lambda: happy(
        policy=make_policy(thresholds=(replace(make_policy().thresholds[0], halt=True),)),
        evidence=with_results(result(10, VCT, 0.3), result(11, HOURS, 8.0)),
        safeguards=ALL_VERIFIED,
    ),
    "safeguard_missing": lambda: happy(
        safeguards={
            **verified(*ASL2_REQUIREMENTS),
            "ASL-2-S.access-control": SafeguardInfo(status="implemented"),
        }
    ),
    "safeguard_expired": lambda: happy(
        safeguards={
            **verified(*ASL2_REQUIREMENTS),
            **verified("ASL-2-D.acceptable-use", at=add_months(NOW, -13)),
        }
    ),
    "evaluation_due_compute": lambda: happy(
        planned_compute=8e24,
        approval=ApprovalInfo(decision_id=3, compute_limit=1e25, approved_at=NOW),
    ),
    "evaluation_due_time": lambda: happy(
        evidence=with_results(
            result(10, VCT, 0.3, at=add_months(NOW, -7)),
            result(11, HOURS, 40.0, at=add_months(NOW, -7)),
        )
    ),
    "no_approval": lambda: happy(approval=None),
    # Signed while everything was below; CBRN-3 crossed since (its ASL-3-S is verified).
    "decision_outdated": lambda: happy(
        evidence=with_results(result(10, VCT, 0.3), result(11, HOURS, 8.0)),
        safeguards=ALL_VERIFIED,
        approval=ApprovalInfo(
            decision_id=3,
            compute_limit=5e24,
            approved_at=NOW,
            crossed_thresholds=frozenset(),
            required_standards=frozenset({"ASL-2-D", "ASL-2-S"}),
        ),
    ),
    "exceeds_approved_compute": lambda: happy(planned_compute=6e24),
    "manual_pause": lambda: happy(
        pauses=(PauseInfo(id=4, reason="RSO review of red-team findings", created_at=NOW),)
    ),
    "internal_error": lambda: happy(
        policy=Exploding(make_policy(), "thresholds", RuntimeError("database went away"))
    ),
}


def test_every_reason_code_has_a_case() -> None:
    assert tuple(CASES) == REASON_CODES


@pytest.mark.parametrize("code", REASON_CODES)
def test_each_check_alone_pauses_with_its_own_code(code: str) -> None:
    verdict = evaluate(CASES[code]())

    assert verdict.state == "paused"
    assert codes(verdict) == {code}
    for reason in verdict.reasons:
        assert reason.message and reason.message[0].isupper()
    json.dumps(verdict.to_dict(), allow_nan=False)


def test_it_approves_when_every_check_passes() -> None:
    verdict = evaluate(happy())

    assert verdict.state == "approved"
    assert verdict.reasons == ()
    assert verdict.required_standards == ("ASL-2-D", "ASL-2-S")
    assert verdict.required_level == "ASL-2"
    assert verdict.approved_compute_limit == 5e24
    assert verdict.planned_compute == 2e24
    assert verdict.evaluated_checkpoint == "ck-2"
    assert verdict.latest_checkpoint == "ck-2"
    assert verdict.policy_version == "default v2.2"
    assert verdict.warning is False
    [cbrn3] = verdict.determinations
    assert cbrn3.status == "below"
    assert [(i.metric, i.value, i.result_id, i.status) for i in cbrn3.indicators] == [
        (VCT, 0.3, 10, "below"),
        (HOURS, 40.0, 11, "below"),
    ]


def test_reason_messages_name_the_threshold_and_why() -> None:
    [reason] = evaluate(CASES["threshold_crossed"]()).reasons
    assert reason.threshold == "CBRN-3"
    assert "CBRN-3" in reason.message and "stops" in reason.message

    [outdated] = evaluate(CASES["decision_outdated"]()).reasons
    assert outdated.decision == 3
    assert "CBRN-3" in outdated.message and "ASL-3-S" in outdated.message


def test_a_determination_names_the_result_value_and_checkpoint_behind_it() -> None:
    evidence = with_results(result(10, VCT, 0.3), result(11, HOURS, 8.0))
    [cbrn3] = evaluate(happy(evidence=evidence)).determinations
    hours = cbrn3.indicators[1]
    assert cbrn3.status == "crossed"
    assert (hours.metric, hours.value, hours.result_id, hours.checkpoint) == (
        HOURS,
        8.0,
        11,
        "ck-2",
    )


# ---------------------------------------------------------------- determinations


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        (VCT, 0.49, "below"),
        (VCT, 0.5, "warning"),
        (VCT, 0.69, "warning"),
        (VCT, 0.7, "crossed"),
        (VCT, 0.95, "crossed"),
        (VCT, math.nan, "crossed"),
        (HOURS, 24.01, "below"),
        (HOURS, 24.0, "warning"),
        (HOURS, 8.01, "warning"),
        (HOURS, 8.0, "crossed"),
        (HOURS, 1.0, "crossed"),
        (HOURS, math.nan, "crossed"),
    ],
)
def test_indicator_direction_decides_at_or_past(metric: str, value: float, expected: str) -> None:
    other = (HOURS, 40.0) if metric == VCT else (VCT, 0.3)
    evidence = with_results(result(10, metric, value), result(11, *other))

    verdict = evaluate(happy(evidence=evidence, safeguards=ALL_VERIFIED))

    statuses = {i.metric: i.status for i in verdict.determinations[0].indicators}
    assert statuses[metric] == expected
    json.dumps(verdict.to_dict(), allow_nan=False)


def test_missing_evidence_presumes_the_threshold_crossed_and_requires_its_standard() -> None:
    verdict = evaluate(happy(evidence=with_results(result(10, VCT, 0.3))))

    assert verdict.determinations[0].status == "presumed"
    assert verdict.required_standards == ("ASL-2-D", "ASL-2-S", "ASL-3-S")
    assert verdict.required_level == "ASL-3"
    assert {r.requirement for r in verdict.reasons if r.code == "safeguard_missing"} == set(
        ASL3_S_REQUIREMENTS
    )


def test_the_most_capable_result_on_any_checkpoint_decides() -> None:
    evidence = with_results(
        result(10, VCT, 0.9, checkpoint=1, at=NOW - timedelta(days=40)),
        result(12, VCT, 0.3, at=NOW - timedelta(days=5)),  # later, lower, another checkpoint
        result(11, HOURS, 40.0),
    )

    verdict = evaluate(happy(evidence=evidence))

    vct = verdict.determinations[0].indicators[0]
    assert (vct.status, vct.result_id, vct.checkpoint) == ("crossed", 10, "ck-1")
    assert "ASL-3-S" in verdict.required_standards


def test_a_threshold_without_indicators_is_presumed_crossed() -> None:
    placeholder = ThresholdSpec(code="AIRD-5", domain="ai_rnd", name="AI R&D-5")
    policy = make_policy(thresholds=(*make_policy().thresholds, placeholder))

    verdict = evaluate(happy(policy=policy))

    assert {d.threshold: d.status for d in verdict.determinations}["AIRD-5"] == "presumed"
    assert any(r.code == "missing_evidence" and r.threshold == "AIRD-5" for r in verdict.reasons)


def test_deployment_scope_requires_the_deployment_standards() -> None:
    evidence = with_results(result(10, VCT, 0.8), result(11, HOURS, 40.0))

    verdict = evaluate(happy(scope="deployment", evidence=evidence, safeguards=ALL_VERIFIED))

    assert verdict.required_standards == ("ASL-2-D", "ASL-2-S", "ASL-3-D", "ASL-3-S")
    assert {r.requirement for r in verdict.reasons if r.code == "safeguard_missing"} == set(
        ASL3_D_REQUIREMENTS
    )


# ----------------------------------------------------------------------- warnings

WARNING_EVIDENCE = with_results(result(10, VCT, 0.55), result(11, HOURS, 40.0))


def test_a_warning_under_notify_flags_but_requires_nothing_more() -> None:
    verdict = evaluate(happy(evidence=WARNING_EVIDENCE))

    assert verdict.state == "approved"
    assert verdict.warning is True
    assert verdict.determinations[0].status == "warning"
    assert verdict.required_standards == ("ASL-2-D", "ASL-2-S")


def test_a_warning_under_require_safeguards_requires_the_threshold_standards() -> None:
    policy = make_policy(warning_behaviour="require_safeguards")

    paused = evaluate(happy(policy=policy, evidence=WARNING_EVIDENCE))
    approved = evaluate(happy(policy=policy, evidence=WARNING_EVIDENCE, safeguards=ALL_VERIFIED))

    assert paused.state == "paused"
    assert codes(paused) == {"safeguard_missing"}
    assert paused.warning is True
    assert "ASL-3-S" in paused.required_standards
    assert approved.state == "approved"
    assert approved.warning is True


# ---------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(("multiple", "due"), [(3.99, False), (4.0, True), (4.01, True)])
def test_evaluation_is_due_from_four_times_the_last_evaluated_compute(
    multiple: float, due: bool
) -> None:
    limit = ApprovalInfo(decision_id=3, compute_limit=1e26, approved_at=NOW)

    verdict = evaluate(happy(planned_compute=multiple * CK2.effective_compute, approval=limit))

    assert ("evaluation_due_compute" in codes(verdict)) is due
    assert verdict.state == ("paused" if due else "approved")


@pytest.mark.parametrize(("age_offset", "due"), [(timedelta(days=1), False), (timedelta(0), True)])
def test_evaluation_is_due_when_exactly_six_months_old(age_offset: timedelta, due: bool) -> None:
    at = add_months(NOW, -6) + age_offset
    evidence = with_results(result(10, VCT, 0.3, at=at), result(11, HOURS, 40.0, at=at))

    verdict = evaluate(happy(evidence=evidence))

    assert ("evaluation_due_time" in codes(verdict)) is due


def test_an_evaluation_is_as_old_as_its_stalest_metric() -> None:
    evidence = with_results(
        result(10, VCT, 0.3, at=NOW - timedelta(days=1)),
        result(11, HOURS, 40.0, at=add_months(NOW, -6)),
    )

    assert codes(evaluate(happy(evidence=evidence))) == {"evaluation_due_time"}


@pytest.mark.parametrize(
    ("age_offset", "expired"), [(timedelta(days=1), False), (timedelta(0), True)]
)
def test_a_verification_expires_when_exactly_twelve_months_old(
    age_offset: timedelta, expired: bool
) -> None:
    stale = verified("ASL-2-S.access-control", at=add_months(NOW, -12) + age_offset)

    verdict = evaluate(happy(safeguards={**verified(*ASL2_REQUIREMENTS), **stale}))

    assert ("safeguard_expired" in codes(verdict)) is expired


def test_compute_equal_to_the_approved_limit_is_within_it() -> None:
    assert evaluate(happy(planned_compute=5e24)).state == "approved"
    assert codes(evaluate(happy(planned_compute=5.0001e24))) == {"exceeds_approved_compute"}


def test_a_nan_planned_compute_never_passes() -> None:
    verdict = evaluate(happy(planned_compute=math.nan))

    assert codes(verdict) == {"evaluation_due_compute", "exceeds_approved_compute"}
    assert json.loads(json.dumps(verdict.to_dict(), allow_nan=False))["planned_compute"] == "nan"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2024, 8, 31, 9, 30, tzinfo=UTC), 6, datetime(2025, 2, 28, 9, 30, tzinfo=UTC)),
        (datetime(2023, 8, 31), 6, datetime(2024, 2, 29)),
        (datetime(2024, 9, 1), 6, datetime(2025, 3, 1)),
        (datetime(2025, 3, 31), -1, datetime(2025, 2, 28)),
        (datetime(2024, 12, 15), 1, datetime(2025, 1, 15)),
        (datetime(2024, 1, 15), 12, datetime(2025, 1, 15)),
    ],
)
def test_add_months_uses_calendar_months_clamped_to_month_end(
    start: datetime, months: int, expected: datetime
) -> None:
    assert add_months(start, months) == expected


# ------------------------------------------------------------- smaller contracts


def test_includes_are_transitive_and_cycle_safe() -> None:
    standards = {
        "A": StandardSpec(
            code="A", level="L1", kind="security", includes=("B",), requirements=("a",)
        ),
        "B": StandardSpec(
            code="B", level="L1", kind="security", includes=("C",), requirements=("b",)
        ),
        "C": StandardSpec(
            code="C", level="L1", kind="security", includes=("A",), requirements=("c",)
        ),
    }

    assert expand_standards(["A"], standards) == ("A", "B", "C")
    assert requirements_of(["A"], standards) == {"a": "A", "b": "B", "c": "C"}
    assert expand_standards(["X"], standards) == ("X",)


def test_an_undefined_required_standard_is_reported_missing() -> None:
    policy = make_policy(baseline_standards=("ASL-2-D", "ASL-2-S", "ASL-9-S"))

    verdict = evaluate(happy(policy=policy))

    [reason] = verdict.reasons
    assert (reason.code, reason.standard, reason.requirement) == (
        "safeguard_missing",
        "ASL-9-S",
        None,
    )


def test_verified_without_a_date_counts_as_missing() -> None:
    safeguards = {
        **verified(*ASL2_REQUIREMENTS),
        "ASL-2-D.acceptable-use": SafeguardInfo(status="verified"),
    }

    assert codes(evaluate(happy(safeguards=safeguards))) == {"safeguard_missing"}


def test_evidence_split_across_checkpoints_is_not_missing_but_needs_a_full_evaluation() -> None:
    evidence = with_results(result(10, VCT, 0.3), result(11, HOURS, 40.0, checkpoint=1))

    verdict = evaluate(happy(evidence=evidence, safeguards=ALL_VERIFIED))

    assert last_full_evaluation(make_policy(), evidence) == (None, None)
    assert codes(verdict) == {"evaluation_due_compute"}
    assert verdict.determinations[0].status == "below"


def test_the_last_fully_evaluated_checkpoint_is_the_baseline_for_compute() -> None:
    evidence = with_results(
        result(10, VCT, 0.3, checkpoint=1),
        result(11, HOURS, 40.0, checkpoint=1),
        result(12, VCT, 0.3),  # ck-2 lacks HOURS: not fully evaluated
    )

    verdict = evaluate(happy(evidence=evidence, safeguards=ALL_VERIFIED, planned_compute=4e24))

    assert verdict.evaluated_checkpoint == "ck-1"
    assert codes(verdict) == {"evaluation_due_compute"}


@pytest.mark.parametrize(
    "broken",
    [
        lambda: happy(scope="training"),
        lambda: happy(policy=make_policy(warning_behaviour="ignore")),
        lambda: happy(evidence=Evidence(checkpoints=(CK1, replace(CK2, id=1)))),
        lambda: happy(now=datetime(2025, 3, 1)),  # naive against aware datetimes
        lambda: happy(policy=make_policy(months_between_assessments=6.5)),
    ],
)
def test_malformed_input_fails_closed(broken: Callable[[], GateInput]) -> None:
    verdict = evaluate(broken())

    assert verdict.state == "paused"
    assert codes(verdict) == {"internal_error"}


def test_an_exception_with_a_broken_str_still_fails_closed() -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("even this")

    verdict = evaluate(happy(policy=Exploding(make_policy(), "standards", Nasty())))

    assert codes(verdict) == {"internal_error"}
    assert "Nasty" in verdict.reasons[0].message


def test_to_dict_is_json_safe_and_stable() -> None:
    verdict = evaluate(CASES["threshold_crossed"]())

    first = json.dumps(verdict.to_dict(), allow_nan=False)
    again = json.dumps(evaluate(CASES["threshold_crossed"]()).to_dict(), allow_nan=False)

    assert first == again
    data = json.loads(first)
    assert list(data) == [
        "state",
        "scope",
        "policy_version",
        "policy_version_id",
        "reasons",
        "required_standards",
        "required_level",
        "approved_compute_limit",
        "approved_decision",
        "planned_compute",
        "latest_checkpoint",
        "evaluated_checkpoint",
        "last_full_evaluation_at",
        "determinations",
        "crossed_thresholds",
        "warning",
    ]
    assert data["reasons"][0]["code"] == "threshold_crossed"


def test_reasons_key_ignores_values_but_not_subjects() -> None:
    crossed_at = evaluate(
        happy(evidence=with_results(result(10, VCT, 0.8), result(11, HOURS, 40.0)))
    )
    crossed_higher = evaluate(
        happy(evidence=with_results(result(10, VCT, 0.9), result(11, HOURS, 40.0)))
    )
    assert reasons_key(crossed_at)  # ASL-3-S is not verified in the happy input
    paused_too = evaluate(
        happy(
            evidence=with_results(result(10, VCT, 0.9), result(11, HOURS, 40.0)),
            pauses=(PauseInfo(id=4, reason="", created_at=NOW),),
        )
    )

    assert reasons_key(crossed_at) == reasons_key(crossed_higher)
    assert reasons_key(crossed_higher) != reasons_key(paused_too)
    assert reasons_key(evaluate(happy())) == ()


# ---------------------------------------------------------------------- properties
# Inputs are the happy input with zero to four random perturbations applied, so a good
# share is approved; otherwise "paused never becomes approved" would only ever be
# exercised on inputs that were paused to begin with.

PROPERTY_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=200,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
Perturbation = Callable[[GateInput], GateInput]


def _set_value(metric: str, fraction: float, age_days: int) -> Perturbation:
    # Spread over each metric's plausible range: VCT 0..1, hours 0..60.
    value = fraction if metric == VCT else fraction * 60.0
    at = NOW - timedelta(days=age_days)

    def apply(inp: GateInput) -> GateInput:
        kept = tuple(r for r in inp.evidence.results if r.metric_key != metric)
        new = result(20 if metric == VCT else 21, metric, value, at=at)
        return replace(inp, evidence=replace(inp.evidence, results=(*kept, new)))

    return apply


def _drop_result(metric: str) -> Perturbation:
    def apply(inp: GateInput) -> GateInput:
        kept = tuple(r for r in inp.evidence.results if r.metric_key != metric)
        return replace(inp, evidence=replace(inp.evidence, results=kept))

    return apply


def _set_safeguard(code: str, info: SafeguardInfo | None) -> Perturbation:
    def apply(inp: GateInput) -> GateInput:
        safeguards = {k: v for k, v in inp.safeguards.items() if k != code}
        if info is not None:
            safeguards[code] = info
        return replace(inp, safeguards=safeguards)

    return apply


_safeguard_info = st.one_of(
    st.none(),
    st.sampled_from([SafeguardInfo(status="planned"), SafeguardInfo(status="implemented")]),
    st.integers(0, 800).map(
        lambda days: SafeguardInfo(status="verified", verified_at=NOW - timedelta(days=days))
    ),
)
_perturbation: st.SearchStrategy[Perturbation] = st.one_of(
    st.builds(_set_value, st.sampled_from([VCT, HOURS]), st.floats(0.0, 1.0), st.integers(0, 400)),
    st.builds(_drop_result, st.sampled_from([VCT, HOURS])),
    st.builds(_set_safeguard, st.sampled_from(ALL_REQUIREMENTS), _safeguard_info),
    st.just(lambda i: replace(i, safeguards={**i.safeguards, **ALL_VERIFIED})),
    st.just(lambda i: replace(i, safeguards={**i.safeguards, **verified(*ALL_REQUIREMENTS)})),
    st.just(lambda i: replace(i, approval=None)),
    st.floats(1e24, 1e26).map(
        lambda x: (
            lambda i: replace(
                i, approval=ApprovalInfo(decision_id=5, compute_limit=x, approved_at=NOW)
            )
        )
    ),
    st.one_of(st.none(), st.floats(1e23, 2e25)).map(
        lambda x: lambda i: replace(i, planned_compute=x)
    ),
    st.just(lambda i: replace(i, scope="deployment")),
    st.just(lambda i: replace(i, policy=make_policy(warning_behaviour="require_safeguards"))),
    st.just(lambda i: _add_pause(i)),
)


def _apply_all(perturbations: list[Perturbation]) -> GateInput:
    inp = happy()
    for perturb in perturbations:
        inp = perturb(inp)
    return inp


def gate_inputs() -> st.SearchStrategy[GateInput]:
    """Realistic inputs around :func:`happy`."""
    return st.lists(_perturbation, max_size=4).map(_apply_all)


def _add_crossed_result(inp: GateInput, metric: str, overshoot: float) -> GateInput:
    value = 0.7 + overshoot * 0.3 if metric == VCT else 8.0 - overshoot * 8.0
    new = result(99, metric, value, at=NOW)
    evidence = replace(inp.evidence, results=(*inp.evidence.results, new))
    return replace(inp, evidence=evidence)


def _unverify(inp: GateInput, code: str, drop: bool) -> GateInput:
    safeguards = dict(inp.safeguards)
    if drop:
        safeguards.pop(code, None)
    else:
        safeguards[code] = SafeguardInfo(status="implemented")
    return replace(inp, safeguards=safeguards)


def _add_pause(inp: GateInput) -> GateInput:
    pause = PauseInfo(id=50 + len(inp.pauses), reason="stop", created_at=NOW)
    return replace(inp, pauses=(*inp.pauses, pause))


def _raise_compute(inp: GateInput, factor: float) -> GateInput:
    current = inp.planned_compute if inp.planned_compute is not None else CK2.effective_compute
    return replace(inp, planned_compute=current * factor)


_riskier = st.one_of(
    st.builds(
        lambda c, d: lambda i: _unverify(i, c, d), st.sampled_from(ALL_REQUIREMENTS), st.booleans()
    ),
    st.just(_add_pause),
    st.builds(lambda f: lambda i: _raise_compute(i, f), st.floats(1.0, 100.0)),
)


def test_the_property_inputs_reach_approved_and_paused_verdicts() -> None:
    states: list[str] = []

    @PROPERTY_SETTINGS
    @given(gate_inputs())
    def collect(inp: GateInput) -> None:
        states.append(evaluate(inp).state)

    collect()

    # Guards the properties below against testing only one side.
    assert states.count("approved") >= 20
    assert states.count("paused") >= 20


@PROPERTY_SETTINGS
@given(gate_inputs())
def test_approved_exactly_when_there_are_no_reasons(inp: GateInput) -> None:
    verdict = evaluate(inp)

    assert (verdict.state == "approved") == (verdict.reasons == ())
    assert codes(verdict) <= set(REASON_CODES) - {"internal_error"}
    if verdict.approved:
        # A crossing is a path: approved past one only with its standards required (and so
        # verified, below) and a decision of the scope in hand.
        policy = inp.policy or make_policy()
        for d in verdict.determinations:
            if d.status in ("crossed", "presumed"):
                [threshold] = [t for t in policy.thresholds if t.code == d.threshold]
                assert set(threshold.requires(inp.scope)) <= set(verdict.required_standards)
        assert inp.approval is not None and not inp.pauses
        for requirement in requirements_of(verdict.required_standards, make_policy().standards):
            assert inp.safeguards[requirement].status == "verified"
    json.dumps(verdict.to_dict(), allow_nan=False)


@PROPERTY_SETTINGS
@given(gate_inputs(), st.lists(_riskier, min_size=1, max_size=4))
def test_riskier_changes_never_turn_paused_into_approved(
    inp: GateInput, changes: list[Callable[[GateInput], GateInput]]
) -> None:
    before = evaluate(inp)
    after_input = inp
    for change in changes:
        after_input = change(after_input)
        after = evaluate(after_input)
        # Monotone: an approved verdict after a riskier change implies approved before it.
        assert not (after.approved and not before.approved)
        before = after


def _approval_of(verdict: Verdict, decision_id: int = 77) -> ApprovalInfo:
    """An approved decision whose dossier froze ``verdict`` (as the adapter reads it)."""
    return ApprovalInfo(
        decision_id=decision_id,
        compute_limit=1e26,
        approved_at=NOW,
        scope=verdict.scope or "scaling",
        crossed_thresholds=frozenset(verdict.crossed_thresholds),
        required_standards=frozenset(verdict.required_standards),
    )


_RANK = {"below": 0, "warning": 1, "crossed": 2}


def _indicator_statuses(verdict: Verdict) -> dict[str, IndicatorDetermination]:
    return {i.metric: i for d in verdict.determinations for i in d.indicators}


_new_result = st.builds(
    lambda metric, fraction, stderr, n, partial, post: ResultInfo(
        id=500,
        checkpoint_id=1,
        metric_key=metric,
        value=fraction if metric == VCT else fraction * 60.0,
        stderr=stderr,
        n_samples=n,
        partial=partial,
        mitigation="post" if post else "pre",
        recorded_at=NOW,
    ),
    st.sampled_from([VCT, HOURS]),
    st.floats(0.0, 1.0),
    st.one_of(st.none(), st.floats(0.0, 0.2)),
    st.one_of(st.none(), st.integers(1, 500)),
    st.booleans(),
    st.booleans(),
)
_Z_POLICY = make_policy(
    uncertainty_z=1.0,
    thresholds=(
        replace(
            make_policy().thresholds[0],
            indicators=tuple(
                replace(i, min_samples=50) for i in make_policy().thresholds[0].indicators
            ),
        ),
    ),
)


@PROPERTY_SETTINGS
@given(gate_inputs(), _new_result, st.booleans())
def test_adding_a_result_never_lowers_a_determination(
    inp: GateInput, new: ResultInfo, strict: bool
) -> None:
    if strict:
        inp = replace(inp, policy=_Z_POLICY)
    before = _indicator_statuses(evaluate(inp))
    added = replace(inp, evidence=replace(inp.evidence, results=(*inp.evidence.results, new)))
    after = _indicator_statuses(evaluate(added))
    for metric, old in before.items():
        if old.status == "missing":
            continue  # evidence where there was none may resolve a presumption either way
        assert _RANK[after[metric].status] >= _RANK[old.status], (metric, old, after[metric])
        if old.bound is not None and after[metric].bound is not None:
            more = (
                after[metric].bound >= old.bound
                if metric == VCT
                else after[metric].bound <= old.bound
            )
            assert more


@PROPERTY_SETTINGS
@given(gate_inputs(), _new_result)
def test_a_post_mitigation_result_never_changes_a_determination(
    inp: GateInput, new: ResultInfo
) -> None:
    post = replace(new, mitigation="post")
    added = replace(inp, evidence=replace(inp.evidence, results=(*inp.evidence.results, post)))
    assert evaluate(added).determinations == evaluate(inp).determinations


@PROPERTY_SETTINGS
@given(gate_inputs(), st.sampled_from([VCT, HOURS]), st.floats(0, 1))
def test_never_approved_while_a_crossed_thresholds_standards_are_not_verified(
    inp: GateInput, metric: str, overshoot: float
) -> None:
    crossed = _add_crossed_result(inp, metric, overshoot)
    verdict = evaluate(crossed)
    if verdict.approved:
        needed = make_policy().thresholds[0].requires(crossed.scope)
        assert set(needed) <= set(verdict.required_standards)
        for requirement in requirements_of(needed, make_policy().standards):
            assert crossed.safeguards[requirement].status == "verified"


@PROPERTY_SETTINGS
@given(gate_inputs(), st.sampled_from([VCT, HOURS]), st.floats(0, 1))
def test_a_decision_signed_before_a_crossing_never_approves_after_it(
    inp: GateInput, metric: str, overshoot: float
) -> None:
    before = evaluate(inp)
    if "CBRN-3" in before.crossed_thresholds:
        return  # nothing new to cross
    signed = replace(inp, approval=_approval_of(before))
    after = evaluate(_add_crossed_result(signed, metric, overshoot))
    assert not after.approved
    assert "decision_outdated" in codes(after)


@PROPERTY_SETTINGS
@given(gate_inputs(), st.floats(1.0, 100.0))
def test_a_pause_or_more_compute_only_adds_reasons(inp: GateInput, factor: float) -> None:
    base = set(reasons_key(evaluate(inp)))

    paused = evaluate(_add_pause(inp))
    raised = evaluate(_raise_compute(inp, factor))

    assert paused.state == "paused" and base < set(reasons_key(paused))
    assert base <= set(reasons_key(raised))


@PROPERTY_SETTINGS
@given(gate_inputs(), st.sampled_from(ASL2_REQUIREMENTS), st.booleans())
def test_removing_a_baseline_verification_always_pauses(
    inp: GateInput, code: str, drop: bool
) -> None:
    verdict = evaluate(_unverify(inp, code, drop))

    assert verdict.state == "paused"
    assert any(r.code == "safeguard_missing" and r.requirement == code for r in verdict.reasons)


_POLICY_ATTRIBUTES = (
    "version_id",
    "version_label",
    "baseline_standards",
    "standards",
    "thresholds",
    "effective_compute_multiple",
    "months_between_assessments",
    "safeguard_reapproval_months",
    "warning_behaviour",
)
_EXCEPTIONS = st.sampled_from(
    [RuntimeError("boom"), KeyError("x"), TypeError("t"), ZeroDivisionError(), RecursionError()]
)


@PROPERTY_SETTINGS
@given(st.sampled_from(_POLICY_ATTRIBUTES), _EXCEPTIONS)
def test_a_fault_reading_the_policy_yields_internal_error(attr: str, exc: Exception) -> None:
    policy = cast(PolicySnapshot, Exploding(make_policy(), attr, exc))

    verdict = evaluate(happy(policy=policy))

    assert verdict.state == "paused"
    assert codes(verdict) == {"internal_error"}


@PROPERTY_SETTINGS
@given(st.sampled_from(["checkpoints", "results"]), _EXCEPTIONS, st.booleans())
def test_a_fault_reading_the_evidence_yields_internal_error(
    attr: str, exc: Exception, in_result: bool
) -> None:
    inp = happy()
    if in_result:
        broken: Any = Exploding(result(10, VCT, 0.3), "value", exc)
        evidence: Any = with_results(broken, result(11, HOURS, 40.0))
    else:
        evidence = Exploding(inp.evidence, attr, exc)

    verdict = evaluate(replace(inp, evidence=evidence))

    assert codes(verdict) == {"internal_error"}
