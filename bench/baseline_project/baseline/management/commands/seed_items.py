"""Fill the baseline table with 10,000 rows (idempotent: an already full table is kept)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from baseline.models import Item

ROWS = 10_000


class Command(BaseCommand):
    help = "Create the 10,000 rows the baseline endpoints read."

    def handle(self, *args: Any, **options: Any) -> None:
        if Item.objects.count() >= ROWS:
            return
        start = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            Item(
                name=f"item-{n:05d}",
                category=f"category-{n % 37}",
                description=f"Item {n}: a description about a hundred characters long, "
                "to look like ordinary row content.",
                quantity=n % 1000,
                price=Decimal(n % 10_000) / 100,
                score=n / 7,
                active=n % 3 != 0,
                created_at=start + timedelta(minutes=n),
                uid=uuid.UUID(int=n),
                code=f"C{n:08d}",
            )
            for n in range(1, ROWS + 1)
        ]
        Item.objects.bulk_create(rows, batch_size=1000)
        # The statistics a running database has (autovacuum), as the app's seed does.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
