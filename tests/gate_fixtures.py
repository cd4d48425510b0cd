"""Builders for gate-engine inputs: a small policy, results, safeguards and a happy input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from governance.gate import (
    ApprovalInfo,
    CheckpointInfo,
    Evidence,
    GateInput,
    IndicatorSpec,
    PolicySnapshot,
    ResultInfo,
    SafeguardInfo,
    StandardSpec,
    ThresholdSpec,
    Verdict,
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


#: Every requirement of ASL-2 and ASL-3-S verified (what most crossing cases need).

ALL_VERIFIED = verified(*ASL2_REQUIREMENTS, *ASL3_S_REQUIREMENTS)
