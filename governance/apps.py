from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import Actor


class GovernanceConfig(AppConfig):
    """The verdict: scaling gate, safeguards, decisions, pauses."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"

    def ready(self) -> None:
        # The gate is recomputed inside the transaction of every write that can change it.
        # Evidence and policy writes call these hooks explicitly (no signals).
        from audit import verification
        from evaluations import services as evidence
        from governance import services
        from policies import services as policies

        if _on_evidence not in evidence.ON_EVIDENCE_CHANGED:
            evidence.ON_EVIDENCE_CHANGED.append(_on_evidence)
        if services.on_policy_activated not in policies.ON_ACTIVATE:
            policies.ON_ACTIVATE.append(services.on_policy_activated)
        if services.on_audit_outcome_changed not in verification.ON_OUTCOME_CHANGED:
            verification.ON_OUTCOME_CHANGED.append(services.on_audit_outcome_changed)


def _on_evidence(model: AIModel, cause: str = "evidence.change", actor: Actor = None) -> None:
    from governance import services

    services.on_evidence_changed(model, cause, actor)
