from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Compare every stored gate with a recomputation and store the recomputation (what the "
        "periodic governance-sweep-gates task does every 5 minutes). A stored row whose MAC "
        "does not verify, or whose state differs from the engine's, is recorded in the audit "
        "trail as gate.mismatch and notified."
    )

    def handle(self, *args: object, **options: object) -> None:
        from governance.tasks import sweep_gates

        count = sweep_gates()
        self.stdout.write(f"OK: {count} models' gates compared and recomputed")
