"""Notifications: e-mail to the people concerned, webhooks signed with HMAC-SHA256, retried."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from django.core import mail

from governance import notifications
from governance.models import DeliveryStatus, Notification, WebhookEndpoint
from governance.tasks import deliver_notification
from tests.governance_fixtures import activate_default_policy, make_model

pytestmark = pytest.mark.django_db


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_next:
            _Receiver.fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    _Receiver.fail_next = 0
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _deliver_all() -> None:
    """Run the delivery task body directly (a unit test of the task, not of Celery)."""
    for pk in Notification.objects.filter(status=DeliveryStatus.PENDING).values_list(
        "pk", flat=True
    ):
        # A failure makes the task ask Celery for a retry; here the caller simply runs it again.
        with contextlib.suppress(Exception):
            deliver_notification.run(pk)


def test_a_gate_transition_is_delivered_to_a_signed_webhook(receiver):
    WebhookEndpoint.objects.create(
        name="ops", url=receiver, secret="s3cret", events=["gate.transition"]
    )
    activate_default_policy()
    make_model()
    _deliver_all()
    assert _Receiver.received, "no webhook delivery"
    headers, body = _Receiver.received[0]
    assert notifications.verify_signature(
        body, headers[notifications.SIGNATURE_HEADER.lower()], "s3cret"
    )
    assert not notifications.verify_signature(
        body, headers[notifications.SIGNATURE_HEADER.lower()], "wrong"
    )
    assert not notifications.verify_signature(
        body + b" ", headers[notifications.SIGNATURE_HEADER.lower()], "s3cret"
    )
    payload = json.loads(body)
    assert payload["event"] == "gate.transition"
    assert payload["model"] == "atlas"
    assert Notification.objects.filter(endpoint__isnull=False, status=DeliveryStatus.SENT).exists()


def test_a_failing_webhook_is_retried_then_marked_failed(receiver):
    WebhookEndpoint.objects.create(name="ops", url=receiver, secret="s", events=["gate.transition"])
    activate_default_policy()
    make_model()
    _Receiver.fail_next = 1
    _deliver_all()
    delivery = Notification.objects.filter(endpoint__isnull=False).first()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert "503" in delivery.last_error
    _deliver_all()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2

    _Receiver.fail_next = 100
    notifications.notify("gate.transition", {"model": "atlas"})
    for _ in range(notifications.MAX_ATTEMPTS + 1):
        _deliver_all()
    failed = Notification.objects.filter(endpoint__isnull=False).order_by("-pk").first()
    assert failed.status == DeliveryStatus.FAILED
    assert failed.attempts == notifications.MAX_ATTEMPTS


def test_leadership_gets_an_email_when_a_decision_is_requested(safety, rso):
    rso.email = "rso@example.org"
    rso.save()
    activate_default_policy()
    model = make_model()
    from governance import services

    services.request_decision(model, 1e24, "please", safety)
    _deliver_all()
    subjects = [m.subject for m in mail.outbox]
    assert any("needs your sign-off" in s for s in subjects), subjects
    assert any("rso@example.org" in m.to for m in mail.outbox)
