"""Rate limits of the public surface, per client address: one counter per scope, shared by the
pages and the API (filing on the form and through the API count together).

The address is :func:`core.client_ip.client_ip`'s (``TRUSTED_PROXY_COUNT`` proxies honoured),
never an ``X-Forwarded-For`` the client wrote itself. Windows are fixed (``"10/hour"``: at
most 10 in each hour-long window); counters live in the shared cache, so every process counts
together.
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework import throttling
from rest_framework.request import Request

from core.client_ip import client_ip

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/hour"`` → ``(10, 3600)``; a ValueError names what is wrong."""
    count, _, period = rate.partition("/")
    if not count.strip().isdigit() or period.strip() not in PERIODS:
        raise ValueError(f"{rate!r} is not a rate like '10/hour' ({', '.join(PERIODS)})")
    return int(count), PERIODS[period.strip()]


def over_limit(request: HttpRequest, scope: str, rate: str) -> bool:
    """Count this request against ``scope`` for its client address; True once over ``rate``."""
    allowed, seconds = parse_rate(rate)
    key = f"rate:{scope}:{client_ip(request) or 'unknown'}"
    cache.add(key, 0, seconds)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, seconds)
        used = 1
    return used > allowed


class AddressThrottle(throttling.BaseThrottle):
    """The same limit for the API: a subclass names the scope and the setting of its rate."""

    scope = ""

    def rate(self) -> str:
        raise NotImplementedError

    def allow_request(self, request: Request, view: object) -> bool:
        return not over_limit(request._request, self.scope, self.rate())

    def wait(self) -> float | None:
        return float(parse_rate(self.rate())[1])
