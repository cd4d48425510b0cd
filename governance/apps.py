from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """The verdict: scaling gate, safeguards, decisions, pauses."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "governance"
