"""Properties of the scaling gate engine (governance/gate/): random realistic inputs never
approve what should pause, and faults fail closed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.gate import (
    REASON_CODES,
    ApprovalInfo,
    GateInput,
    IndicatorDetermination,
    PauseInfo,
    PolicySnapshot,
    ResultInfo,
    SafeguardInfo,
    Verdict,
    evaluate,
    reasons_key,
    requirements_of,
)
from tests.gate_fixtures import (
    ALL_REQUIREMENTS,
    ALL_VERIFIED,
    ASL2_REQUIREMENTS,
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
