from __future__ import annotations

from django.apps import AppConfig

#: Where this app's demo data is seeded among ``core.events.SEED_DEMO``'s handlers.
DEMO_ORDER = 30


class SuitesConfig(AppConfig):
    """Evaluation suites: definitions, scheduled and requested runs, their runners."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "suites"

    def ready(self) -> None:
        from core.events import SEED_DEMO, subscribe
        from suites.demo import seed_demo

        subscribe(SEED_DEMO, seed_demo, order=DEMO_ORDER)
