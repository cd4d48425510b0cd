"""Notifications: e-mail to the people concerned and webhooks signed with HMAC-SHA256.

``notify`` is called inside the transaction of the change it reports. It only writes
Notification rows; delivery happens in a Celery task enqueued after commit (so a rolled-back
change notifies nobody), retried with backoff, and a periodic relay re-sends anything left
pending (a crash between commit and enqueue loses nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from governance.models import DeliveryStatus, Notification, WebhookEndpoint

MAX_ATTEMPTS = 6
SIGNATURE_HEADER = "X-RSP-Signature"
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
}


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


def _recipients(roles: Iterable[str]) -> list[str]:
    from core.models import User

    return sorted(
        set(
            User.objects.filter(groups__name__in=list(roles), is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def notify(
    event: str, payload: dict[str, Any], roles: Iterable[str] = ("safety", "leadership")
) -> list[Notification]:
    """Queue ``event`` for e-mail to ``roles`` and for every webhook that wants it."""
    body = {"event": event, "at": timezone.now().isoformat(), **payload}
    created = []
    recipients = _recipients(roles)
    if recipients:
        created.append(
            Notification.objects.create(event=event, payload=body, recipients=recipients)
        )
    for endpoint in WebhookEndpoint.objects.filter(active=True):
        if endpoint.wants(event):
            created.append(
                Notification.objects.create(event=event, payload=body, endpoint=endpoint)
            )
    if created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: _enqueue(ids), robust=True)
    return created


def _enqueue(ids: list[int]) -> None:
    from governance.tasks import deliver_notification

    for pk in ids:
        deliver_notification.delay(pk)


def deliver(notification: Notification) -> None:
    """Send one notification; raises on failure so the task can retry."""
    if notification.endpoint is not None:
        body = json.dumps(notification.payload, sort_keys=True, separators=(",", ":")).encode()
        request = urllib.request.Request(  # noqa: S310 (admin-configured http(s) URL)
            notification.endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, notification.endpoint.secret),
                "X-RSP-Event": notification.event,
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status >= 300:
                raise RuntimeError(f"webhook answered HTTP {response.status}")
        return
    subject, text = render_email(notification.event, notification.payload)
    send_mail(f"[RSP Portal] {subject}", text, None, notification.recipients)


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


def mark(notification_id: int, ok: bool, error: str = "") -> None:
    fields: dict[str, Any] = {"last_error": error[:2000]}
    if ok:
        fields.update(status=DeliveryStatus.SENT, sent_at=timezone.now())
    Notification.objects.filter(pk=notification_id).update(**fields)
