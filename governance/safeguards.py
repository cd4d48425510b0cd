"""The safeguards checklist of a model: every requirement of the active policy, whether the
model's gate requires it now, and its current status with expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance import adapter
from governance.models import GateState, SafeguardRecord, SafeguardState, Scope
from policies.rules import add_months

if TYPE_CHECKING:
    from evaluations.models import AIModel


def checklist(model: AIModel) -> list[dict[str, Any]]:
    """One row per requirement of the active policy, required ones first."""
    policy = adapter.active_version()
    if policy is None:
        return []
    state = GateState.objects.filter(model=model, scope=Scope.SCALING).first()
    required_standards = set(state.verdict.get("required_standards", [])) if state else set()
    current = SafeguardRecord.objects.select_related("recorded_by").latest_per_requirement(model)
    rows = []
    for requirement in adapter.requirements(policy):
        record = current.get(requirement["code"])
        expires_at = None
        if record and record.status == SafeguardState.VERIFIED:
            expires_at = add_months(record.recorded_at, policy.safeguard_reapproval_months)
        rows.append(
            {
                "requirement_code": requirement["code"],
                "title": requirement["title"],
                "evidence_expected": requirement["evidence"],
                "standards": requirement["standards"],
                "required": bool(required_standards & set(requirement["standards"])),
                "status": record.status if record else None,
                "evidence_url": record.evidence_url if record else "",
                "notes": record.notes if record else "",
                "recorded_by": record.recorded_by.username if record else None,
                "recorded_at": record.recorded_at if record else None,
                "expires_at": expires_at,
            }
        )
    rows.sort(key=lambda row: (not row["required"], row["requirement_code"]))
    return rows
