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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from core import outbox
from core.events import Notice
from core.models import OutboxMessage, OutboxStatus, User
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


def _digest_window() -> timedelta | None:
    seconds = int(getattr(settings, "NOTIFY_DIGEST_SECONDS", 0))
    return timedelta(seconds=seconds) if seconds else None


def _attach_messages(rows: list[Notification]) -> None:
    """Give each (unsaved) notification its outbox message, in the caller's transaction.

    A channel that digests (e-mail) shares one message per set of recipients: an open digest
    of the same people, not yet taken by a worker, carries the new notification too; otherwise
    a new one waits ``NOTIFY_DIGEST_SECONDS`` for the rest of the burst. Other channels (signed
    webhooks: machines want each event) get a message each, sent after commit.
    """
    window = _digest_window()
    digests: dict[tuple[str, int | None, tuple[str, ...]], OutboxMessage] = {}
    single: list[Notification] = []
    for row in rows:
        if window is None or not transport_for(row.channel).digest:
            single.append(row)
            continue
        key = (row.channel, row.subscription_id, tuple(row.recipients))
        if key not in digests:
            same_target = (
                Q(subscription_id=row.subscription_id)
                if row.subscription_id
                else Q(subscription__isnull=True)
            )
            open_ids = Notification.objects.filter(
                same_target,
                channel=row.channel,
                recipients=list(key[2]),
                message__status=OutboxStatus.PENDING,
                message__attempts=0,
            ).values_list("message_id", flat=True)
            digests[key] = outbox.join({pk for pk in open_ids if pk is not None}) or outbox.enqueue(
                SEND_TASK, {}, delay=window
            )
        row.message = digests[key]
    for row, message in zip(single, outbox.enqueue_many(SEND_TASK, len(single)), strict=True):
        row.message = message


def notify(
    event: str, payload: Mapping[str, object], roles: Iterable[str] = ("safety", "leadership")
) -> list[Notification]:
    """Queue ``event`` for e-mail to ``roles`` and for every subscription that wants it."""
    body = {"event": event, "at": timezone.now().isoformat(), **payload}
    pending: list[Pending] | None = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((event, body, tuple(sorted(roles))))
        return []
    return _write([(event, body, tuple(sorted(roles)))])


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


def _write(pending: list[Pending]) -> list[Notification]:
    if not pending:
        return []
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
    _attach_messages(rows)
    return Notification.objects.bulk_create(rows)


_local = threading.local()


def on_notice(notice: Notice, actor: Actor = None) -> None:
    """The handler of ``core.events.NOTIFY``: apps below governance ask to tell people."""
    notify(notice.event, dict(notice.data), notice.roles)


def shown_target(subscription: Subscription) -> str:
    """The target as pages and the trail show it (the channel's transport decides)."""
    return transport_for(subscription.kind).shown_target(subscription)


def _subscription_audit(subscription: Subscription) -> dict[str, object]:
    return {
        "name": subscription.name,
        "kind": subscription.kind,
        "target": shown_target(subscription),
        "events": list(subscription.events),
        "active": subscription.active,
    }


def save_subscription(subscription: Subscription, actor: Actor) -> Subscription:
    """Validate (the kind's transport checks the target) and save a subscription, audited."""

    subscription.full_clean()
    action = "subscription.update" if subscription.pk else "subscription.create"
    with transaction.atomic():
        subscription.save()
        audit.record(action, subscription, _subscription_audit(subscription), actor)
    return subscription


def delete_subscription(subscription: Subscription, actor: Actor) -> None:
    """Delete a subscription that never sent anything, audited."""

    with transaction.atomic():
        audit.record("subscription.delete", subscription, _subscription_audit(subscription), actor)
        subscription.delete()


def deliver(notification: Notification) -> None:
    """Send one notification through its channel's transport; raises on failure."""
    transport_for(notification.channel).send(notification)


def send_queued(outbox_id: int) -> None:
    """Deliver the notifications of outbox message ``outbox_id`` (the consumer's work): one,
    or the digest of a burst in one send."""
    carried = list(
        Notification.objects.select_related("subscription")
        .filter(message_id=outbox_id)
        .order_by("created_at", "pk")
    )
    if not carried:
        raise Notification.DoesNotExist(f"outbox message {outbox_id} carries no notification")
    if len(carried) == 1:
        deliver(carried[0])
    else:
        transport_for(carried[0].channel).send_digest(carried)
