"""Where the model stands against each threshold, and its last full evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from governance.gate.codes import MISSING_EVIDENCE, IndicatorStatus, ObjectId, ThresholdStatus
from governance.gate.inputs import (
    CheckpointInfo,
    Evidence,
    GateInput,
    IndicatorSpec,
    MetricTally,
    PolicySnapshot,
    ResultInfo,
    ThresholdSpec,
)
from governance.gate.values import id_order
from governance.gate.verdict import Determination, IndicatorDetermination, Reason
from policies import rules


def checkpoint_order(c: CheckpointInfo) -> tuple[float, datetime, tuple[int, int, str]]:
    """The largest effective compute ranks highest, whatever the registration order."""
    return rules.checkpoint_rank(c.effective_compute, c.created_at, id_order(c.id))


def _indicator_metrics(policy: PolicySnapshot) -> dict[str, int | None]:
    """Every indicator metric of the policy with its ``min_samples``."""
    metrics: dict[str, int | None] = {}
    for threshold in policy.thresholds:
        for spec in threshold.indicators:
            metrics[spec.metric_key] = spec.min_samples
    return metrics


def last_full_evaluation(
    policy: PolicySnapshot, evidence: Evidence
) -> tuple[CheckpointInfo | None, datetime | None]:
    """The last fully evaluated checkpoint and the date its evaluation dates from.

    A checkpoint is fully evaluated when every indicator metric of the policy has strong
    (not partial, enough samples), pre-mitigation evidence on it; a claimed ancestor's
    checkpoint never is (see :class:`CheckpointInfo`); see
    :func:`policies.rules.last_full_evaluation`. ``(None, None)`` when none qualifies.
    """
    metrics = _indicator_metrics(policy)
    if evidence.dated is not None:
        return _last_full(evidence, evidence.dated, metrics)
    dated: dict[tuple[ObjectId, str], datetime] = {}
    for r in evidence.results:
        if r.mitigation == "post" or r.metric_key not in metrics:
            continue
        if rules.is_weak(
            partial=r.partial, n_samples=r.n_samples, min_samples=metrics[r.metric_key]
        ):
            continue
        key = (r.checkpoint_id, r.metric_key)
        if key not in dated or r.ran_at > dated[key]:
            dated[key] = r.ran_at
    return _last_full(evidence, dated, metrics)


def _last_full(
    evidence: Evidence, dated: Mapping[tuple[ObjectId, str], datetime], metrics: Iterable[str]
) -> tuple[CheckpointInfo | None, datetime | None]:
    by_id = {c.id: c for c in evidence.checkpoints}
    found, at = rules.last_full_evaluation(
        ((c.id, checkpoint_order(c), c.created_at) for c in evidence.checkpoints if not c.claimed),
        dated,
        metrics,
    )
    return (by_id[found], at) if found is not None else (None, None)


def claimed_checkpoints(evidence: Evidence) -> frozenset[ObjectId]:
    """The checkpoints of ancestors reached through a parent link that is only claimed."""
    return frozenset(c.id for c in evidence.checkpoints if c.claimed)


def determine(
    policy: PolicySnapshot, inp: GateInput, *, has_checkpoint: bool
) -> tuple[tuple[Determination, ...], list[Reason]]:
    """Classify every threshold on the capability evidence; explain failures."""
    names = {c.id: c.name for c in inp.evidence.checkpoints}
    claimed = claimed_checkpoints(inp.evidence)
    by_metric: dict[str, list[ResultInfo]] = {}
    for r in inp.evidence.results:
        if r.mitigation != "post" and r.checkpoint_id in names:
            by_metric.setdefault(r.metric_key, []).append(r)
    precautions = {p.threshold: p for p in sorted(inp.precautions, key=lambda p: id_order(p.id))}
    determinations: list[Determination] = []
    reasons: list[Reason] = []
    for threshold in sorted(policy.thresholds, key=lambda t: t.code):
        tallies = inp.evidence.tallies
        indicators = tuple(
            determine_indicator(
                spec,
                by_metric.get(spec.metric_key, ()),
                policy.uncertainty_z,
                names,
                claimed=claimed,
                tally=(
                    tallies.get(spec.metric_key, MetricTally(results=0, strong=0))
                    if tallies is not None
                    else None
                ),
            )
            for spec in threshold.indicators
        )
        status = _threshold_status(indicators)
        precaution = precautions.get(threshold.code)
        if precaution is not None:
            status = "crossed"
        determinations.append(
            Determination(
                threshold=threshold.code,
                name=threshold.name,
                status=status,
                indicators=indicators,
                tier=threshold.tier,
                halt=threshold.halt,
                precaution=precaution.id if precaution is not None else None,
            )
        )
        if not has_checkpoint or threshold.early_warning or precaution is not None:
            continue  # no_checkpoint explains it; an early warning never pauses by itself
        for indicator in indicators:
            if indicator.status == "missing":
                reasons.append(_missing_reason(threshold, indicator))
        if not threshold.indicators:
            reasons.append(
                Reason(
                    code=MISSING_EVIDENCE,
                    message=(
                        f"Threshold {threshold.code} ({threshold.name}) has no indicators in "
                        "the policy, so the model cannot be shown to be below it; it is "
                        "presumed crossed."
                    ),
                    threshold=threshold.code,
                )
            )
    return tuple(determinations), reasons


def determine_indicator(
    spec: IndicatorSpec,
    results: Iterable[ResultInfo],
    z: float,
    checkpoint_names: Mapping[ObjectId, str],
    *,
    claimed: frozenset[ObjectId] = frozenset(),
    tally: MetricTally | None = None,
) -> IndicatorDetermination:
    """The indicator's determination from its capability evidence (pre-mitigation results).

    The most capable usable result at its conservative bound decides. Weak results, and every
    result on a ``claimed`` checkpoint (an ancestor's, through a lineage not yet confirmed),
    are usable only where they reach a line. With ``tally``, ``results`` holds only the
    deciding candidates (see :class:`Evidence`) and the counts come from the tally.
    """
    higher = spec.higher_is_more_capable
    best: tuple[ResultInfo, float, IndicatorStatus, bool] | None = None
    considered = 0
    ignored_weak = 0
    for r in results:
        considered += 1
        bound = rules.conservative_bound(r.value, r.stderr, z, higher)
        status: IndicatorStatus = rules.classify(
            bound, warning=spec.warning, critical=spec.critical, higher_is_more_capable=higher
        )
        weak = _weak(r, spec, claimed)
        if weak and status == "below":
            ignored_weak += 1
            continue  # weak evidence never shows safety
        if best is None or _more_capable(bound, r, best[1], best[0], higher):
            best = (r, bound, status, weak)
    if tally is not None:
        considered = tally.results
        ignored_weak = tally.weak_short_of.get(below_line(spec), 0)
    if best is None:
        return IndicatorDetermination(
            metric=spec.metric_key,
            status="missing",
            value=None,
            result_id=None,
            critical=spec.critical,
            warning=spec.warning,
            higher_is_more_capable=higher,
            results=considered,
            ignored_weak=ignored_weak,
        )
    result, bound, status, weak = best
    has_strong = tally.strong > 0 if tally is not None else _has_strong(results, spec, claimed)
    if weak and status == "warning" and not has_strong:
        # Weak evidence at the warning line shows danger, but nothing shows the model is
        # short of the critical line: the indicator stays presumed.
        status = "missing"
    return IndicatorDetermination(
        metric=spec.metric_key,
        status=status,
        value=result.value,
        result_id=result.id,
        critical=spec.critical,
        warning=spec.warning,
        higher_is_more_capable=higher,
        bound=bound,
        stderr=result.stderr,
        checkpoint=checkpoint_names.get(result.checkpoint_id),
        weak=weak,
        results=considered,
        ignored_weak=ignored_weak,
    )


def below_line(spec: IndicatorSpec) -> float:
    """The line a conservative bound must be short of for the indicator to read ``below``:
    the less capable of its warning and critical lines (see :func:`policies.rules.classify`)."""
    return rules.below_line(spec.warning, spec.critical, spec.higher_is_more_capable)


def _weak(r: ResultInfo, spec: IndicatorSpec, claimed: frozenset[ObjectId]) -> bool:
    """Weak evidence: a partial run, too few samples, or a claimed parent's result."""
    return r.checkpoint_id in claimed or rules.is_weak(
        partial=r.partial, n_samples=r.n_samples, min_samples=spec.min_samples
    )


def _has_strong(
    results: Iterable[ResultInfo], spec: IndicatorSpec, claimed: frozenset[ObjectId]
) -> bool:
    return any(not _weak(r, spec, claimed) for r in results)


def _more_capable(
    bound: float, result: ResultInfo, best_bound: float, best: ResultInfo, higher: bool
) -> bool:
    """Is ``bound`` more capable than ``best_bound``? (:func:`policies.rules.more_capable`:
    a NaN first, ties to the later result id.)"""
    sign = 1.0 if higher else -1.0
    return rules.more_capable(
        (bound * sign, id_order(result.id)), (best_bound * sign, id_order(best.id))
    )


def _threshold_status(indicators: tuple[IndicatorDetermination, ...]) -> ThresholdStatus:
    statuses = {i.status for i in indicators}
    if "crossed" in statuses:
        return "crossed"
    if "missing" in statuses or not indicators:
        return "presumed"
    if "warning" in statuses:
        return "warning"
    return "below"


def _missing_reason(threshold: ThresholdSpec, indicator: IndicatorDetermination) -> Reason:
    if indicator.results:
        why = (
            f"only weak evidence (partial runs, too few samples, or results of a parent "
            f"whose lineage is only claimed) exists for {indicator.metric}, which cannot "
            "show the model is below the line"
        )
    else:
        why = f"there is no capability evidence for {indicator.metric}"
    return Reason(
        code=MISSING_EVIDENCE,
        message=(
            f"Threshold {threshold.code} ({threshold.name}) is presumed crossed: {why}. "
            "Record a full (pre-mitigation) evaluation to resolve it."
        ),
        threshold=threshold.code,
        metric=indicator.metric,
    )
