"""The engine's input: the policy, the evidence and the sign-off state, as frozen plain data.

Inputs are keyword-only: positional construction would let an adapter swap e.g. ``warning``
and ``critical`` without any type error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from governance.gate.codes import (
    GateInputError,
    ObjectId,
    SafeguardStatus,
    Scope,
    WarningBehaviour,
)
from policies import rules


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
    #: Triggers of the policy's gating commitments; empty: nothing to ask.
    gating_commitment_triggers: frozenset[str] = frozenset()
    #: When the first periodic gating commitment can fall due (activation + its period).
    first_periodic_due: datetime | None = None

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
    #: An ancestor's checkpoint reached through a parent link that is only claimed (not yet
    #: confirmed): its results can show danger, never safety (they count as weak evidence),
    #: and it never stands as the last full evaluation.
    claimed: bool = False


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
    ``policy_version_id`` is the version it was signed under (``None``: the active one);
    under another version it stays in force only while ``determinations`` (its dossier's
    threshold → status) and ``required_standards`` are what the active version gives.
    """

    decision_id: ObjectId
    compute_limit: float | None
    approved_at: datetime
    scope: str = "scaling"
    crossed_thresholds: frozenset[str] | None = None
    required_standards: frozenset[str] | None = None
    policy_version_id: ObjectId | None = None
    policy_version_label: str = ""
    determinations: Mapping[str, str] | None = None
    #: The checkpoints a deployment decision deploys (``None``: not a deployment decision,
    #: or one that named none and is read by its compute limit).
    checkpoints: frozenset[str] | None = None


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
class OverdueCommitment:
    """A gating procedural commitment past its deadline."""

    code: str
    text: str
    due_at: datetime
    source: str


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
    overdue_commitments: tuple[OverdueCommitment, ...] = ()
