from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    """The evidence: models, checkpoints, evaluation results and their imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"

    def ready(self) -> None:
        from policies import services as policies

        # Before the gate's own hook: the gate reads the summary under the new policy's lens.
        if _rebuild_summaries not in policies.ON_ACTIVATE:
            policies.ON_ACTIVATE.insert(0, _rebuild_summaries)


def _rebuild_summaries(version: object) -> None:
    """Re-summarise the evidence under the newly active policy (``evaluations.summary``)."""
    from evaluations import summary
    from evaluations.policy import active_policy_view

    policy = active_policy_view()
    if policy is not None:
        summary.rebuild_all(summary.lens_of_view(policy))
