from __future__ import annotations

from django.apps import AppConfig

#: Before the gate's handler (``governance.apps.GATE_ORDER``): the gate reads the summary
#: under the new policy's lens.
SUMMARY_ORDER = 10


class EvaluationsConfig(AppConfig):
    """The evidence: models, checkpoints, evaluation results and their imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"

    def ready(self) -> None:
        from core.events import subscribe
        from evaluations.services import rebuild_summaries
        from policies.services import POLICY_ACTIVATED

        subscribe(POLICY_ACTIVATED, rebuild_summaries, order=SUMMARY_ORDER)
