from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created

#: The audit entry of a core write is appended first among RECORD's handlers (the only one).
RECORD_ORDER = 10
#: After every app seeded its demo data: gates trust the trail only after a verification.
DEMO_VERIFY_ORDER = 90


class AuditConfig(AppConfig):
    """The proof: the hash-chained, signed audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"

    def ready(self) -> None:
        from audit import wiring

        connection_created.connect(
            wiring.register_sqlite_functions, dispatch_uid="audit-sqlite-guard"
        )
        wiring.connect(RECORD_ORDER, DEMO_VERIFY_ORDER)
        from audit import beat

        beat.connect()
