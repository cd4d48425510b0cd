from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    """The evidence: models, checkpoints, evaluation results and their imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"
