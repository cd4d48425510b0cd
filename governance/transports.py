"""Notification transports: one class per channel, registered by defining it.

A transport has a ``kind`` (a value of :class:`governance.models.Channel`), checks a
subscription's target (``validate``, a ValidationError naming the field) and sends one
notification (``send``, raising on failure so the outbox retries). Defining a subclass
registers it; ``tests/governance/test_governance_notifications.py`` checks that every kind
has exactly one transport.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator, validate_email

from governance.models import Channel

if TYPE_CHECKING:
    from governance.models import Notification, Subscription

SIGNATURE_HEADER = "X-RSP-Signature"
HTTP_TIMEOUT = 10

TRANSPORTS: dict[str, Transport] = {}


def transport_for(kind: str) -> Transport:
    """The transport of a channel kind; a ValidationError on ``kind`` for an unknown one."""
    try:
        return TRANSPORTS[kind]
    except KeyError:
        raise ValidationError({"kind": f"Unknown notification channel {kind!r}."}) from None


class Transport:
    """One notification channel."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind in TRANSPORTS:
            raise TypeError(f"two transports for channel {cls.kind!r}")
        TRANSPORTS[cls.kind] = cls()

    def validate(self, subscription: Subscription) -> None:
        """Refuse a target this channel cannot send to (ValidationError naming the field)."""
        raise NotImplementedError

    def addresses(self, subscription: Subscription) -> list[str]:
        """E-mail addresses a subscription's notifications are written to (none by default)."""
        return []

    def send(self, notification: Notification) -> None:
        """Send one notification; raise on failure."""
        raise NotImplementedError


def _check_url(value: str, schemes: list[str], message: str) -> None:
    try:
        URLValidator(schemes=schemes)(value)
    except ValidationError:
        raise ValidationError({"target": message}) from None


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body``; raise unless the answer is 2xx (the HTTP boundary, mocked in tests)."""
    request = urllib.request.Request(  # noqa: S310 (validated http(s) URL)
        url, data=body, method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
        if response.status >= 300:
            raise RuntimeError(f"{url} answered HTTP {response.status}")


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``.

    The timestamp is inside the MAC so a receiver can refuse replays of old deliveries.
    """
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify_signature(body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """What a receiver does (also used by the tests)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _subscription(notification: Notification) -> Subscription:
    if notification.subscription is None:
        raise RuntimeError(f"notification {notification.pk} has no subscription to send to")
    return notification.subscription


class EmailTransport(Transport):
    """Plain-text e-mail, in words; role e-mails and e-mail subscriptions."""

    kind = Channel.EMAIL

    def validate(self, subscription: Subscription) -> None:
        try:
            validate_email(subscription.target)
        except ValidationError:
            raise ValidationError({"target": "Enter one valid e-mail address."}) from None

    def addresses(self, subscription: Subscription) -> list[str]:
        return [subscription.target]

    def send(self, notification: Notification) -> None:
        from governance.notifications import render_email

        if not notification.recipients:
            raise RuntimeError(f"notification {notification.pk} has no recipients")
        subject, text = render_email(notification.event, notification.payload)
        send_mail(f"[RSP Portal] {subject}", text, None, list(notification.recipients))


class WebhookTransport(Transport):
    """The JSON payload, POSTed and signed with HMAC-SHA256 (``X-RSP-Signature``)."""

    kind = Channel.WEBHOOK

    def validate(self, subscription: Subscription) -> None:
        _check_url(subscription.target, ["http", "https"], "Enter an http(s) URL.")
        if not subscription.secret:
            raise ValidationError({"secret": "A signed webhook needs a shared secret."})

    def send(self, notification: Notification) -> None:
        subscription = _subscription(notification)
        body = json.dumps(notification.payload, sort_keys=True, separators=(",", ":")).encode()
        _post(
            subscription.target,
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, subscription.secret),
                "X-RSP-Event": notification.event,
            },
        )


class SlackTransport(Transport):
    """A Slack incoming webhook: ``{"text": ...}`` POSTed to its https URL."""

    kind = Channel.SLACK

    def validate(self, subscription: Subscription) -> None:
        _check_url(subscription.target, ["https"], "Enter the https URL of the incoming webhook.")

    def send(self, notification: Notification) -> None:
        from governance.notifications import render_email

        subscription = _subscription(notification)
        self.validate(subscription)  # the URL is the credential: never send it over http
        subject, text = render_email(notification.event, notification.payload)
        body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
        _post(subscription.target, body, {"Content-Type": "application/json"})
