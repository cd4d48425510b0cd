from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AuditConfig(AppConfig):
    """The proof: the hash-chained, signed audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"

    def ready(self) -> None:
        from audit.dbguard import register_sqlite_functions

        connection_created.connect(register_sqlite_functions, dispatch_uid="audit-sqlite-guard")
        from audit import beat

        beat.connect()
