"""Notification transports: a registry and one module per channel (ADR 0021's plugin shape).

A new channel is one module here with a ``Transport`` subclass (defining it registers it) and
one name in the import below; see CONTRIBUTING.md ("Notification channel").
"""

from __future__ import annotations

from governance.transports import email, slack, webhook
from governance.transports.base import (
    SIGNATURE_HEADER,
    TRANSPORTS,
    Transport,
    sign,
    transport_for,
    verify_signature,
)

#: The shipped channels' modules (importing them registered their transports).
SHIPPED = (email, webhook, slack)

__all__ = [
    "SHIPPED",
    "SIGNATURE_HEADER",
    "TRANSPORTS",
    "Transport",
    "sign",
    "transport_for",
    "verify_signature",
]
