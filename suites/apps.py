from __future__ import annotations

from django.apps import AppConfig

#: Where this app's demo data is seeded among ``core.events.SEED_DEMO``'s handlers.
DEMO_ORDER = 30


class SuitesConfig(AppConfig):
    """Evaluation suites: definitions, scheduled and requested runs, their runners."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "suites"

    def ready(self) -> None:
        from core import outbox
        from core.events import SEED_DEMO, subscribe
        from suites import runner_command, runner_inspect, services  # noqa: F401  (runners register on import)
        from suites.demo import seed_demo

        subscribe(SEED_DEMO, seed_demo, order=DEMO_ORDER)

        # A run message whose first consumer died is settled once the run finished elsewhere.
        outbox.settle_when(services.RUN_TASK, services.run_settled)
