from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    """The evidence: models, checkpoints, evaluation results, suites."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"

    def ready(self) -> None:
        # Suites, runs and the outbox live in their own module; registering them here keeps
        # them in this app (app label "evaluations") without growing models.py.
        from evaluations import suite_models  # noqa: F401
