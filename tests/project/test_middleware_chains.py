"""The bearer API's lean middleware chain (``rsp_portal.middleware.BearerApiFastPath``)."""

from __future__ import annotations

import threading

from django.conf import settings
from django.test.client import ClientHandler


def test_handlers_built_at_once_leave_the_configured_middleware_alone() -> None:
    # Each handler builds its lean chains by swapping settings.MIDDLEWARE for a moment; two at
    # once (a test client's threads, a threaded server) once left the lean list configured for
    # good, and every later session request was refused as unauthenticated.
    configured = list(settings.MIDDLEWARE)
    builders = 8
    barrier = threading.Barrier(builders)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            barrier.wait()
            for _ in range(2):
                ClientHandler().load_middleware()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=build) for _ in range(builders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures
    assert list(settings.MIDDLEWARE) == configured
