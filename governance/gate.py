"""The scaling gate engine: a pure function from plain data to a verdict.

Contract (binding; docs/how-the-gate-decides.md explains it for readers):

* ``evaluate(GateInput) -> Verdict``. The verdict is ``approved`` only when every
  check passes; otherwise it is ``paused`` with one :class:`Reason` per failed
  check, each carrying one of the stable codes in :data:`REASON_CODES`.
* ``evaluate`` never raises (for ``Exception`` subclasses). Any error inside the
  engine, including malformed input, yields ``paused`` with the single reason
  ``internal_error``. The state is derived from the reason list, and an empty list
  is only reached by running every check to completion.
* No Django, no ORM, no I/O, no clock: the caller passes ``now``. The same input
  always gives the same verdict, with reasons and determinations in a stable
  order, so ``Verdict.to_dict()`` is suitable for hashed dossiers.

How capabilities are judged, the way the frameworks do:

* **Once crossed, stays crossed.** Capability evidence for an indicator is every
  current result of its metric that is not post-mitigation, on any checkpoint the
  adapter passes (the model's and its ancestors'). The determining value is the most
  capable one at its conservative bound (``value + z·stderr`` toward "more capable").
  A later, weaker or post-mitigation result never lowers it; only a correction (which
  removes the corrected result from the evidence) can.
* **Weak evidence proves danger, never safety.** A partial run or one below the
  metric's ``min_samples`` counts when it reaches a line and is ignored otherwise.
* **Missing means none at all.** An indicator without usable evidence is presumed
  crossed (``missing_evidence``); a new checkpoint does not make evidence missing.
  The re-evaluation triggers (compute multiple, months) decide when fresh evidence is
  due, measured from the last *full* evaluation: the latest checkpoint with strong
  evidence for every indicator metric, dated by the evaluations' own dates.
* **A precaution** (recorded by leadership, lifted only by a signed decision) treats a
  threshold as crossed without evidence.

What a crossing requires: the scope's standards of every crossed or presumed
red line (and of warnings under ``require_safeguards``) join the baseline; with them
verified and an approved decision of the scope that covers the crossing, the gate
opens. An ``early_warning`` threshold never pauses by itself. A crossed threshold that
is ``halt`` or whose required standard is undefined pauses with ``threshold_crossed``.
An approved decision stops counting (``decision_outdated``) once a threshold it did not
show as crossed is crossed, or a standard it did not show becomes required.

Time boundaries are inclusive; comparisons put NaN on the unsafe side (see
:mod:`policies.rules`, shared with the model pages and the policy diff).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from policies import rules
from policies.rules import add_months

ObjectId = int | str
"""A primary key or natural key as the adapter knows it (DB id, UUID string)."""

Scope = Literal["scaling", "deployment"]
WarningBehaviour = Literal["notify", "require_safeguards"]
SafeguardStatus = Literal["planned", "implemented", "verified"]
GateState = Literal["approved", "paused"]
ThresholdStatus = Literal["below", "warning", "crossed", "presumed"]
IndicatorStatus = Literal["below", "warning", "crossed", "missing"]

SCOPES: Final[tuple[str, ...]] = ("scaling", "deployment")
WARNING_BEHAVIOURS: Final[tuple[str, ...]] = ("notify", "require_safeguards")
#: Determinations that make a threshold's standards required.
CROSSED_STATUSES: Final = frozenset({"crossed", "presumed"})

NO_ACTIVE_POLICY: Final = "no_active_policy"
NO_CHECKPOINT: Final = "no_checkpoint"
MISSING_EVIDENCE: Final = "missing_evidence"
THRESHOLD_CROSSED: Final = "threshold_crossed"
SAFEGUARD_MISSING: Final = "safeguard_missing"
SAFEGUARD_EXPIRED: Final = "safeguard_expired"
EVALUATION_DUE_COMPUTE: Final = "evaluation_due_compute"
EVALUATION_DUE_TIME: Final = "evaluation_due_time"
NO_APPROVAL: Final = "no_approval"
DECISION_OUTDATED: Final = "decision_outdated"
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
    DECISION_OUTDATED,
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
    """A (level, kind) standard: its own requirements and the standards it includes."""

    code: str
    level: str
    kind: str  # "deployment" or "security"; informational for the engine
    includes: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IndicatorSpec:
    """Ties a threshold to a metric: yellow line ``warning``, red line ``critical``."""

    metric_key: str
    warning: float | None
    critical: float
    higher_is_more_capable: bool = True
    min_samples: int | None = None


@dataclass(frozen=True, kw_only=True)
class ThresholdSpec:
    """A capability threshold and the standards it requires per scope."""

    code: str
    domain: str
    name: str
    requires_scaling: tuple[str, ...] = ()
    requires_deployment: tuple[str, ...] = ()
    indicators: tuple[IndicatorSpec, ...] = ()
    tier: str = rules.RED_LINE
    halt: bool = False

    def requires(self, scope: Scope) -> tuple[str, ...]:
        """Return the standard codes this threshold requires for ``scope``."""
        if scope == "scaling":
            return self.requires_scaling
        if scope == "deployment":
            return self.requires_deployment
        raise GateInputError(f"unknown scope {scope!r}")

    @property
    def early_warning(self) -> bool:
        return self.tier == rules.EARLY_WARNING


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
    advisory_titles: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    uncertainty_z: float = 0.0

    @property
    def includes(self) -> dict[str, tuple[str, ...]]:
        return {code: spec.includes for code, spec in self.standards.items()}

    @property
    def requirements(self) -> dict[str, tuple[str, ...]]:
        return {code: spec.requirements for code, spec in self.standards.items()}


@dataclass(frozen=True, kw_only=True)
class CheckpointInfo:
    """A checkpoint of the model (or of an ancestor); ``effective_compute`` is in FLOP."""

    id: ObjectId
    name: str
    effective_compute: float
    created_at: datetime
    own: bool = True  # False for an ancestor's checkpoint


@dataclass(frozen=True, kw_only=True)
class ResultInfo:
    """One current (not superseded) evaluation result; the adapter drops the superseded.

    ``evaluated_at`` is when the evaluation ran (defaults to ``recorded_at``).
    """

    id: ObjectId
    checkpoint_id: ObjectId
    metric_key: str
    value: float
    recorded_at: datetime
    stderr: float | None = None
    n_samples: int | None = None
    partial: bool = False
    mitigation: str = "pre"
    evaluated_at: datetime | None = None

    @property
    def ran_at(self) -> datetime:
        return self.evaluated_at if self.evaluated_at is not None else self.recorded_at


@dataclass(frozen=True, kw_only=True)
class MetricTally:
    """Counts over *all* the capability evidence of one metric, for an :class:`Evidence` that
    carries only the results able to decide (see there).

    ``weak_short_of`` maps a line (an indicator's :func:`below_line`) to the number of weak
    results whose conservative bound is short of it: the weak evidence ignored there.
    """

    results: int
    strong: int
    weak_short_of: Mapping[float, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Checkpoints and results of one model and its ancestors.

    Either every capability result is in ``results``, or (``tallies`` and ``dated`` given) an
    adapter reduced them in the database to the results that can decide, the most capable
    strong and the most capable weak result of each metric at its conservative bound, with
    ``tallies`` counting all of them per metric and ``dated`` the date of the latest strong
    evaluation per ``(checkpoint id, metric)``. Both forms give the same verdict.
    """

    checkpoints: tuple[CheckpointInfo, ...] = ()
    results: tuple[ResultInfo, ...] = ()
    tallies: Mapping[str, MetricTally] | None = None
    dated: Mapping[tuple[ObjectId, str], datetime] | None = None


@dataclass(frozen=True, kw_only=True)
class SafeguardInfo:
    """Status of one safeguard requirement for this model."""

    status: SafeguardStatus
    verified_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalInfo:
    """The effective approved decision of the gate's scope (the adapter picks it).

    ``crossed_thresholds`` and ``required_standards`` are what its dossier showed; the
    adapter always passes them. ``None`` skips the outdated check (engine unit tests).
    """

    decision_id: ObjectId
    compute_limit: float | None
    approved_at: datetime
    scope: str = "scaling"
    crossed_thresholds: frozenset[str] | None = None
    required_standards: frozenset[str] | None = None


@dataclass(frozen=True, kw_only=True)
class PauseInfo:
    """A pause in force."""

    id: ObjectId
    reason: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class PrecautionInfo:
    """A precautionary determination in force: ``threshold`` treated as crossed."""

    id: ObjectId
    threshold: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class GateInput:
    """Everything the gate needs. All datetimes must be aware (or all naive).

    ``planned_compute`` is the effective compute X (FLOP) the caller wants to reach;
    ``None`` means the latest own checkpoint's, and a lower value is raised to it.
    """

    policy: PolicySnapshot | None
    scope: Scope
    now: datetime
    planned_compute: float | None = None
    evidence: Evidence = field(default_factory=Evidence)
    safeguards: Mapping[str, SafeguardInfo] = field(default_factory=dict)
    approval: ApprovalInfo | None = None
    pauses: tuple[PauseInfo, ...] = ()
    precautions: tuple[PrecautionInfo, ...] = ()


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
    """Where one indicator stands: the determining result at its conservative bound.

    ``value`` is the determining result's own value and ``bound`` the value compared with
    the lines; ``weak`` says the determining result is weak evidence (it then only ever
    determines a crossing). ``results`` counts the capability evidence considered.
    """

    metric: str
    status: IndicatorStatus
    value: float | None
    result_id: ObjectId | None
    critical: float
    warning: float | None
    higher_is_more_capable: bool
    bound: float | None = None
    stderr: float | None = None
    checkpoint: str | None = None
    weak: bool = False
    results: int = 0
    ignored_weak: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become strings)."""
        return {
            "metric": self.metric,
            "status": self.status,
            "value": _json_float(self.value),
            "bound": _json_float(self.bound),
            "stderr": _json_float(self.stderr),
            "result_id": self.result_id,
            "checkpoint": self.checkpoint,
            "weak": self.weak,
            "results": self.results,
            "ignored_weak": self.ignored_weak,
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
    tier: str = rules.RED_LINE
    halt: bool = False
    precaution: ObjectId | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "threshold": self.threshold,
            "name": self.name,
            "status": self.status,
            "tier": self.tier,
            "halt": self.halt,
            "precaution": self.precaution,
            "indicators": [i.to_dict() for i in self.indicators],
        }


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The gate's answer. ``state == "approved"`` if and only if ``reasons`` is empty.

    ``evaluated_checkpoint`` is the last fully evaluated checkpoint's name (the baseline of
    the re-evaluation triggers). An ``internal_error`` verdict carries nothing but its
    reason.
    """

    state: GateState
    reasons: tuple[Reason, ...]
    scope: str | None = None
    policy_version: str | None = None
    policy_version_id: ObjectId | None = None
    required_standards: tuple[str, ...] = ()
    required_level: str | None = None
    approved_compute_limit: float | None = None
    approved_decision: ObjectId | None = None
    planned_compute: float | None = None
    latest_checkpoint: str | None = None
    evaluated_checkpoint: str | None = None
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

    @property
    def crossed_thresholds(self) -> tuple[str, ...]:
        """Codes of the red lines determined crossed or presumed crossed (early warnings
        only warn: they are in ``determinations`` and raise ``warning``)."""
        return _crossed_red_lines(self.determinations)

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
            "approved_decision": self.approved_decision,
            "planned_compute": _json_float(self.planned_compute),
            "latest_checkpoint": self.latest_checkpoint,
            "evaluated_checkpoint": self.evaluated_checkpoint,
            "last_full_evaluation_at": at.isoformat() if at is not None else None,
            "determinations": [d.to_dict() for d in self.determinations],
            "crossed_thresholds": list(self.crossed_thresholds),
            "warning": self.warning,
        }


def reasons_key(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    """Sorted ``(code, subject)`` pairs: equal keys mean "state and reasons unchanged".

    Values (a metric's number, the planned compute) are left out on purpose, so a
    reason that persists with a new value does not count as a transition.
    """
    return tuple(sorted((r.code, r.subject) for r in verdict.reasons))


# ----------------------------------------------------------------- public helpers


def expand_standards(
    codes: Iterable[str], standards: Mapping[str, StandardSpec]
) -> tuple[str, ...]:
    """``codes`` plus every standard they include, transitively (see :mod:`policies.rules`)."""
    return rules.expand_standards(codes, {c: s.includes for c, s in standards.items()})


def requirements_of(codes: Iterable[str], standards: Mapping[str, StandardSpec]) -> dict[str, str]:
    """Map each requirement of the closure of ``codes`` to the standard listing it."""
    return rules.requirement_owners(
        codes,
        {c: s.includes for c, s in standards.items()},
        {c: s.requirements for c, s in standards.items()},
    )


def _checkpoint_order(c: CheckpointInfo) -> tuple[datetime, float, tuple[int, int, str]]:
    return (c.created_at, c.effective_compute, _id_order(c.id))


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
    (not partial, enough samples), pre-mitigation evidence on it; see
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
        ((c.id, _checkpoint_order(c)) for c in evidence.checkpoints), dated, metrics
    )
    return (by_id[found], at) if found is not None else (None, None)


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
    ids = [c.id for c in evidence.checkpoints]
    if len(set(ids)) != len(ids):
        raise GateInputError("checkpoint ids are not unique")
    own = [c for c in evidence.checkpoints if c.own]
    latest = max(own, key=_checkpoint_order, default=None)
    planned = inp.planned_compute
    if latest is not None and (planned is None or planned < latest.effective_compute):
        planned = latest.effective_compute  # a model is already as far as its latest checkpoint

    reasons: list[Reason] = _pause_reasons(inp.pauses)
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
        return _verdict(reasons, scope=scope, planned=planned, latest=latest)
    if policy.warning_behaviour not in WARNING_BEHAVIOURS:
        raise GateInputError(f"unknown warning behaviour {policy.warning_behaviour!r}")
    codes = [t.code for t in policy.thresholds]
    if len(set(codes)) != len(codes):
        raise GateInputError("threshold codes are not unique")

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
    determinations, evidence_reasons = _determine(policy, inp, has_checkpoint=latest is not None)
    reasons.extend(evidence_reasons)

    required = _required_standards(policy, scope, determinations)
    reasons.extend(_halt_reasons(policy, scope, determinations))
    reasons.extend(_safeguard_reasons(policy, required, inp.safeguards, inp.now))

    last_checkpoint, last_at = last_full_evaluation(policy, evidence)
    if latest is not None:
        reasons.extend(_due_reasons(policy, planned, last_checkpoint, last_at, inp.now, reasons))
    reasons.extend(_approval_reasons(inp.approval, scope, planned, determinations, required))

    return _verdict(
        reasons,
        scope=scope,
        approval=inp.approval,
        planned=planned,
        latest=latest,
        policy=policy,
        required=required,
        last_checkpoint=last_checkpoint,
        last_at=last_at,
        determinations=determinations,
    )


def _verdict(
    reasons: list[Reason],
    *,
    scope: str,
    planned: float | None,
    latest: CheckpointInfo | None,
    approval: ApprovalInfo | None = None,
    policy: PolicySnapshot | None = None,
    required: tuple[str, ...] = (),
    last_checkpoint: CheckpointInfo | None = None,
    last_at: datetime | None = None,
    determinations: tuple[Determination, ...] = (),
) -> Verdict:
    ordered = tuple(sorted(reasons, key=lambda r: (_CODE_RANK[r.code], r.subject, r.message)))
    level = _required_level(policy, required) if policy is not None else None
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
        approved_decision=approval.decision_id if approval is not None else None,
        planned_compute=planned,
        latest_checkpoint=latest.name if latest is not None else None,
        evaluated_checkpoint=last_checkpoint.name if last_checkpoint is not None else None,
        last_full_evaluation_at=last_at,
        determinations=determinations,
        warning=any(
            d.status == "warning" or (d.tier == rules.EARLY_WARNING and d.status != "below")
            for d in determinations
        ),
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
    policy: PolicySnapshot, inp: GateInput, *, has_checkpoint: bool
) -> tuple[tuple[Determination, ...], list[Reason]]:
    """Classify every threshold on the capability evidence; explain failures."""
    names = {c.id: c.name for c in inp.evidence.checkpoints}
    by_metric: dict[str, list[ResultInfo]] = {}
    for r in inp.evidence.results:
        if r.mitigation != "post" and r.checkpoint_id in names:
            by_metric.setdefault(r.metric_key, []).append(r)
    precautions = {p.threshold: p for p in sorted(inp.precautions, key=lambda p: _id_order(p.id))}
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
    tally: MetricTally | None = None,
) -> IndicatorDetermination:
    """The indicator's determination from its capability evidence (pre-mitigation results).

    The most capable usable result at its conservative bound decides. Weak results are
    usable only where they reach a line. With ``tally``, ``results`` holds only the deciding
    candidates (see :class:`Evidence`) and the counts come from the tally.
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
        weak = rules.is_weak(partial=r.partial, n_samples=r.n_samples, min_samples=spec.min_samples)
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
    has_strong = tally.strong > 0 if tally is not None else _has_strong(results, spec)
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
    if spec.warning is None:
        return spec.critical
    if spec.higher_is_more_capable:
        return min(spec.warning, spec.critical)
    return max(spec.warning, spec.critical)


def _has_strong(results: Iterable[ResultInfo], spec: IndicatorSpec) -> bool:
    return any(
        not rules.is_weak(partial=r.partial, n_samples=r.n_samples, min_samples=spec.min_samples)
        for r in results
    )


def _more_capable(
    bound: float, result: ResultInfo, best_bound: float, best: ResultInfo, higher: bool
) -> bool:
    """Is ``bound`` more capable than ``best_bound``? Ties go to the later result id."""
    if bound != bound:  # NaN is the most capable value there is
        return best_bound == best_bound
    if best_bound != best_bound:
        return False
    if bound != best_bound:
        return bound > best_bound if higher else bound < best_bound
    return _id_order(result.id) > _id_order(best.id)


def _crossed_red_lines(determinations: Iterable[Determination]) -> tuple[str, ...]:
    return tuple(
        d.threshold
        for d in determinations
        if d.status in CROSSED_STATUSES and d.tier != rules.EARLY_WARNING
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


def _triggering(policy: PolicySnapshot, d: Determination) -> bool:
    """Does determination ``d`` make its threshold's standards required?"""
    if d.tier == rules.EARLY_WARNING:
        return policy.warning_behaviour == "require_safeguards" and d.status != "below"
    if d.status in CROSSED_STATUSES:
        return True
    return d.status == "warning" and policy.warning_behaviour == "require_safeguards"


def _required_standards(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> tuple[str, ...]:
    by_code = {t.code: t for t in policy.thresholds}
    codes = list(policy.baseline_standards)
    for d in determinations:
        if _triggering(policy, d):
            codes.extend(by_code[d.threshold].requires(scope))
    return expand_standards(codes, policy.standards)


def _halt_reasons(
    policy: PolicySnapshot, scope: Scope, determinations: tuple[Determination, ...]
) -> list[Reason]:
    """A crossed red line that halts, or whose standard for the scope is undefined."""
    by_code = {t.code: t for t in policy.thresholds}
    reasons = []
    for d in determinations:
        threshold = by_code[d.threshold]
        if threshold.early_warning or d.status not in CROSSED_STATUSES:
            continue
        needed = threshold.requires(scope)
        undefined = [c for c in needed if c not in policy.standards]
        if threshold.halt:
            why = "the policy says development stops once it is crossed"
        elif not needed:
            why = f"the policy defines no standard that allows {scope} past it"
        elif undefined:
            why = f"the standard it requires for {scope} ({', '.join(undefined)}) is not defined"
        else:
            continue
        state = "presumed crossed" if d.status == "presumed" else "crossed"
        reasons.append(
            Reason(
                code=THRESHOLD_CROSSED,
                message=(
                    f"Threshold {threshold.code} ({threshold.name}) is {state} and {why}; "
                    f"{scope} cannot continue until the policy defines a way forward."
                ),
                threshold=threshold.code,
            )
        )
    return reasons


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
    last: CheckpointInfo | None,
    last_at: datetime | None,
    now: datetime,
    so_far: list[Reason],
) -> list[Reason]:
    if last is None or last_at is None:
        if any(r.code == MISSING_EVIDENCE for r in so_far):
            return []  # missing evidence already says an evaluation is needed
        return [
            Reason(
                code=EVALUATION_DUE_COMPUTE,
                message=(
                    "No checkpoint has a complete evaluation (strong evidence for every "
                    "indicator of the policy on one checkpoint); a comprehensive capability "
                    "evaluation is due."
                ),
            )
        ]
    reasons: list[Reason] = []
    multiple = policy.effective_compute_multiple
    if planned is not None and rules.due_by_compute(planned, last.effective_compute, multiple):
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
    if rules.due_by_time(last_at, now, months):
        reasons.append(
            Reason(
                code=EVALUATION_DUE_TIME,
                message=(
                    f"The last full evaluation (checkpoint {last.name}, run on "
                    f"{_fmt_date(last_at)}) is {months} months old or more; the policy "
                    f"requires a comprehensive evaluation every {months} months."
                ),
                checkpoint=last.name,
            )
        )
    return reasons


def _approval_reasons(
    approval: ApprovalInfo | None,
    scope: str,
    planned: float | None,
    determinations: tuple[Determination, ...],
    required: tuple[str, ...],
) -> list[Reason]:
    if approval is None or approval.scope != scope:
        return [
            Reason(
                code=NO_APPROVAL,
                message=(
                    f"No approved {scope} decision covers this model; leadership must sign "
                    "one before it can proceed."
                ),
            )
        ]
    reasons = []
    crossed_now = set(_crossed_red_lines(determinations))
    new_crossings = (
        sorted(crossed_now - approval.crossed_thresholds)
        if approval.crossed_thresholds is not None
        else []
    )
    new_standards = (
        sorted(set(required) - approval.required_standards)
        if approval.required_standards is not None
        else []
    )
    if new_crossings or new_standards:
        parts = []
        if new_crossings:
            parts.append(f"threshold(s) {', '.join(new_crossings)} are now crossed or presumed")
        if new_standards:
            parts.append(f"standard(s) {', '.join(new_standards)} are now required")
        reasons.append(
            Reason(
                code=DECISION_OUTDATED,
                message=(
                    f"Decision {approval.decision_id} no longer describes the model: "
                    f"{'; '.join(parts)}, which its dossier did not show. A new decision is "
                    "needed."
                ),
                decision=approval.decision_id,
            )
        )
    limit = approval.compute_limit
    if planned is not None and limit is not None and not planned <= limit:
        reasons.append(
            Reason(
                code=EXCEEDS_APPROVED_COMPUTE,
                message=(
                    f"The planned effective compute ({_fmt_flop(planned)}) is above "
                    f"the limit of {_fmt_flop(limit)} approved by "
                    f"decision {approval.decision_id}."
                ),
                decision=approval.decision_id,
            )
        )
    return reasons


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


def _missing_reason(threshold: ThresholdSpec, indicator: IndicatorDetermination) -> Reason:
    if indicator.results:
        why = (
            f"only weak evidence (partial runs or too few samples) exists for "
            f"{indicator.metric}, which cannot show the model is below the line"
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


# ------------------------------------------------------------------------ plumbing


def _id_order(value: ObjectId) -> tuple[int, int, str]:
    # Integers compare numerically (10 after 9); strings after all integers.
    if isinstance(value, int):
        return (0, value, "")
    return (1, 0, str(value))


def _json_float(value: float | None) -> float | str | None:
    # Strict JSON has no NaN/Infinity; keep them visible as strings, not dropped.
    if value is None or value - value == 0:
        return value
    return str(value)


def _fmt_number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _fmt_flop(value: float) -> str:
    return f"{value:.4g} FLOP"


def _fmt_date(value: datetime) -> str:
    return value.date().isoformat()
