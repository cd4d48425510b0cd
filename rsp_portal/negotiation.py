"""Content negotiation that skips the Accept parsing when a client plainly accepts JSON."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

#: Accept headers that DRF's negotiation would answer with plain ``application/json``.
PLAIN_JSON = frozenset({"", "*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    """Choose the JSON renderer at once for ``Accept`` absent, ``*/*`` or ``application/json``.

    That is the answer DRF's negotiation gives for those headers when JSON is the view's first
    renderer; any other header, a ``?format=`` or another first renderer takes the full path.
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        if (
            not format_suffix
            and renderers
            and renderers[0].media_type == "application/json"
            and request.META.get("HTTP_ACCEPT", "").strip() in PLAIN_JSON
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)  # type: ignore[no-any-return]
