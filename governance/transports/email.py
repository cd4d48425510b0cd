"""E-mail: plain text, in words; the role e-mails and e-mail subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from governance.emails import render_digest, render_email
from governance.models import Channel
from governance.transports.base import Transport

if TYPE_CHECKING:
    from governance.models import Notification, Subscription


class EmailTransport(Transport):
    """Plain-text e-mail, in words; role e-mails and e-mail subscriptions."""

    kind = Channel.EMAIL
    label = "E-mail"
    digest = True

    def validate(self, subscription: Subscription) -> None:
        try:
            validate_email(subscription.target)
        except ValidationError:
            raise ValidationError({"target": "Enter one valid e-mail address."}) from None

    def shown_target(self, subscription: Subscription) -> str:
        return subscription.target

    def addresses(self, subscription: Subscription) -> list[str]:
        return [subscription.target]

    def send(self, notification: Notification) -> None:
        if not notification.recipients:
            raise RuntimeError(f"notification {notification.pk} has no recipients")
        subject, text = render_email(notification.event, notification.payload)
        send_mail(f"[RSP Portal] {subject}", text, None, list(notification.recipients))

    def send_digest(self, notifications: list[Notification]) -> None:
        recipients = list(notifications[0].recipients)
        if not recipients:
            raise RuntimeError(f"notification {notifications[0].pk} has no recipients")
        subject, text = render_digest([(n.event, n.payload) for n in notifications])
        send_mail(f"[RSP Portal] {subject}", text, None, recipients)
