from __future__ import annotations

from django.apps import AppConfig

#: Before the gate's handler (``governance.apps.GATE_ORDER``): the gate reads the summary
#: under the new policy's lens.
SUMMARY_ORDER = 10
#: Where the evidence's demo data is seeded (after the policy's, before the suites').
DEMO_ORDER = 20


class EvaluationsConfig(AppConfig):
    """The evidence: models, checkpoints, evaluation results and their imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"

    def ready(self) -> None:
        from evaluations import wiring

        wiring.connect(SUMMARY_ORDER, DEMO_ORDER)
