"""Suite runs' messages move to the one outbox (core.OutboxMessage, ADR 0014): unpublished
messages carry over as pending ones, then the old outbox table goes."""

from django.db import migrations
from django.utils import timezone


def carry_over(apps, schema_editor):
    Old = apps.get_model("suites", "OutboxMessage")
    New = apps.get_model("core", "OutboxMessage")
    now = timezone.now()
    New.objects.bulk_create(
        New(topic=m.topic, payload=m.payload, created_at=m.created_at, available_at=now)
        for m in Old.objects.filter(published_at__isnull=True).order_by("id")
    )


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0005_outbox"),
        ("suites", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.DeleteModel(name="OutboxMessage"),
    ]
