"""The scaling gate engine (governance/gate/) as a pure function: one case per reason code,
determinations, warnings, boundaries and smaller contracts. Properties are in
``tests/governance/test_gate_properties.py``; the builders in ``tests/gate_fixtures.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from governance.gate import (
    REASON_CODES,
    ApprovalInfo,
    Evidence,
    GateInput,
    PauseInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    add_months,
    evaluate,
    expand_standards,
    last_full_evaluation,
    reasons_key,
    requirements_of,
)
from tests.gate_fixtures import (
    ALL_VERIFIED,
    ASL2_REQUIREMENTS,
    ASL3_D_REQUIREMENTS,
    ASL3_S_REQUIREMENTS,
    CK1,
    CK2,
    HOURS,
    NOW,
    VCT,
    Exploding,
    codes,
    happy,
    make_policy,
    result,
    verified,
    with_results,
)

# ------------------------------------------------------------- one case per code

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


#: Codes in the table whose check lands with its own change (commitments), or that are set
#: before the engine runs (``audit_unverified``: tests/governance/test_audit_unverified.py).
NOT_YET_EMITTED = {"audit_unverified", "commitment_overdue"}


def test_every_reason_code_has_a_case() -> None:
    assert set(CASES) == set(REASON_CODES) - NOT_YET_EMITTED


@pytest.mark.parametrize("code", list(CASES))
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
    # Each missing safeguard names the threshold at its warning line that raised its standard.
    raised = {(r.standard, r.threshold) for r in paused.reasons}
    assert raised == {("ASL-3-S", paused.determinations[0].threshold)}


def test_the_baselines_missing_safeguards_name_no_threshold() -> None:
    verdict = evaluate(happy(safeguards={}))

    assert verdict.reasons and {r.threshold for r in verdict.reasons} == {None}
    assert {r.standard for r in verdict.reasons} == {"ASL-2-D", "ASL-2-S"}


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
    assert (reason.code, reason.standard, reason.requirement, reason.threshold) == (
        "safeguard_missing",
        "ASL-9-S",
        None,
        None,  # raised by the baseline
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
