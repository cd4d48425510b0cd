from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The proof: the hash-chained, signed audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
