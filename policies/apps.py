from __future__ import annotations

from django.apps import AppConfig

#: Where this app's demo data is seeded among ``core.events.SEED_DEMO``'s handlers.
DEMO_ORDER = 10


class PoliciesConfig(AppConfig):
    """The rules: versioned policies, levels, standards, thresholds."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "policies"

    def ready(self) -> None:
        from core.events import SEED_DEMO, subscribe
        from policies.demo import seed_demo

        subscribe(SEED_DEMO, seed_demo, order=DEMO_ORDER)
