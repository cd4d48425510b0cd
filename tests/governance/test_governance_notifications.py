"""Notifications: e-mail, signed webhooks and Slack, one transport class per channel, retried."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from core import outbox
from core.models import OutboxMessage, OutboxStatus
from governance import notifications, transports
from governance.models import Channel, Notification, Subscription
from governance.tasks import send_notification
from tests.governance_fixtures import activate_default_policy, make_model

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


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
    """Run the delivery task body for every pending notification (a unit test of the task)."""
    for pk in OutboxMessage.objects.filter(
        topic=notifications.SEND_TASK, status=OutboxStatus.PENDING
    ).values_list("pk", flat=True):
        send_notification.run(outbox_id=pk)


def _subscribe(target: str, kind: str = Channel.WEBHOOK, **fields: object) -> Subscription:
    fields.setdefault("secret", "s3cret")
    fields.setdefault("name", f"{kind}-{target}")
    return notifications.save_subscription(
        Subscription(kind=kind, target=target, **fields), actor=None
    )


def test_a_gate_transition_is_delivered_to_a_signed_webhook(receiver):
    _subscribe(receiver, events=["gate.transition"])
    activate_default_policy()
    make_model()
    _deliver_all()
    assert _Receiver.received, "no webhook delivery"
    headers, body = _Receiver.received[0]
    header = headers[transports.SIGNATURE_HEADER.lower()]
    assert transports.verify_signature(body, header, "s3cret")
    assert not transports.verify_signature(body, header, "wrong")
    assert not transports.verify_signature(body + b" ", header, "s3cret")
    payload = json.loads(body)
    assert payload["event"] == "gate.transition"
    assert payload["model"] == "atlas"
    sent = Notification.objects.select_related("message").filter(subscription__isnull=False)
    assert {n.channel for n in sent} == {Channel.WEBHOOK}
    assert {n.delivery_status for n in sent} == {OutboxStatus.DONE}


def test_a_failing_webhook_is_retried_with_backoff_then_marked_dead(receiver):
    _subscribe(receiver, events=["gate.transition"])
    activate_default_policy()
    make_model()
    _Receiver.fail_next = 1
    _deliver_all()
    delivery = Notification.objects.filter(subscription__isnull=False).order_by("pk").first()
    message = delivery.message
    assert message is not None
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and message.attempts == 1
    assert "503" in message.last_error
    assert message.available_at > timezone.now()  # the relay waits out the backoff
    _deliver_all()
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE and message.attempts == 2

    _Receiver.fail_next = 100
    notifications.notify("gate.transition", {"model": "atlas"})
    for _ in range(outbox.MAX_ATTEMPTS + 1):
        _deliver_all()
    failed = Notification.objects.filter(subscription__isnull=False).order_by("-pk").first()
    assert failed.message.status == OutboxStatus.DEAD
    assert failed.message.attempts == outbox.MAX_ATTEMPTS


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


def test_an_email_subscription_gets_its_own_mail():
    _subscribe("ops@example.org", kind=Channel.EMAIL, events=["model.paused"])
    notifications.notify("model.paused", {"model": "atlas"}, roles=())
    [notification] = Notification.objects.all()
    assert (notification.channel, notification.recipients) == (Channel.EMAIL, ["ops@example.org"])
    _deliver_all()
    [sent] = mail.outbox
    assert sent.to == ["ops@example.org"] and "atlas was paused" in sent.subject


def test_a_slack_subscription_posts_text_to_its_https_url(monkeypatch):
    posted: list[tuple[str, bytes, dict[str, str]]] = []
    monkeypatch.setattr(transports.slack, "post_json", lambda *args: posted.append(args))
    url = "https://hooks.slack.example/services/T0/B0/xyz"
    _subscribe(url, kind=Channel.SLACK, secret="")
    notifications.notify("model.paused", {"model": "atlas"}, roles=())
    _deliver_all()
    [(to, body, headers)] = posted
    assert to == url and headers["Content-Type"] == "application/json"
    text = json.loads(body)["text"]
    assert set(json.loads(body)) == {"text"}
    assert "atlas was paused" in text and "{" not in text
    assert Notification.objects.get().delivery_status == OutboxStatus.DONE


def test_a_slack_subscription_edited_to_http_is_refused_at_send(monkeypatch):
    monkeypatch.setattr(transports.slack, "post_json", lambda *args: pytest.fail("sent over http"))
    Subscription.objects.create(  # bypasses validation, as a raw database edit would
        name="slack", kind=Channel.SLACK, target="http://hooks.slack.example/services/x"
    )
    notifications.notify("model.paused", {"model": "atlas"}, roles=())
    _deliver_all()
    message = Notification.objects.get().message
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and "https" in message.last_error


@pytest.mark.parametrize(
    ("kind", "target", "secret", "field"),
    [
        (Channel.SLACK, "http://hooks.slack.example/services/x", "", "target"),
        (Channel.SLACK, "not a url", "", "target"),
        (Channel.WEBHOOK, "ftp://example.org/hook", "s", "target"),
        (Channel.WEBHOOK, "https://example.org/hook", "", "secret"),
        (Channel.EMAIL, "https://example.org/hook", "", "target"),
        ("pager", "https://example.org/hook", "", "kind"),
    ],
)
def test_a_subscription_with_a_bad_target_is_refused_naming_the_field(kind, target, secret, field):
    with pytest.raises(ValidationError) as caught:
        _subscribe(target, kind=kind, secret=secret)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert not Subscription.objects.exists()


def test_every_channel_has_one_transport_and_every_transport_a_channel():
    assert set(transports.TRANSPORTS) == set(Channel.values)
    for kind, transport in transports.TRANSPORTS.items():
        assert transport.kind == kind
        assert type(transport).send is not transports.Transport.send
        assert type(transport).validate is not transports.Transport.validate


def test_a_rolled_back_change_notifies_nobody(rso):
    rso.email = "rso@example.org"
    rso.save()
    with pytest.raises(RuntimeError), transaction.atomic():
        notifications.notify("model.paused", {"model": "atlas"})
        assert Notification.objects.count() == 1 and OutboxMessage.objects.count() == 1
        raise RuntimeError("the change failed")
    assert not Notification.objects.exists() and not OutboxMessage.objects.exists()


def test_subscriptions_are_audited_without_their_secrets(admin_user):
    subscription = _subscribe("https://example.org/hook?token=abc", name="ops")
    subscription.events = ["gate.transition"]
    notifications.save_subscription(subscription, actor=admin_user)
    notifications.delete_subscription(subscription, actor=admin_user)
    entries = AuditEntry.objects.filter(object_type="governance.subscription").order_by("seq")
    assert [e.action for e in entries] == [
        "subscription.create",
        "subscription.update",
        "subscription.delete",
    ]
    text = b"".join(bytes(e.body) for e in entries).decode()
    assert "s3cret" not in text and "token=abc" not in text and "example.org" in text


def test_the_admin_offers_every_kind_and_names_the_field_of_a_bad_target(admin_user):
    from tests.conftest import client_for

    client = client_for(admin_user)
    page = client.get("/admin/governance/subscription/add/")
    assert page.status_code == 200
    for kind in Channel.values:
        assert f'value="{kind}"' in page.content.decode()
    response = client.post(
        "/admin/governance/subscription/add/",
        {"name": "slack", "kind": Channel.SLACK, "target": "http://x.example/", "events": "[]"},
    )
    assert response.status_code == 200  # the form again, with the error on the field
    assert "https URL of the incoming webhook" in response.content.decode()
    assert not Subscription.objects.exists()
    response = client.post(
        "/admin/governance/subscription/add/",
        {
            "name": "slack",
            "kind": Channel.SLACK,
            "target": "https://hooks.slack.example/services/x",
            "events": "[]",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Subscription.objects.get().kind == Channel.SLACK
    assert AuditEntry.objects.filter(action="subscription.create").exists()
