"""The delivery fields of Notification go: its delivery is its outbox message (see 0003)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0003_subscriptions_and_outbox"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="notification", name="notification_pending"),
        migrations.RemoveField(model_name="notification", name="status"),
        migrations.RemoveField(model_name="notification", name="attempts"),
        migrations.RemoveField(model_name="notification", name="last_error"),
        migrations.RemoveField(model_name="notification", name="sent_at"),
    ]
