from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verification import ExportError, export_bundle


class Command(BaseCommand):
    help = (
        "Export the audit trail as a bundle directory DIR that auditors verify offline: "
        "entries.jsonl (exact hashed bodies), checkpoints.jsonl (signed notes), public_key.pem, "
        "manifest.json, verify_bundle.py and VERIFY.md. The export is not judged: run "
        "`python3 DIR/verify_bundle.py DIR` (needs only Python and `cryptography`) to check it. "
        "DIR is created if needed and must not already hold a bundle."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", metavar="DIR", help="where to write the bundle")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = export_bundle(options["directory"])
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Exported {manifest['entries']} entries and {manifest['checkpoints']} checkpoints "
            f"to {options['directory']}. Verify with: "
            f"python3 {options['directory']}/verify_bundle.py {options['directory']}"
        )
