"""The one transactional outbox (core.outbox): written in the caller's transaction, sent after
commit, relayed when the broker was down, claimed so that nothing runs twice, dead after its
attempts. The last tests use real PostgreSQL, Redis and a Celery worker process."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from core import outbox
from core.models import OutboxMessage, OutboxStatus
from governance import notifications, transports
from governance.models import Channel, Notification, Subscription

TOPIC = "core.heartbeat"  # any task name: these unit tests never reach a broker


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ids of messages handed to the broker (replaced by this list)."""
    ids: list[int] = []
    monkeypatch.setattr(outbox, "_send", lambda m: ids.append(m.pk))
    return ids


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every send fails as kombu does when Redis is unreachable."""
    tried: list[int] = []

    def refuse(message: OutboxMessage) -> None:
        tried.append(message.pk)
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(outbox, "_send", refuse)
    return tried


def _due(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        available_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_a_message_is_written_in_the_callers_transaction_and_rolled_back_with_it(
    sent, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        message = outbox.enqueue(TOPIC, {"nonce": "n"})
        assert OutboxMessage.objects.filter(pk=message.pk).exists()  # same transaction
        raise RuntimeError("the caller's change failed")
    assert callbacks == [] and sent == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_committed_message_is_sent_once_after_commit(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox.enqueue(TOPIC, {"nonce": "n"})
        assert sent == []
    assert sent == [message.pk]
    assert outbox.relay() == 0  # not due again until the send lease lapses
    assert sent == [message.pk]


@pytest.mark.django_db
def test_broker_down_at_commit_then_the_relay_delivers(
    broker_down, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox.enqueue(TOPIC, {"nonce": "n"})
    assert broker_down == [message.pk]  # tried at commit, refused, not raised
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert message.available_at <= timezone.now()  # due at once for the relay
    assert "Error 111" in message.last_error
    assert any("the relay will retry" in r.getMessage() for r in caplog.records)
    assert outbox.relay() == 0  # still down: nothing sent, still due
    assert OutboxMessage.objects.filter(available_at__lte=timezone.now()).count() == 1

    delivered: list[dict[str, Any]] = []
    monkeypatch.setattr(outbox, "_send", lambda m: delivered.append(m.payload))
    assert outbox.relay() == 1
    assert delivered == [{"nonce": "n"}]


@pytest.mark.django_db
def test_the_relay_run_twice_sends_once_and_the_consumer_run_twice_works_once(sent):
    with transaction.atomic():
        message = outbox.enqueue(TOPIC, {})
    _due(message)
    assert outbox.relay() == 1
    assert outbox.relay() == 0
    assert sent == [message.pk]
    # A duplicate send (a redelivery, a lapsed send lease) reaches the consumer twice.
    runs: list[int] = []
    assert outbox.consume(message.pk, runs.append, 1) is None
    assert outbox.consume(message.pk, runs.append, 2) is None
    assert runs == [1]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.DONE, 1)
    _due(message)
    assert outbox.relay() == 0  # done messages are never sent again


@pytest.mark.django_db
def test_a_message_held_by_a_consumer_is_not_taken_until_its_claim_lapses():
    with transaction.atomic():
        message = outbox.enqueue(TOPIC, {})
    assert outbox.claim(message.pk) == 1
    assert outbox.claim(message.pk) is None  # held
    OutboxMessage.objects.filter(pk=message.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.claim(message.pk) == 2  # the first consumer died
    outbox.succeed(message.pk, 1)  # the first consumer's late answer changes nothing
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    outbox.succeed(message.pk, 2)
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE


@pytest.mark.django_db
def test_a_poison_message_backs_off_then_dies_and_an_operator_can_send_it_again(
    sent, admin_user, caplog
):
    with transaction.atomic():
        message = outbox.enqueue(TOPIC, {}, max_attempts=3)

    def poison() -> None:
        raise ValueError("cannot parse the payload")

    waits = []
    for _ in range(3):
        before = timezone.now()
        assert outbox.consume(message.pk, poison) is None  # recorded, never raised
        message.refresh_from_db()
        waits.append(message.available_at - before)
    assert message.status == OutboxStatus.DEAD and message.attempts == 3
    assert message.last_error == "ValueError: cannot parse the payload"
    assert waits[0] >= outbox.backoff(1) and waits[1] >= outbox.backoff(2) > outbox.backoff(1)
    assert [r.levelname for r in caplog.records if "is dead" in r.getMessage()] == ["ERROR"]
    _due(message)
    assert outbox.relay() == 0 and sent == []  # a dead message is not sent again by itself
    assert outbox.consume(message.pk, poison) is None  # nor run
    assert outbox.backoff(100) == outbox.RETRY_MAX

    assert outbox.send_again(message, actor=admin_user)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
    assert AuditEntry.objects.filter(action="outbox.send_again").count() == 1
    assert outbox.relay() == 1 and sent == [message.pk]


@pytest.mark.django_db
def test_a_message_whose_last_consumer_died_is_dead_not_sent_forever(sent):
    with transaction.atomic():
        message = outbox.enqueue(TOPIC, {}, max_attempts=1)
    assert outbox.claim(message.pk) == 1  # ... and the worker is killed mid-run
    OutboxMessage.objects.filter(pk=message.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    _due(message)
    assert outbox.relay() == 0 and sent == []
    message.refresh_from_db()
    assert message.status == OutboxStatus.DEAD
    assert "stopped without an answer" in message.last_error


@pytest.mark.django_db
def test_pruning_keeps_dead_and_recent_messages_and_a_notification_stays_delivered(sent):
    Subscription.objects.create(name="ops", kind=Channel.SLACK, target="https://x.example/")
    with transaction.atomic():
        [notification] = notifications.notify("model.paused", {"model": "atlas"}, roles=())
        dead = outbox.enqueue(TOPIC, {})
        recent = outbox.enqueue(TOPIC, {})
    old = timezone.now() - timedelta(days=8)
    OutboxMessage.objects.filter(pk=notification.message_id).update(status="done", done_at=old)
    OutboxMessage.objects.filter(pk=dead.pk).update(status="dead")
    OutboxMessage.objects.filter(pk=recent.pk).update(status="done", done_at=timezone.now())
    assert outbox.prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {dead.pk, recent.pk}
    notification = Notification.objects.get()
    assert notification.message is None and notification.delivery_status == OutboxStatus.DONE


@pytest.mark.django_db
def test_the_relay_is_a_beat_entry_every_ten_seconds_and_the_old_relays_are_gone(settings):
    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["core.relay_outbox"] == 10.0
    assert "evaluations.relay_outbox" not in entries
    assert "governance.relay_notifications" not in entries


# --- Real PostgreSQL, Redis and a worker process ----------------------------------------------


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.headers[transports.SIGNATURE_HEADER], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _wait_done(message_id: int, timeout: float = 30) -> OutboxMessage:
    deadline = time.monotonic() + timeout
    while True:
        message = OutboxMessage.objects.get(pk=message_id)
        if message.status != OutboxStatus.PENDING:
            return message
        assert time.monotonic() < deadline, f"still pending: {message.last_error}"
        time.sleep(0.2)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_notification_round_trips_through_redis_and_a_worker_process(hook, celery_worker):
    Subscription.objects.create(name="ops", kind=Channel.WEBHOOK, target=hook, secret="s3cret")
    with transaction.atomic():
        [notification] = notifications.notify("model.paused", {"model": "atlas"}, roles=())
    message = _wait_done(notification.message_id)
    assert (message.status, message.attempts) == (OutboxStatus.DONE, 1), message.last_error
    [(signature, body)] = _Hook.received
    assert transports.verify_signature(body, signature, "s3cret")
    assert json.loads(body)["event"] == "model.paused"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_send_a_due_message_once_and_the_worker_delivers_it_once(
    hook, celery_worker
):
    Subscription.objects.create(name="ops", kind=Channel.WEBHOOK, target=hook, secret="s")
    # Written but never sent (a crash between commit and send), and due.
    due = timezone.now() - timedelta(seconds=1)
    messages = [
        OutboxMessage.objects.create(topic=notifications.SEND_TASK, available_at=due)
        for _ in range(5)
    ]
    with transaction.atomic():
        for message in messages:
            Notification.objects.create(
                event="model.paused",
                payload={"event": "model.paused", "model": "atlas"},
                channel=Channel.WEBHOOK,
                subscription=Subscription.objects.get(),
                message=message,
            )
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def relay() -> None:
        try:
            barrier.wait(timeout=10)
            counts.append(outbox.relay())
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(counts) == 5, counts
    for message in messages:
        assert _wait_done(message.pk).status == OutboxStatus.DONE
    assert len(_Hook.received) == 5
