"""Notifications: e-mail to the people concerned and every subscribed channel.

``notify`` is called inside the transaction of the change it reports. It writes one
Notification (what was said to whom) per channel and, in the same transaction, its outbox
message (:mod:`core.outbox`): delivery happens in a Celery task sent after commit, so a
rolled-back change notifies nobody; failures are retried with backoff and the relay sends
what a crash or a broker outage left behind. How each channel sends is its transport class
(:mod:`governance.transports`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.events import Notice
from governance.models import Channel, Notification, Subscription
from governance.transports import transport_for

if TYPE_CHECKING:
    from rsp_portal.types import Actor

SEND_TASK = "governance.send_notification"
SUBJECTS = {
    "gate.transition": "Gate of {model} is now {to}",
    "decision.requested": "Scaling decision #{decision} for {model} needs your sign-off",
    "decision.approved": "Scaling decision #{decision} for {model} approved",
    "decision.rejected": "Scaling decision #{decision} for {model} rejected",
    "decision.stale": "Scaling decision #{decision} for {model} is stale",
    "decision.expired": "Scaling decision #{decision} for {model} expired",
    "model.paused": "{model} was paused",
    "warning.crossed": "{model} crossed an early-warning line",
    "threshold.crossed": "{model} crossed a capability threshold",
    "evaluation.due": "{model} is due for evaluation",
    "policy.activation.requested": "A policy activation needs your sign-off",
}


def _recipients(roles: Iterable[str]) -> list[str]:
    from core.models import User

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


def on_notice(notice: Notice, actor: Actor = None) -> None:
    """The handler of ``core.events.NOTIFY``: apps below governance ask to tell people."""
    notify(notice.event, dict(notice.data), notice.roles)


def shown_target(subscription: Subscription) -> str:
    """The target as pages and the trail show it: a URL can be a credential (Slack's is), so
    only its host; an e-mail address in full. The secret is never shown."""
    from urllib.parse import urlsplit

    if subscription.kind == Channel.EMAIL:
        return subscription.target
    return urlsplit(subscription.target).netloc


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
    import audit

    subscription.full_clean()
    action = "subscription.update" if subscription.pk else "subscription.create"
    with transaction.atomic():
        subscription.save()
        audit.record(action, subscription, _subscription_audit(subscription), actor)
    return subscription


def delete_subscription(subscription: Subscription, actor: Any) -> None:
    """Delete a subscription that never sent anything, audited."""
    import audit

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


def render_email(event: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of an e-mail, in words (never a JSON dump)."""
    from django.template.loader import render_to_string

    from governance.reasons import group_reasons

    subject = SUBJECTS.get(event, event).format_map(_Default(payload))
    reasons = payload.get("reasons") or []
    model = str(payload.get("model", ""))
    limit = payload.get("compute_limit")
    text = render_to_string(
        "governance/email/notification.txt",
        {
            "subject": subject,
            "event": event,
            "p": payload,
            "site": settings.SITE_URL,
            "at": payload.get("at", ""),
            "groups": group_reasons(reasons, model) if model else [],
            "reasons": [r.get("message", r.get("code", "")) for r in reasons],
            "determinations": sorted((payload.get("determinations") or {}).items()),
            "titles": ", ".join(payload.get("required_titles") or []),
            "compute_limit": f"{float(limit):.3g}" if limit is not None else "?",
        },
    )
    return subject, text


class _Default(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"
