"""Logging filters that keep the console truthful: one line per refused request, no noise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# Statuses that are an answer, not a failure of the portal: the request was refused on purpose.
REFUSALS = frozenset({401, 403, 404, 405})


class OneLineRefusals(logging.Filter):
    """On ``django.request``: a refused request is one line naming the user, not a traceback.

    Django logs ``PermissionDenied`` with the exception attached, so every 403 of an HTML view
    printed a full traceback. The reason the exception carries is kept in the line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) not in REFUSALS:
            return True
        reason = ""
        if record.exc_info and record.exc_info[1] is not None:
            reason = str(record.exc_info[1])
        record.msg = f"{record.getMessage()} (user: {_username(record)})"
        if reason:
            record.msg += f": {reason}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def _username(record: logging.LogRecord) -> str:
    user: Any = getattr(getattr(record, "request", None), "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return str(user.get_username())


class EmbeddedBrokerNeedsNoHost(logging.Filter):
    """On ``kombu.connection``: drop "No hostname was supplied" for the filesystem broker.

    The embedded broker of ``make run`` is a folder; kombu warns that it fell back to
    ``localhost``, which means nothing for that transport and misleads a newcomer. The same
    warning for any other transport is kept.
    """

    def __init__(self, broker_url: Callable[[], object]) -> None:
        super().__init__()
        self._broker_url = broker_url

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("No hostname was supplied"):
            return True
        return not str(self._broker_url()).startswith("filesystem")
