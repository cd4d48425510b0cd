from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    """The rules: versioned policies, levels, standards, thresholds."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "policies"
