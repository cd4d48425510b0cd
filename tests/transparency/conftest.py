"""Every test of the public surface starts with fresh rate counters (they live in the cache
and are keyed by the client address, which is the same for every test client)."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_rate_counters() -> None:
    cache.clear()
