from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.verification import run_verification


class Command(BaseCommand):
    help = (
        "Verify the stored audit trail: every leaf hash recomputes from its body, seq runs "
        "0..N-1, each entry names the previous hash, every signed checkpoint verifies with the "
        "public key (AUDIT_PUBLIC_KEY_FILE) and matches the Merkle root of the entries it covers, "
        "the filter columns (ts, actor, action, object type and id, model) equal the hashed body, "
        "and the log head matches the last entry. Records the outcome for the auditors' status "
        "page. Prints 'OK: N entries, K checkpoints' and exits 0, or prints the first fault "
        "(naming the first bad seq when there is one) and exits 1."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        outcome, _ = run_verification("manage.py verify_audit")
        if not outcome.ok:
            raise CommandError(f"FAIL: {outcome.message}", returncode=1)
        self.stdout.write(outcome.message)
