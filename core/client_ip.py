"""The client's address as seen through the trusted reverse proxies in front of the portal.

With ``TRUSTED_PROXY_COUNT = 0`` (direct exposure) it is ``REMOTE_ADDR``. Behind N trusted
proxies each one appends the address it received the request from to ``X-Forwarded-For``, so
the Nth entry from the right is the address the outermost trusted proxy saw: the client. Entries
further left are whatever the client sent and are never trusted. Sign-in lockouts (django-axes)
key on this address, so one attacker cannot lock every user out by failing behind the proxy.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client address, honouring exactly ``settings.TRUSTED_PROXY_COUNT`` proxies."""
    remote = request.META.get("REMOTE_ADDR")
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if count <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if part.strip()
    ]
    if len(forwarded) < count:
        # Fewer hops than trusted proxies: the request did not come through all of them (or a
        # proxy is misconfigured). Keying on the nearest peer is the safe choice.
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
