"""The late-evaluation register: every evaluation that fell due, when, when it was done, how late.

Derived from the gate's transitions, which record each change of reasons as it happened (and,
for a change that falls due by time alone, as of the moment it fell due): an interval during
which the scaling gate carried ``evaluation_due_compute`` or ``evaluation_due_time`` is one due
evaluation; it ends when a transition no longer carries that reason (the full evaluation was
done). Nothing is stored twice, so the register cannot disagree with the gate's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from governance.gate.codes import EVALUATION_DUE_COMPUTE, EVALUATION_DUE_TIME
from governance.models import GateTransition, Scope

DUE_CODES = (EVALUATION_DUE_COMPUTE, EVALUATION_DUE_TIME)
TRIGGER_LABELS = {
    EVALUATION_DUE_COMPUTE: "effective compute grew past the policy's multiple",
    EVALUATION_DUE_TIME: "the policy's months between assessments passed",
}


@dataclass(frozen=True)
class LateEvaluation:
    """One evaluation that fell due."""

    model: str
    trigger: str
    fell_due_at: datetime
    completed_at: datetime | None

    @property
    def trigger_label(self) -> str:
        return TRIGGER_LABELS.get(self.trigger, self.trigger)

    def days_late(self, now: datetime | None = None) -> float:
        end = self.completed_at or now or timezone.now()
        return round(max(0.0, (end - self.fell_due_at).total_seconds() / 86400), 2)

    def to_dict(self, now: datetime | None = None) -> dict[str, object]:
        return {
            "model": self.model,
            "trigger": self.trigger,
            "fell_due_at": self.fell_due_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "days_late": self.days_late(now),
            "open": self.completed_at is None,
        }


def _codes(reasons: Iterable[object]) -> set[str]:
    return {str(r.get("code")) for r in reasons if isinstance(r, Mapping)}


def register(models: Iterable[object] | None = None) -> list[LateEvaluation]:
    """The register for ``models`` (all when None), newest first. One query."""
    transitions = GateTransition.objects.filter(scope=Scope.SCALING).select_related("model")
    if models is not None:
        transitions = transitions.filter(model__in=list(models))
    open_since: dict[tuple[str, str], datetime] = {}
    found: list[LateEvaluation] = []
    for t in transitions.order_by("model_id", "created_at", "pk").only(
        "model__slug", "reasons", "created_at"
    ):
        codes = _codes(t.reasons or [])
        for code in DUE_CODES:
            key = (t.model.slug, code)
            if code in codes and key not in open_since:
                open_since[key] = t.created_at
            elif code not in codes and key in open_since:
                found.append(LateEvaluation(t.model.slug, code, open_since.pop(key), t.created_at))
    found.extend(
        LateEvaluation(slug, code, since, None) for (slug, code), since in open_since.items()
    )
    return sorted(found, key=lambda e: e.fell_due_at, reverse=True)
