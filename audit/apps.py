from __future__ import annotations

from django.apps import AppConfig
from django.db.backends.signals import connection_created

#: The audit entry of a core write is appended first among RECORD's handlers (the only one).
RECORD_ORDER = 10
#: Gates trust the trail only within AUDIT_VERIFY_MAX_AGE_SECONDS of a passing verification,
#: which the beat runs every minute; while seeding none may be running (a fresh clone). So the
#: demo verifies as the beat would: before the first app seeds, again just before governance
#: (order 40) requests the demo's decision, and after every app seeded (issue 21).
DEMO_VERIFY_ORDERS = (5, 35, 90)


class AuditConfig(AppConfig):
    """The proof: the hash-chained, signed audit trail."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"

    def ready(self) -> None:
        from audit import wiring

        connection_created.connect(
            wiring.register_sqlite_functions, dispatch_uid="audit-sqlite-guard"
        )
        wiring.connect(RECORD_ORDER, DEMO_VERIFY_ORDERS)
        from audit import beat

        beat.connect()
