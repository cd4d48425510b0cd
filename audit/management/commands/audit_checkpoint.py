from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import CheckpointError, make_checkpoint


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the committed audit log now, as the worker's periodic "
        "audit-checkpoint task does (needs AUDIT_SIGNING_KEY_FILE), and append it to the "
        "external checkpoint log. Does nothing when the log has not grown. `make demo` runs it "
        "before seeding, so a demo left without its worker still verifies."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = make_checkpoint()
        except CheckpointError as exc:
            raise CommandError(str(exc)) from None
        if checkpoint is None:
            self.stdout.write("No new entries: nothing to sign.")
        else:
            self.stdout.write(f"Signed a checkpoint of {checkpoint.size} entries.")
