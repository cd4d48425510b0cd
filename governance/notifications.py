"""Notifications: e-mail to the people concerned and every subscribed channel.

``notify`` is called inside the transaction of the change it reports. It writes one
Notification (what was said to whom) per channel and, in the same transaction, its outbox
message (:mod:`core.outbox`): delivery happens in a Celery task sent after commit, so a
rolled-back change notifies nobody; failures are retried with backoff and the relay sends
what a crash or a broker outage left behind. How each channel sends is its transport class
(:mod:`governance.transports`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

import audit
from core import outbox
from core.events import Notice
from core.models import User
from governance.emails import SUBJECTS, render_email
from governance.models import Channel, Notification, Subscription
from governance.transports import transport_for

if TYPE_CHECKING:
    from rsp_portal.types import Actor

SEND_TASK = "governance.send_notification"

__all__ = ["SEND_TASK", "SUBJECTS", "notify", "on_notice", "render_email", "shown_target"]


def _recipients(roles: Iterable[str]) -> list[str]:

    return sorted(
        set(
            User.objects.filter(role__in=list(roles), is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def _queue(**fields: Any) -> Notification:
    """The notification and its outbox message, in the caller's transaction."""
    message = outbox.enqueue(SEND_TASK, {})
    return Notification.objects.create(message=message, **fields)


def notify(
    event: str, payload: dict[str, Any], roles: Iterable[str] = ("safety", "leadership")
) -> list[Notification]:
    """Queue ``event`` for e-mail to ``roles`` and for every subscription that wants it."""
    body = {"event": event, "at": timezone.now().isoformat(), **payload}
    pending: list[Pending] | None = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((event, body, tuple(sorted(roles))))
        return []
    created = []
    recipients = _recipients(roles)
    if recipients:
        created.append(
            _queue(event=event, payload=body, channel=Channel.EMAIL, recipients=recipients)
        )
    for subscription in Subscription.objects.filter(active=True):
        if subscription.wants(event):
            created.append(
                _queue(
                    event=event,
                    payload=body,
                    channel=subscription.kind,
                    subscription=subscription,
                    recipients=transport_for(subscription.kind).addresses(subscription),
                )
            )
    return created


@contextmanager
def batch() -> Iterator[None]:
    """Gather the notifications queued inside and write them together on leaving: the
    recipients of each set of roles and the subscriptions read once, the outbox messages and
    notifications inserted in one statement each (a family's gate recomputation, ADR 0025).
    Nested batches join the outermost one; on an exception nothing is written."""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    _local.pending = []
    try:
        yield
        pending, _local.pending = _local.pending, None
        _write(pending)
    finally:
        _local.pending = None


#: A notification gathered by :func:`batch`: its event, body and (sorted) roles.
Pending = tuple[str, dict[str, object], tuple[str, ...]]


def _write(pending: list[Pending]) -> None:
    if not pending:
        return
    recipients: dict[tuple[str, ...], list[str]] = {}
    subscriptions = list(Subscription.objects.filter(active=True))
    rows: list[Notification] = []
    for event, body, roles in pending:
        if roles not in recipients:
            recipients[roles] = _recipients(roles)
        if recipients[roles]:
            rows.append(
                Notification(
                    event=event,
                    payload=body,
                    channel=Channel.EMAIL,
                    recipients=recipients[roles],
                )
            )
        for subscription in subscriptions:
            if subscription.wants(event):
                rows.append(
                    Notification(
                        event=event,
                        payload=body,
                        channel=subscription.kind,
                        subscription=subscription,
                        recipients=transport_for(subscription.kind).addresses(subscription),
                    )
                )
    for row, message in zip(rows, outbox.enqueue_many(SEND_TASK, len(rows)), strict=True):
        row.message = message
    Notification.objects.bulk_create(rows)


_local = threading.local()


def on_notice(notice: Notice, actor: Actor = None) -> None:
    """The handler of ``core.events.NOTIFY``: apps below governance ask to tell people."""
    notify(notice.event, dict(notice.data), notice.roles)


def shown_target(subscription: Subscription) -> str:
    """The target as pages and the trail show it (the channel's transport decides)."""
    return transport_for(subscription.kind).shown_target(subscription)


def _subscription_audit(subscription: Subscription) -> dict[str, Any]:
    return {
        "name": subscription.name,
        "kind": subscription.kind,
        "target": shown_target(subscription),
        "events": list(subscription.events),
        "active": subscription.active,
    }


def save_subscription(subscription: Subscription, actor: Any) -> Subscription:
    """Validate (the kind's transport checks the target) and save a subscription, audited."""

    subscription.full_clean()
    action = "subscription.update" if subscription.pk else "subscription.create"
    with transaction.atomic():
        subscription.save()
        audit.record(action, subscription, _subscription_audit(subscription), actor)
    return subscription


def delete_subscription(subscription: Subscription, actor: Any) -> None:
    """Delete a subscription that never sent anything, audited."""

    with transaction.atomic():
        audit.record("subscription.delete", subscription, _subscription_audit(subscription), actor)
        subscription.delete()


def deliver(notification: Notification) -> None:
    """Send one notification through its channel's transport; raises on failure."""
    transport_for(notification.channel).send(notification)


def send_queued(outbox_id: int) -> None:
    """Deliver the notification of outbox message ``outbox_id`` (the consumer's work)."""
    notification = Notification.objects.select_related("subscription").get(message_id=outbox_id)
    deliver(notification)
