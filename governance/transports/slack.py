"""A Slack incoming webhook: ``{"text": ...}`` POSTed to its https URL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from governance.emails import render_email
from governance.models import Channel
from governance.transports.base import Transport, _check_url, _post, _subscription

if TYPE_CHECKING:
    from governance.models import Notification, Subscription


class SlackTransport(Transport):
    """A Slack incoming webhook: ``{"text": ...}`` POSTed to its https URL."""

    kind = Channel.SLACK
    label = "Slack incoming webhook"

    def validate(self, subscription: Subscription) -> None:
        _check_url(subscription.target, ["https"], "Enter the https URL of the incoming webhook.")

    def send(self, notification: Notification) -> None:
        subscription = _subscription(notification)
        self.validate(subscription)  # the URL is the credential: never send it over http
        subject, text = render_email(notification.event, notification.payload)
        body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
        _post(subscription.target, body, {"Content-Type": "application/json"})
