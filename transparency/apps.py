from django.apps import AppConfig


class TransparencyConfig(AppConfig):
    """What outsiders see and how they speak up: the public view, noncompliance reports,
    incidents, and the recorded acts that make a model public (docs/transparency.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "transparency"
