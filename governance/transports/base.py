"""The notification transport registry and the helpers transports share.

A transport has a ``kind`` (the value stored on subscriptions and notifications) and a
``label`` (the words pages show), checks a subscription's target (``validate``, a
ValidationError naming the field), says how pages and the trail show the target
(``shown_target``) and sends one notification (``send``, raising on failure so the outbox
retries). Defining a subclass registers it; each shipped channel is one module of this package,
imported by ``governance/transports/__init__.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.request
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

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
    #: The channel as pages name it.
    label: ClassVar[str]

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

    def shown_target(self, subscription: Subscription) -> str:
        """The target as pages and the trail show it: a URL can be a credential (Slack's is),
        so only its host by default. The secret is never shown."""
        return urlsplit(subscription.target).netloc

    #: Whether a burst to the same target goes as one digest (people) or one by one (machines).
    digest: ClassVar[bool] = False

    def send(self, notification: Notification) -> None:
        """Send one notification; raise on failure."""
        raise NotImplementedError

    def send_digest(self, notifications: list[Notification]) -> None:
        """Send a burst to one target as one message (only for a channel that digests)."""
        raise NotImplementedError


def check_url(value: str, schemes: list[str], message: str) -> None:
    try:
        URLValidator(schemes=schemes)(value)
    except ValidationError:
        raise ValidationError({"target": message}) from None


def post_json(url: str, body: bytes, headers: dict[str, str]) -> None:
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


def subscription_of(notification: Notification) -> Subscription:
    if notification.subscription is None:
        raise RuntimeError(f"notification {notification.pk} has no subscription to send to")
    return notification.subscription
