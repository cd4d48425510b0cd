"""A test-only notification channel, ``pager``: notifications go to an on-call pager number.

In the product it is one module ``governance/transports/pager.py`` (this file), its name in the
import of the shipped channels in ``governance/transports/__init__.py``, a line in the README's
notification section and a test. Defining the transport registers it; subscriptions, the
Notifications page, delivery, retries and the relay need no change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from governance.transports.base import Transport

if TYPE_CHECKING:
    from governance.models import Notification, Subscription

KIND = "pager"
#: What the fake pager received: (number, event).
PAGED: list[tuple[str, str]] = []


class PagerTransport(Transport):
    kind = KIND
    label = "On-call pager"

    def validate(self, subscription: Subscription) -> None:
        if not re.fullmatch(r"\+[0-9]{6,15}", subscription.target):
            raise ValidationError({"target": "Enter the pager number as +<digits>."})

    def shown_target(self, subscription: Subscription) -> str:
        return subscription.target[:4] + "…"

    def send(self, notification: Notification) -> None:
        assert notification.subscription is not None
        PAGED.append((notification.subscription.target, notification.event))
