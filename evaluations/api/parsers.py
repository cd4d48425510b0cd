"""A JSON parser for evidence: a size cap that answers 413, and per-field number checks.

DRF's strict JSON parser refuses ``NaN``/``Infinity`` for the whole body without saying
where they were. This one reads them as floats so that validation can name the field
(``results[3].value: Must be a finite number``); every number field refuses them.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, renderers
from rest_framework.parsers import BaseParser

from rsp_portal.api import PayloadTooLarge


def body_limit() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {body_limit() // (1024 * 1024)} MiB; "
        "send fewer results per request."
    )


class EvidenceJSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = body_limit()
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise too_large()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            return json.loads(text)  # NaN/Infinity become floats; validation refuses them
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error: {str(exc)[:200]}") from None
