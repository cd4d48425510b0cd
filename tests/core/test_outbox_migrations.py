"""The move to one outbox: pending suite-run messages and notification deliveries carry over to
core.OutboxMessage, webhook endpoints become webhook subscriptions, the old relays leave beat."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.dbguard_escape import install_test_flush_escape

BEFORE = [
    ("core", "0004_activation_moved_to_policies"),
    ("suites", "0001_initial"),
    ("governance", "0002_determinations"),
    ("django_celery_beat", "0019_alter_periodictasks_options"),
]
AFTER = [
    ("core", "0005_outbox"),
    ("suites", "0002_outbox_moves_to_core"),
    ("governance", "0004_notification_delivery_fields_go"),
]


@pytest.mark.django_db(transaction=True)
def test_pending_rows_carry_over_to_the_one_outbox_and_the_old_relays_go() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Old = old.get_model("suites", "OutboxMessage")
    Old.objects.create(topic="evaluations.run_suite", payload={"run_id": 7})
    Old.objects.create(
        topic="evaluations.run_suite", payload={"run_id": 8}, published_at=timezone.now()
    )
    endpoint = old.get_model("governance", "WebhookEndpoint").objects.create(
        name="ops", url="https://example.org/hook", secret="s"
    )
    Notification = old.get_model("governance", "Notification")
    body = {"event": "model.paused", "model": "atlas"}
    Notification.objects.create(event="model.paused", payload=body, endpoint=endpoint, attempts=2)
    Notification.objects.create(
        event="model.paused",
        payload=body,
        recipients=["a@example.org"],
        status="sent",
        attempts=1,
        sent_at=timezone.now(),
    )
    Notification.objects.create(
        event="model.paused",
        payload=body,
        endpoint=endpoint,
        status="failed",
        attempts=6,
        last_error="HTTP 503",
    )
    every = old.get_model("django_celery_beat", "IntervalSchedule").objects.create(
        every=10, period="seconds"
    )
    PeriodicTask = old.get_model("django_celery_beat", "PeriodicTask")
    for task in ("evaluations.relay_outbox", "governance.relay_notifications", "audit.verify"):
        PeriodicTask.objects.create(name=task, task=task, interval=every)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps

    messages = new.get_model("core", "OutboxMessage").objects
    suite = messages.filter(topic="evaluations.run_suite")
    assert [(m.payload, m.status) for m in suite] == [({"run_id": 7}, "pending")]
    notes = new.get_model("governance", "Notification").objects.order_by("pk")
    delivery = [
        (n.channel, n.subscription_id is not None, n.message.status, n.message.attempts)
        for n in notes.select_related("message")
    ]
    assert delivery == [
        ("webhook", True, "pending", 2),
        ("email", False, "done", 1),
        ("webhook", True, "dead", 6),
    ]
    assert notes.last().message.last_error == "HTTP 503"
    subscription = new.get_model("governance", "Subscription").objects.get()
    assert (subscription.kind, subscription.target) == ("webhook", "https://example.org/hook")
    remaining = new.get_model("django_celery_beat", "PeriodicTask").objects
    assert list(remaining.values_list("task", flat=True)) == ["audit.verify"]

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # Migrations install the production trigger function again: restore the test runner's
    # flush escape, or the end-of-test flush is refused (tests/dbguard_escape.py).
    install_test_flush_escape(connection)
