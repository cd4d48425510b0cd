from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask


class Command(BaseCommand):
    help = (
        "Health check of celery beat: exits 1 unless a periodic task was sent within MAX_AGE "
        "seconds. The database scheduler records each send and saves it at least every 3 "
        "minutes, and the outbox relay is due every 10 seconds, so a running beat stays fresh."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age",
            type=int,
            default=600,
            help="seconds since the latest send (default 600: three missed saves and more)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        latest = PeriodicTask.objects.filter(enabled=True).aggregate(at=Max("last_run_at"))["at"]
        if latest is None:
            raise CommandError("beat has not sent any periodic task yet")
        age = timezone.now() - latest
        if age > timedelta(seconds=options["max_age"]):
            raise CommandError(
                f"beat is stale: the latest periodic task was sent {age.total_seconds():.0f} s "
                f"ago (limit {options['max_age']} s)"
            )
        self.stdout.write(f"OK: beat sent a periodic task {age.total_seconds():.0f} s ago")
