"""``manage.py export_policy [--version ID] [--output FILE]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from policies import services


class Command(BaseCommand):
    help = (
        "Export a policy version (default: the active one) as a policy pack in YAML, to "
        "stdout or --output FILE. Audited as policy.export."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version (a policy version id) replaces Django's --version (its own release).
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--version",
            dest="version_id",
            type=int,
            metavar="ID",
            help="policy version id (default: the active version)",
        )
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["version_id"] is not None:
            version = services.version_with_children(options["version_id"])
            if version is None:
                raise CommandError(f"--version: no policy version #{options['version_id']}")
        else:
            version = services.active_policy()
            if version is None:
                raise CommandError("no policy version is active; give --version ID")
        text = services.export(version)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(
                f"Wrote policy version #{version.pk} ({version.status}) to {options['output']}"
            )
        else:
            self.stdout.write(text, ending="")
