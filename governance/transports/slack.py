"""A Slack incoming webhook: ``{"text": ...}`` POSTed to its https URL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from governance.emails import render_email
from governance.models import Channel
from governance.transports.base import Transport, check_url, post_json, subscription_of

if TYPE_CHECKING:
    from governance.models import Notification, Subscription


class SlackTransport(Transport):
    """A Slack incoming webhook: ``{"text": ...}`` POSTed to its https URL."""

    kind = Channel.SLACK
    label = "Slack incoming webhook"

    def validate(self, subscription: Subscription) -> None:
        check_url(subscription.target, ["https"], "Enter the https URL of the incoming webhook.")

    def send(self, notification: Notification) -> None:
        subscription = subscription_of(notification)
        self.validate(subscription)  # the URL is the credential: never send it over http
        subject, text = render_email(notification.event, notification.payload)
        body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
        post_json(subscription.target, body, {"Content-Type": "application/json"})
