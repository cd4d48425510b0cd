from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Identity and operations: users, roles, sign-off titles, API tokens, worker heartbeat."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
    verbose_name = "Accounts and operations"
