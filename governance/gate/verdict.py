"""The engine's output: reasons, determinations and the verdict, JSON-safe via ``to_dict``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governance.gate.codes import (
    CROSSED_STATUSES,
    RANK,
    GateState,
    IndicatorStatus,
    ObjectId,
    ThresholdStatus,
)
from governance.gate.values import json_float
from policies import rules

#: The fields that say what a reason is about, in the order a subject names them.
SUBJECT_FIELDS = (
    "threshold",
    "metric",
    "standard",
    "requirement",
    "checkpoint",
    "decision",
    "pause",
    "commitment",
)


def subject_of(reason: Mapping[str, object]) -> str:
    """What a reason (as stored: a dict) is about, without values; stable while the problem
    lasts. A reason about a standard names its ``threshold`` only as the crossing that
    raised the standard: context, not subject (a second crossing raising the same standard
    does not make its safeguards new problems)."""
    about_standard = reason.get("standard") is not None
    return " ".join(
        f"{key}={reason[key]}"
        for key in SUBJECT_FIELDS
        if reason.get(key) is not None and not (key == "threshold" and about_standard)
    )


@dataclass(frozen=True, kw_only=True)
class Reason:
    """One failed check: a stable ``code``, a plain-English message, its subject.

    ``threshold`` is the threshold the reason is about (``threshold_crossed``,
    ``missing_evidence``) or, on a reason about a standard's safeguards, the crossing that
    raised that standard (``None``: the policy's baseline).
    """

    code: str
    message: str
    threshold: str | None = None
    metric: str | None = None
    requirement: str | None = None
    standard: str | None = None
    decision: ObjectId | None = None
    checkpoint: str | None = None
    pause: ObjectId | None = None
    commitment: str | None = None

    @property
    def subject(self) -> str:
        """What the reason is about, without values (:func:`subject_of`)."""
        return subject_of(self.to_dict())

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
            "commitment": self.commitment,
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
            "value": json_float(self.value),
            "bound": json_float(self.bound),
            "stderr": json_float(self.stderr),
            "result_id": self.result_id,
            "checkpoint": self.checkpoint,
            "weak": self.weak,
            "results": self.results,
            "ignored_weak": self.ignored_weak,
            "critical": json_float(self.critical),
            "warning": json_float(self.warning),
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
        """The distinct reason codes, in the reason table's order (``RANK``)."""
        present = {r.code for r in self.reasons}
        return tuple(sorted(present, key=lambda code: RANK.get(code, len(RANK))))

    @property
    def crossed_thresholds(self) -> tuple[str, ...]:
        """Codes of the red lines determined crossed or presumed crossed (early warnings
        only warn: they are in ``determinations`` and raise ``warning``)."""
        return crossed_red_lines(self.determinations)

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
            "approved_compute_limit": json_float(self.approved_compute_limit),
            "approved_decision": self.approved_decision,
            "planned_compute": json_float(self.planned_compute),
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


def crossed_red_lines(determinations: Iterable[Determination]) -> tuple[str, ...]:
    return tuple(
        d.threshold
        for d in determinations
        if d.status in CROSSED_STATUSES and d.tier != rules.EARLY_WARNING
    )
