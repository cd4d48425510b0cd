"""Webhook endpoints become subscriptions with a channel kind; notification delivery moves to
the one outbox (core.OutboxMessage): every delivery carries over as a message (pending, done or
dead). The old delivery fields go in 0004 (PostgreSQL alters no table with pending triggers)."""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

SEND_TASK = "governance.send_notification"
MAX_ATTEMPTS = 6


def carry_over(apps, schema_editor):
    Notification = apps.get_model("governance", "Notification")
    OutboxMessage = apps.get_model("core", "OutboxMessage")
    Notification.objects.filter(subscription__isnull=False).update(channel="webhook")
    now = timezone.now()
    for notification in Notification.objects.all().iterator():
        attempts = min(notification.attempts, MAX_ATTEMPTS)
        if notification.status == "sent":
            status, done_at = "done", notification.sent_at or now
        elif notification.status == "failed" or attempts >= MAX_ATTEMPTS:
            status, done_at = "dead", None
        else:
            status, done_at = "pending", None
        message = OutboxMessage.objects.create(
            topic=SEND_TASK,
            payload={},
            status=status,
            attempts=attempts,
            max_attempts=MAX_ATTEMPTS,
            available_at=now,
            last_error=notification.last_error,
            created_at=notification.created_at,
            done_at=done_at,
        )
        notification.message = message
        notification.save(update_fields=["message"])


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0005_outbox"),
        ("governance", "0002_determinations"),
    ]

    operations = [
        migrations.RenameModel("WebhookEndpoint", "Subscription"),
        migrations.RenameField("subscription", "url", "target"),
        migrations.AlterField(
            model_name="subscription",
            name="target",
            field=models.CharField(
                help_text="the webhook or Slack URL (https), or the e-mail address, per the kind",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="subscription",
            name="kind",
            field=models.CharField(
                choices=[
                    ("email", "E-mail"),
                    ("webhook", "Signed webhook"),
                    ("slack", "Slack incoming webhook"),
                ],
                default="webhook",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="secret",
            field=models.CharField(
                blank=True,
                help_text="signed webhooks only: shared secret for the X-RSP-Signature header",
                max_length=128,
            ),
        ),
        migrations.RenameField("notification", "endpoint", "subscription"),
        migrations.AddField(
            model_name="notification",
            name="channel",
            field=models.CharField(
                choices=[
                    ("email", "E-mail"),
                    ("webhook", "Signed webhook"),
                    ("slack", "Slack incoming webhook"),
                ],
                default="email",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="message",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="notification",
                to="core.outboxmessage",
            ),
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
    ]
