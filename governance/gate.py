"""The scaling gate engine: a pure function from plain data to a verdict.

Contract (DESIGN.md §4, binding):

* ``evaluate(GateInput) -> Verdict``. The verdict is ``approved`` only when every
  check passes; otherwise it is ``paused`` with one :class:`Reason` per failed
  check, each carrying one of the stable codes in :data:`REASON_CODES`.
* ``evaluate`` never raises (for ``Exception`` subclasses). Any error inside the
  engine, including malformed input, yields ``paused`` with the single reason
  ``internal_error``. It can never yield ``approved`` by accident: the state is
  derived from the reason list, and an empty list is only reached by running
  every check to completion.
* No Django, no ORM, no I/O, no clock: the caller passes ``now``. The same input
  always gives the same verdict, with reasons and determinations in a stable
  order, so ``Verdict.to_dict()`` is suitable for hashed dossiers.

Choices this module makes where the design leaves room (all fail closed):

* Burden of proof is on safety. An indicator without a valid result on the
  evaluated checkpoint is ``missing``; its threshold is ``presumed_crossed`` and
  its standards become required. A threshold with *no indicators at all* cannot
  be shown to be below, so it is presumed crossed too.
* With no checkpoint there is nothing to evaluate: ``no_checkpoint`` is the
  reason, every threshold is presumed crossed (so safeguard checks still run),
  but no per-indicator ``missing_evidence`` reasons are added.
* The evaluation-due checks compare against the *last fully evaluated
  checkpoint*: the most recently created checkpoint that has a result for every
  indicator metric of the policy. Its evaluation dates from the *stalest* of
  those metrics' latest results (an evaluation is only as fresh as its oldest
  part). When no checkpoint was ever fully evaluated, both due-checks are
  skipped because ``missing_evidence`` (or ``no_checkpoint``) is then
  guaranteed to be present; the engine asserts that guarantee.
* Time boundaries are inclusive: an evaluation exactly ``months_between_assessments``
  calendar months old is due, and a verification exactly
  ``safeguard_reapproval_months`` old has expired (see :func:`add_months`).
* Comparisons are written so that NaN falls on the unsafe side: a NaN value is
  ``crossed``, a NaN planned compute is due and above any limit.
* A ``verified`` safeguard without ``verified_at`` is treated as missing (its
  freshness cannot be shown). A required standard the policy does not define is
  reported as ``safeguard_missing`` for that standard.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

ObjectId = int | str
"""A primary key or natural key as the adapter knows it (DB id, UUID string)."""

Scope = Literal["scaling", "deployment"]
WarningBehaviour = Literal["notify", "require_safeguards"]
SafeguardStatus = Literal["planned", "implemented", "verified"]
GateState = Literal["approved", "paused"]
ThresholdStatus = Literal["below", "warning", "crossed", "presumed_crossed"]
IndicatorStatus = Literal["below", "warning", "crossed", "missing"]

SCOPES: Final[tuple[str, ...]] = ("scaling", "deployment")
WARNING_BEHAVIOURS: Final[tuple[str, ...]] = ("notify", "require_safeguards")

NO_ACTIVE_POLICY: Final = "no_active_policy"
NO_CHECKPOINT: Final = "no_checkpoint"
MISSING_EVIDENCE: Final = "missing_evidence"
THRESHOLD_CROSSED: Final = "threshold_crossed"
SAFEGUARD_MISSING: Final = "safeguard_missing"
SAFEGUARD_EXPIRED: Final = "safeguard_expired"
EVALUATION_DUE_COMPUTE: Final = "evaluation_due_compute"
EVALUATION_DUE_TIME: Final = "evaluation_due_time"
NO_APPROVAL: Final = "no_approval"
EXCEEDS_APPROVED_COMPUTE: Final = "exceeds_approved_compute"
MANUAL_PAUSE: Final = "manual_pause"
INTERNAL_ERROR: Final = "internal_error"

REASON_CODES: Final[tuple[str, ...]] = (
    NO_ACTIVE_POLICY,
    NO_CHECKPOINT,
    MISSING_EVIDENCE,
    THRESHOLD_CROSSED,
    SAFEGUARD_MISSING,
    SAFEGUARD_EXPIRED,
    EVALUATION_DUE_COMPUTE,
    EVALUATION_DUE_TIME,
    NO_APPROVAL,
    EXCEEDS_APPROVED_COMPUTE,
    MANUAL_PAUSE,
    INTERNAL_ERROR,
)
"""Every reason code, in the order reasons are listed in a verdict."""

_CODE_RANK: Final = {code: rank for rank, code in enumerate(REASON_CODES)}


class GateInputError(ValueError):
    """The input is inconsistent; ``evaluate`` turns this into ``internal_error``."""


# --------------------------------------------------------------------------- inputs
# Inputs are keyword-only: positional construction would let an adapter swap
# e.g. ``warning`` and ``critical`` without any type error.


@dataclass(frozen=True, kw_only=True)
class StandardSpec:
    """A (level, kind) standard: its own requirements and the standards it includes.

    Inclusion is cumulative and transitive: the requirement set of a standard is its
    own requirements plus those of every standard it includes, recursively.
    """

    code: str
    level: str
    kind: str  # "deployment" or "security"; informational for the engine
    includes: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IndicatorSpec:
    """Ties a threshold to a metric: yellow line ``warning``, red line ``critical``.

    "At or past" a line means ``value >= line`` when higher is more capable and
    ``value <= line`` when lower is more capable.
    """

    metric_key: str
    warning: float | None
    critical: float
    higher_is_more_capable: bool = True


@dataclass(frozen=True, kw_only=True)
class ThresholdSpec:
    """A capability threshold (red line) and the standards it requires per scope."""

    code: str
    domain: str
    name: str
    requires_scaling: tuple[str, ...] = ()
    requires_deployment: tuple[str, ...] = ()
    indicators: tuple[IndicatorSpec, ...] = ()

    def requires(self, scope: Scope) -> tuple[str, ...]:
        """Return the standard codes this threshold requires for ``scope``."""
        if scope == "scaling":
            return self.requires_scaling
        if scope == "deployment":
            return self.requires_deployment
        raise GateInputError(f"unknown scope {scope!r}")


@dataclass(frozen=True, kw_only=True)
class PolicySnapshot:
    """The active policy version, as plain data.

    ``levels`` lists level codes from lowest to highest rank; it is only used to
    name ``Verdict.required_level`` (unknown levels rank below known ones).
    """

    version_id: ObjectId
    version_label: str
    baseline_standards: tuple[str, ...]
    standards: Mapping[str, StandardSpec]
    thresholds: tuple[ThresholdSpec, ...]
    effective_compute_multiple: float
    months_between_assessments: int
    safeguard_reapproval_months: int
    warning_behaviour: WarningBehaviour
    signoff_titles: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CheckpointInfo:
    """A checkpoint of the model; ``effective_compute`` is in FLOP."""

    id: ObjectId
    name: str
    effective_compute: float
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class ResultInfo:
    """One valid, non-superseded evaluation result (the adapter filters the rest)."""

    id: ObjectId
    checkpoint_id: ObjectId
    metric_key: str
    value: float
    recorded_at: datetime


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Checkpoints and results of one model.

    ``evaluated_checkpoint_id`` selects the checkpoint whose results decide the
    thresholds; ``None`` means the latest checkpoint (by ``created_at``, then
    compute, then id). Results on other checkpoints only matter for finding the
    last full evaluation.
    """

    checkpoints: tuple[CheckpointInfo, ...] = ()
    results: tuple[ResultInfo, ...] = ()
    evaluated_checkpoint_id: ObjectId | None = None


@dataclass(frozen=True, kw_only=True)
class SafeguardInfo:
    """Status of one safeguard requirement for this model."""

    status: SafeguardStatus
    verified_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalInfo:
    """The effective approved scaling decision for this model (the adapter picks it)."""

    decision_id: ObjectId
    compute_limit: float
    approved_at: datetime


@dataclass(frozen=True, kw_only=True)
class PauseInfo:
    """A pause in force."""

    id: ObjectId
    reason: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class GateInput:
    """Everything the gate needs. All datetimes must be aware (or all naive).

    ``planned_compute`` is the effective compute X (FLOP) the caller wants to reach;
    ``None`` means the latest checkpoint's.
    """

    policy: PolicySnapshot | None
    scope: Scope
    now: datetime
    planned_compute: float | None = None
    evidence: Evidence = field(default_factory=Evidence)
    safeguards: Mapping[str, SafeguardInfo] = field(default_factory=dict)
    approval: ApprovalInfo | None = None
    pauses: tuple[PauseInfo, ...] = ()


# -------------------------------------------------------------------------- outputs


@dataclass(frozen=True, kw_only=True)
class Reason:
    """One failed check: a stable ``code``, a plain-English message, its subject."""

    code: str
    message: str
    threshold: str | None = None
    metric: str | None = None
    requirement: str | None = None
    standard: str | None = None
    decision: ObjectId | None = None
    checkpoint: str | None = None
    pause: ObjectId | None = None

    @property
    def subject(self) -> str:
        """What the reason is about, without values; stable while the problem lasts."""
        parts = (
            ("threshold", self.threshold),
            ("metric", self.metric),
            ("standard", self.standard),
            ("requirement", self.requirement),
            ("checkpoint", self.checkpoint),
            ("decision", self.decision),
            ("pause", self.pause),
        )
        return " ".join(f"{key}={value}" for key, value in parts if value is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; every key is always present."""
        return {
            "code": self.code,
            "message": self.message,
            "threshold": self.threshold,
            "metric": self.metric,
            "requirement": self.requirement,
            "standard": self.standard,
            "decision": self.decision,
            "checkpoint": self.checkpoint,
            "pause": self.pause,
        }


@dataclass(frozen=True, kw_only=True)
class IndicatorDetermination:
    """The latest value of one indicator on the evaluated checkpoint, classified."""

    metric: str
    status: IndicatorStatus
    value: float | None
    result_id: ObjectId | None
    critical: float
    warning: float | None
    higher_is_more_capable: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become strings)."""
        return {
            "metric": self.metric,
            "status": self.status,
            "value": _json_float(self.value),
            "result_id": self.result_id,
            "critical": _json_float(self.critical),
            "warning": _json_float(self.warning),
            "higher_is_more_capable": self.higher_is_more_capable,
        }


@dataclass(frozen=True, kw_only=True)
class Determination:
    """Where the model stands against one threshold, with the results behind it."""

    threshold: str
    name: str
    status: ThresholdStatus
    indicators: tuple[IndicatorDetermination, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "threshold": self.threshold,
            "name": self.name,
            "status": self.status,
            "indicators": [i.to_dict() for i in self.indicators],
        }


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The gate's answer. ``state == "approved"`` if and only if ``reasons`` is empty.

    ``policy_version`` is the policy's label, ``policy_version_id`` its id.
    ``evaluated_checkpoint`` and ``last_full_evaluation_checkpoint`` are checkpoint
    names. An ``internal_error`` verdict carries nothing but its reason.
    """

    state: GateState
    reasons: tuple[Reason, ...]
    scope: str | None = None
    policy_version: str | None = None
    policy_version_id: ObjectId | None = None
    required_standards: tuple[str, ...] = ()
    required_level: str | None = None
    approved_compute_limit: float | None = None
    planned_compute: float | None = None
    evaluated_checkpoint: str | None = None
    last_full_evaluation_checkpoint: str | None = None
    last_full_evaluation_at: datetime | None = None
    determinations: tuple[Determination, ...] = ()
    warning: bool = False

    @property
    def approved(self) -> bool:
        """True only for an approved verdict."""
        return self.state == "approved"

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct reason codes, in :data:`REASON_CODES` order."""
        present = {r.code for r in self.reasons}
        return tuple(code for code in REASON_CODES if code in present)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with a stable key and list order (for APIs and dossiers)."""
        at = self.last_full_evaluation_at
        return {
            "state": self.state,
            "scope": self.scope,
            "policy_version": self.policy_version,
            "policy_version_id": self.policy_version_id,
            "reasons": [r.to_dict() for r in self.reasons],
            "required_standards": list(self.required_standards),
            "required_level": self.required_level,
            "approved_compute_limit": _json_float(self.approved_compute_limit),
            "planned_compute": _json_float(self.planned_compute),
            "evaluated_checkpoint": self.evaluated_checkpoint,
            "last_full_evaluation_checkpoint": self.last_full_evaluation_checkpoint,
            "last_full_evaluation_at": at.isoformat() if at is not None else None,
            "determinations": [d.to_dict() for d in self.determinations],
            "warning": self.warning,
        }


def reasons_key(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    """Sorted ``(code, subject)`` pairs: equal keys mean "state and reasons unchanged".

    Values (a metric's number, the planned compute) are left out on purpose, so a
    reason that persists with a new value does not count as a transition. The state
    needs no separate entry: it is approved exactly when the key is empty.
    """
    return tuple(sorted((r.code, r.subject) for r in verdict.reasons))


# ----------------------------------------------------------------- public helpers


def add_months(dt: datetime, months: int) -> datetime:
    """``dt`` moved by ``months`` calendar months, keeping time and tzinfo.

    The day is clamped to the end of the target month (31 Aug + 6 months is
    28 Feb, or 29 Feb in a leap year), so "n months old" is never postponed
    into the following month.
    """
    if isinstance(months, bool) or not isinstance(months, int):
        raise GateInputError(f"months must be an int, got {months!r}")
    index = dt.year * 12 + (dt.month - 1) + months
    year, month0 = divmod(index, 12)
    day = min(dt.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.replace(year=year, month=month0 + 1, day=day)


def expand_standards(
    codes: Iterable[str], standards: Mapping[str, StandardSpec]
) -> tuple[str, ...]:
    """``codes`` plus every standard they include, transitively; sorted, cycle-safe.

    Codes the policy does not define are kept (so they can be reported), but have
    nothing to expand.
    """
    seen: set[str] = set()
    stack = list(codes)
    while stack:
        code = stack.pop()
        if code in seen:
            continue  # also what makes include cycles terminate
        seen.add(code)
        spec = standards.get(code)
        if spec is not None:
            stack.extend(spec.includes)
    return tuple(sorted(seen))


def requirements_of(codes: Iterable[str], standards: Mapping[str, StandardSpec]) -> dict[str, str]:
    """Map each requirement of the closure of ``codes`` to the standard listing it.

    The closure is ``codes`` with their includes (see :func:`expand_standards`).
    When several standards list the same requirement, the alphabetically first
    one is named (deterministic output).
    """
    owners: dict[str, str] = {}
    for code in expand_standards(codes, standards):
        spec = standards.get(code)
        if spec is None:
            continue
        for requirement in spec.requirements:
            owners.setdefault(requirement, code)
    return dict(sorted(owners.items()))


def last_full_evaluation(
    policy: PolicySnapshot, evidence: Evidence
) -> tuple[CheckpointInfo | None, datetime | None]:
    """Find the last fully evaluated checkpoint and when that evaluation dates from.

    A checkpoint is fully evaluated when every indicator metric of the policy has a
    result on it. The evaluation dates from the oldest of those metrics' latest
    results; with no indicator metrics at all it dates from the checkpoint itself.
    Returns ``(None, None)`` when no checkpoint qualifies.
    """
    metrics = _policy_metrics(policy)
    latest = _latest_results(evidence.results)
    best: CheckpointInfo | None = None
    best_at: datetime | None = None
    for checkpoint in evidence.checkpoints:
        found = [latest.get((checkpoint.id, m)) for m in metrics]
        present = [r for r in found if r is not None]
        if len(present) != len(found):
            continue
        dated = min((r.recorded_at for r in present), default=checkpoint.created_at)
        if best is None or _checkpoint_order(checkpoint) > _checkpoint_order(best):
            best, best_at = checkpoint, dated
    return best, best_at


# ------------------------------------------------------------------------- engine


def evaluate(inp: GateInput) -> Verdict:
    """Compute the gate verdict for ``inp``. Never raises for ordinary exceptions.

    Any ``Exception`` yields ``paused`` with the single reason ``internal_error``.
    """
    try:
        return _evaluate(inp)
    except Exception as exc:  # failing closed is the contract
        return internal_error_verdict(exc)


def _evaluate(inp: GateInput) -> Verdict:
    scope = inp.scope
    if scope not in SCOPES:
        raise GateInputError(f"unknown scope {scope!r}")
    evidence = inp.evidence
    _check_unique_ids(evidence.checkpoints)
    latest = max(evidence.checkpoints, key=_checkpoint_order, default=None)
    planned = inp.planned_compute
    if planned is None and latest is not None:
        planned = latest.effective_compute

    reasons: list[Reason] = []
    if latest is None:
        reasons.append(
            Reason(
                code=NO_CHECKPOINT,
                message=(
                    "The model has no registered checkpoint, so its capabilities "
                    "cannot be assessed; every threshold is presumed crossed."
                ),
            )
        )
    # planned is None only when there is no checkpoint either; no_checkpoint covers it.
    reasons.extend(_approval_reasons(inp.approval, planned))
    reasons.extend(_pause_reasons(inp.pauses))

    policy = inp.policy
    if policy is None:
        reasons.append(
            Reason(
                code=NO_ACTIVE_POLICY,
                message=(
                    "No policy version is active, so no capability or safeguard "
                    "check can be run; the model stays paused until leadership "
                    "activates a policy."
                ),
            )
        )
        return _verdict(reasons, scope=scope, approval=inp.approval, planned=planned)

    if policy.warning_behaviour not in WARNING_BEHAVIOURS:
        raise GateInputError(f"unknown warning behaviour {policy.warning_behaviour!r}")

    codes = [t.code for t in policy.thresholds]
    if len(set(codes)) != len(codes):
        raise GateInputError("threshold codes are not unique")
    evaluated = _evaluated_checkpoint(evidence, latest)
    determinations, evidence_reasons = _determine(policy, evidence, evaluated)
    reasons.extend(evidence_reasons)

    required = _required_standards(policy, scope, determinations)
    reasons.extend(_safeguard_reasons(policy, required, inp.safeguards, inp.now))

    last_checkpoint, last_at = last_full_evaluation(policy, evidence)
    if last_checkpoint is None or last_at is None:
        # Only possible without a checkpoint or with the evaluated one incomplete:
        # those reasons already pause the gate. Guard the reasoning, not just trust it.
        if not any(r.code in (NO_CHECKPOINT, MISSING_EVIDENCE) for r in reasons):
            raise GateInputError("no full evaluation, yet no missing evidence was found")
    else:
        reasons.extend(_due_reasons(policy, planned, last_checkpoint, last_at, inp.now))

    return _verdict(
        reasons,
        scope=scope,
        approval=inp.approval,
        planned=planned,
        policy=policy,
        required=required,
        evaluated=evaluated,
        last_checkpoint=last_checkpoint,
        last_at=last_at,
        determinations=determinations,
    )


def _verdict(
    reasons: list[Reason],
    *,
    scope: str,
    approval: ApprovalInfo | None,
    planned: float | None,
    policy: PolicySnapshot | None = None,
    required: tuple[str, ...] = (),
    evaluated: CheckpointInfo | None = None,
    last_checkpoint: CheckpointInfo | None = None,
    last_at: datetime | None = None,
    determinations: tuple[Determination, ...] = (),
) -> Verdict:
    ordered = tuple(sorted(reasons, key=lambda r: (_CODE_RANK[r.code], r.subject, r.message)))
    level = _required_level(policy, required) if policy is not None else None
    last_name = last_checkpoint.name if last_checkpoint is not None else None
    return Verdict(
        # The only place a state is chosen: approved means no check failed.
        state="paused" if ordered else "approved",
        reasons=ordered,
        scope=scope,
        policy_version=policy.version_label if policy is not None else None,
        policy_version_id=policy.version_id if policy is not None else None,
        required_standards=required,
        required_level=level,
        approved_compute_limit=approval.compute_limit if approval is not None else None,
        planned_compute=planned,
        evaluated_checkpoint=evaluated.name if evaluated is not None else None,
        last_full_evaluation_checkpoint=last_name,
        last_full_evaluation_at=last_at,
        determinations=determinations,
        warning=any(d.status == "warning" for d in determinations),
    )


def internal_error_verdict(exc: BaseException) -> Verdict:
    try:
        detail = f"{type(exc).__name__}: {exc}"[:300]
    except Exception:  # an exception whose __str__ fails
        detail = type(exc).__name__
    return Verdict(
        state="paused",
        reasons=(
            Reason(
                code=INTERNAL_ERROR,
                message=(
                    f"The gate could not be computed ({detail}). The model stays "
                    "paused until this is fixed; an error is never treated as "
                    "approval."
                ),
            ),
        ),
    )


# ----------------------------------------------------------------- determinations


def _determine(
    policy: PolicySnapshot, evidence: Evidence, evaluated: CheckpointInfo | None
) -> tuple[tuple[Determination, ...], list[Reason]]:
    """Classify every threshold on the evaluated checkpoint; explain failures."""
    latest = _latest_results(evidence.results)
    determinations: list[Determination] = []
    reasons: list[Reason] = []
    for threshold in sorted(policy.thresholds, key=lambda t: t.code):
        indicators: list[IndicatorDetermination] = []
        for spec in threshold.indicators:
            result = latest.get((evaluated.id, spec.metric_key)) if evaluated else None
            indicator = _classify(spec, result)
            indicators.append(indicator)
            if evaluated is None:
                continue  # no_checkpoint already explains every missing value
            if indicator.status == "missing":
                reasons.append(_missing_reason(threshold, spec, evaluated))
            elif indicator.status == "crossed":
                reasons.append(_crossed_reason(threshold, indicator, evaluated))
        if not threshold.indicators and evaluated is not None:
            reasons.append(
                Reason(
                    code=MISSING_EVIDENCE,
                    message=(
                        f"Threshold {threshold.code} ({threshold.name}) has no "
                        "indicators in the policy, so the model cannot be shown to be "
                        "below it; it is presumed crossed."
                    ),
                    threshold=threshold.code,
                    checkpoint=evaluated.name,
                )
            )
        determinations.append(
            Determination(
                threshold=threshold.code,
                name=threshold.name,
                status=_threshold_status(indicators),
                indicators=tuple(indicators),
            )
        )
    return tuple(determinations), reasons


def _classify(spec: IndicatorSpec, result: ResultInfo | None) -> IndicatorDetermination:
    """Place one result against its indicator's lines.

    Each test asks "is it safely short of the line?" so that anything not
    provably short (including NaN) lands on the more capable side.
    """
    status: IndicatorStatus
    if result is None:
        status = "missing"
    elif not _short_of(result.value, spec.critical, spec.higher_is_more_capable):
        status = "crossed"
    elif spec.warning is not None and not _short_of(
        result.value, spec.warning, spec.higher_is_more_capable
    ):
        status = "warning"
    else:
        status = "below"
    return IndicatorDetermination(
        metric=spec.metric_key,
        status=status,
        value=result.value if result is not None else None,
        result_id=result.id if result is not None else None,
        critical=spec.critical,
        warning=spec.warning,
        higher_is_more_capable=spec.higher_is_more_capable,
    )


def _short_of(value: float, line: float, higher_is_more_capable: bool) -> bool:
    """Return True only when ``value`` is strictly on the less capable side."""
    return value < line if higher_is_more_capable else value > line


def _threshold_status(indicators: list[IndicatorDetermination]) -> ThresholdStatus:
    statuses = {i.status for i in indicators}
    if "crossed" in statuses:
        return "crossed"
    if "missing" in statuses or not indicators:
        return "presumed_crossed"
    if "warning" in statuses:
        return "warning"
    return "below"


def _required_standards(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> tuple[str, ...]:
    triggering: set[str] = {"crossed", "presumed_crossed"}
    if policy.warning_behaviour == "require_safeguards":
        triggering.add("warning")
    statuses = {d.threshold: d.status for d in determinations}
    codes = list(policy.baseline_standards)
    for threshold in policy.thresholds:
        if statuses[threshold.code] in triggering:
            codes.extend(threshold.requires(scope))
    return expand_standards(codes, policy.standards)


def _required_level(policy: PolicySnapshot, required: tuple[str, ...]) -> str | None:
    levels = [policy.standards[c].level for c in required if c in policy.standards]
    if not levels:
        return None
    ranks = {code: rank for rank, code in enumerate(policy.levels)}
    return max(levels, key=lambda level: (ranks.get(level, -1), level))


# --------------------------------------------------------------------- safeguards


def _safeguard_reasons(
    policy: PolicySnapshot,
    required: tuple[str, ...],
    safeguards: Mapping[str, SafeguardInfo],
    now: datetime,
) -> list[Reason]:
    reasons: list[Reason] = []
    for code in required:
        if code not in policy.standards:
            reasons.append(
                Reason(
                    code=SAFEGUARD_MISSING,
                    message=(
                        f"Standard {code} is required but the policy does not "
                        "define it, so its safeguards cannot be shown to be in place."
                    ),
                    standard=code,
                )
            )
    months = policy.safeguard_reapproval_months
    for requirement, standard in requirements_of(required, policy.standards).items():
        info = safeguards.get(requirement)
        if info is None or info.status != "verified" or info.verified_at is None:
            if info is None:
                state = "has no recorded status"
            elif info.status != "verified":
                state = f"is only {info.status}, not verified"
            else:
                state = "is marked verified but has no verification date"
            reasons.append(
                Reason(
                    code=SAFEGUARD_MISSING,
                    message=(
                        f"Safeguard requirement {requirement} (standard {standard}) is "
                        f"required but {state}."
                    ),
                    requirement=requirement,
                    standard=standard,
                )
            )
        elif not now < add_months(info.verified_at, months):
            reasons.append(
                Reason(
                    code=SAFEGUARD_EXPIRED,
                    message=(
                        f"Safeguard requirement {requirement} (standard {standard}) "
                        f"was last verified on {_fmt_date(info.verified_at)}, "
                        f"{months} months or more ago; it must be re-verified."
                    ),
                    requirement=requirement,
                    standard=standard,
                )
            )
    return reasons


# ------------------------------------------------------------- triggers, approval


def _due_reasons(
    policy: PolicySnapshot,
    planned: float | None,
    last: CheckpointInfo,
    last_at: datetime,
    now: datetime,
) -> list[Reason]:
    reasons: list[Reason] = []
    multiple = policy.effective_compute_multiple
    # "not below" rather than ">=": a NaN anywhere makes the evaluation due.
    if planned is not None and not planned < multiple * last.effective_compute:
        reasons.append(
            Reason(
                code=EVALUATION_DUE_COMPUTE,
                message=(
                    f"The planned effective compute ({_fmt_flop(planned)}) is at least "
                    f"{_fmt_number(multiple)}x that of {last.name} "
                    f"({_fmt_flop(last.effective_compute)}), the last fully evaluated "
                    "checkpoint; a comprehensive capability evaluation is due."
                ),
                checkpoint=last.name,
            )
        )
    months = policy.months_between_assessments
    if not now < add_months(last_at, months):
        reasons.append(
            Reason(
                code=EVALUATION_DUE_TIME,
                message=(
                    f"The last full evaluation (checkpoint {last.name}, dating from "
                    f"{_fmt_date(last_at)}) is {months} months old or more; the policy "
                    f"requires a comprehensive evaluation every {months} months."
                ),
                checkpoint=last.name,
            )
        )
    return reasons


def _approval_reasons(approval: ApprovalInfo | None, planned: float | None) -> list[Reason]:
    if approval is None:
        return [
            Reason(
                code=NO_APPROVAL,
                message=(
                    "No approved scaling decision covers this model; leadership "
                    "must sign one before it can proceed."
                ),
            )
        ]
    if planned is not None and not planned <= approval.compute_limit:
        return [
            Reason(
                code=EXCEEDS_APPROVED_COMPUTE,
                message=(
                    f"The planned effective compute ({_fmt_flop(planned)}) is above "
                    f"the limit of {_fmt_flop(approval.compute_limit)} approved by "
                    f"decision {approval.decision_id}."
                ),
                decision=approval.decision_id,
            )
        ]
    return []


def _pause_reasons(pauses: tuple[PauseInfo, ...]) -> list[Reason]:
    return [
        Reason(
            code=MANUAL_PAUSE,
            message=(
                f"The model was paused on {_fmt_date(p.created_at)}: "
                f"{p.reason or 'no reason given'}. Resuming needs a new approved "
                "decision."
            ),
            pause=p.id,
        )
        for p in pauses
    ]


def _missing_reason(
    threshold: ThresholdSpec, spec: IndicatorSpec, checkpoint: CheckpointInfo
) -> Reason:
    return Reason(
        code=MISSING_EVIDENCE,
        message=(
            f"There is no valid result for {spec.metric_key} on checkpoint "
            f"{checkpoint.name}, so threshold {threshold.code} ({threshold.name}) is "
            "presumed crossed until the evaluation is recorded."
        ),
        threshold=threshold.code,
        metric=spec.metric_key,
        checkpoint=checkpoint.name,
    )


def _crossed_reason(
    threshold: ThresholdSpec,
    indicator: IndicatorDetermination,
    checkpoint: CheckpointInfo,
) -> Reason:
    side = "at or above" if indicator.higher_is_more_capable else "at or below"
    return Reason(
        code=THRESHOLD_CROSSED,
        message=(
            f"Threshold {threshold.code} ({threshold.name}) is crossed: "
            f"{indicator.metric} is {_fmt_number(indicator.value)} on checkpoint "
            f"{checkpoint.name}, {side} the critical value "
            f"{_fmt_number(indicator.critical)}."
        ),
        threshold=threshold.code,
        metric=indicator.metric,
        checkpoint=checkpoint.name,
    )


# ------------------------------------------------------------------------ plumbing


def _id_order(value: ObjectId) -> tuple[int, int, str]:
    # Integers compare numerically (10 after 9); strings after all integers.
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, str(value))


def _checkpoint_order(
    c: CheckpointInfo,
) -> tuple[datetime, float, tuple[int, int, str]]:
    return (c.created_at, c.effective_compute, _id_order(c.id))


def _check_unique_ids(checkpoints: tuple[CheckpointInfo, ...]) -> None:
    ids = [c.id for c in checkpoints]
    if len(set(ids)) != len(ids):
        raise GateInputError("checkpoint ids are not unique")


def _evaluated_checkpoint(
    evidence: Evidence, latest: CheckpointInfo | None
) -> CheckpointInfo | None:
    wanted = evidence.evaluated_checkpoint_id
    if wanted is None:
        return latest
    for checkpoint in evidence.checkpoints:
        if checkpoint.id == wanted:
            return checkpoint
    raise GateInputError(f"evaluated checkpoint {wanted!r} is not among the checkpoints")


def _policy_metrics(policy: PolicySnapshot) -> tuple[str, ...]:
    return tuple(sorted({i.metric_key for t in policy.thresholds for i in t.indicators}))


def _latest_results(
    results: Iterable[ResultInfo],
) -> dict[tuple[ObjectId, str], ResultInfo]:
    """(checkpoint id, metric) → its latest result (by ``recorded_at``, then id)."""
    latest: dict[tuple[ObjectId, str], ResultInfo] = {}
    for result in results:
        key = (result.checkpoint_id, result.metric_key)
        current = latest.get(key)
        if current is None or (result.recorded_at, _id_order(result.id)) > (
            current.recorded_at,
            _id_order(current.id),
        ):
            latest[key] = result
    return latest


def _json_float(value: float | None) -> float | str | None:
    # Strict JSON has no NaN/Infinity; keep them visible as strings, not dropped.
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _fmt_number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _fmt_flop(value: float) -> str:
    return f"{value:.4g} FLOP"


def _fmt_date(value: datetime) -> str:
    return value.date().isoformat()
