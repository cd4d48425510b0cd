"""A signed webhook: the JSON payload, POSTed with an HMAC-SHA256 signature header."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from governance.models import Channel
from governance.transports.base import (
    SIGNATURE_HEADER,
    Transport,
    check_url,
    post_json,
    sign,
    subscription_of,
)

if TYPE_CHECKING:
    from governance.models import Notification, Subscription


class WebhookTransport(Transport):
    """The JSON payload, POSTed and signed with HMAC-SHA256 (``X-RSP-Signature``)."""

    kind = Channel.WEBHOOK
    label = "Signed webhook"

    def validate(self, subscription: Subscription) -> None:
        check_url(subscription.target, ["http", "https"], "Enter an http(s) URL.")
        if not subscription.secret:
            raise ValidationError({"secret": "A signed webhook needs a shared secret."})

    def send(self, notification: Notification) -> None:
        subscription = subscription_of(notification)
        body = json.dumps(notification.payload, sort_keys=True, separators=(",", ":")).encode()
        post_json(
            subscription.target,
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, subscription.secret),
                "X-RSP-Event": notification.event,
            },
        )
