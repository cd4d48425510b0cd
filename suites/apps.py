from django.apps import AppConfig


class SuitesConfig(AppConfig):
    """Evaluation suites: definitions, scheduled and requested runs, their runners."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "suites"

    def ready(self) -> None:
        from core import outbox
        from suites import services

        # A run message whose first consumer died is settled once the run finished elsewhere.
        outbox.settle_when(services.RUN_TASK, services.run_settled)
