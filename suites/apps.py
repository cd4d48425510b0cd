from django.apps import AppConfig


class SuitesConfig(AppConfig):
    """Evaluation suites: definitions, scheduled and requested runs, their runners."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "suites"
