"""The API's JSON parser and the checks it applies to every JSON value.

Kept apart from ``rsp_portal.api``: DRF reads ``DEFAULT_PARSER_CLASSES`` while defining
``APIView``, so this module must not import ``rest_framework.views``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from rest_framework import exceptions, renderers
from rest_framework.parsers import BaseParser

#: JSON deeper than this is refused: no request of the API needs more than a few levels, and
#: unbounded nesting exhausts the recursion of every step that walks it (parse, hash, store).
MAX_JSON_DEPTH = 32

# Text no database column takes: NUL (PostgreSQL refuses it in text and jsonb) and lone
# UTF-16 surrogates (not encodable as UTF-8, so neither storable nor renderable).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def bad_text_message(text: str) -> str | None:
    """Why ``text`` cannot be stored, or ``None`` when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Must not contain NUL characters (\\u0000)."
    return "Must not contain lone UTF-16 surrogates (\\ud800-\\udfff); send valid Unicode."


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    """Yield ``(field path, message)`` for the first unstorable or too deep part of ``value``."""
    if isinstance(value, str):
        message = bad_text_message(value)
        if message:
            yield path or "non_field_errors", message
        return
    if not isinstance(value, dict | list):
        return
    if depth >= MAX_JSON_DEPTH:
        # Named by its top-level field, as when the parser itself gives up (see _deep_field).
        top = re.split(r"[.\[]", path, maxsplit=1)[0] if path else ""
        yield top or "non_field_errors", f"Is nested more than {MAX_JSON_DEPTH} levels deep."
        return
    if isinstance(value, dict):
        for key, item in value.items():
            message = bad_text_message(key)
            if message:
                # The key itself cannot be echoed back: name its parent.
                yield path or "non_field_errors", f"A key {message[0].lower()}{message[1:]}"
                return
            yield from _walk(item, _child(path, key), depth + 1)
    else:
        for index, item in enumerate(value):
            yield from _walk(item, _child(path, index), depth + 1)


def check_json(value: Any, path: str = "") -> None:
    """Refuse NUL, lone surrogates and nesting deeper than MAX_JSON_DEPTH, naming the field."""
    for field_path, message in _walk(value, path, 0):
        raise exceptions.ValidationError({field_path: [message]})


# Strings (with an optional following colon: an object key) and brackets, for _deep_field.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?|[\[\]{}]')


def _deep_field(text: str) -> str:
    """The top-level key whose value is nested too deeply for Python's parser.

    Scans tokens with one regular expression, so that even a maximal body costs little; only
    called after the parser gave up.
    """
    depth, key_token = 0, ""
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()[0]
        if char == '"':
            if depth == 1 and token.group(1):
                key_token = token.group()
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                break
        else:
            depth -= 1
    try:
        key = json.loads(key_token.rstrip().rstrip(":").rstrip()) if key_token else ""
    except ValueError:
        key = ""
    if not isinstance(key, str) or bad_text_message(key):
        key = ""
    return key or "non_field_errors"


def loads(text: str, *, allow_nan: bool = False, field: str = "") -> Any:
    """Parse JSON text, refusing what the API cannot store; errors name ``field`` or the path.

    With ``allow_nan`` NaN and infinities are read as floats so that validation can name the
    field they are in; every number field refuses them.
    """

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=None if allow_nan else refuse_constant)
    except RecursionError:
        name = field or _deep_field(text)
        raise exceptions.ValidationError(
            {name: [f"Is nested more than {MAX_JSON_DEPTH} levels deep."]}
        ) from None
    except ValueError as exc:
        if field:
            raise exceptions.ValidationError({field: [f"Must be JSON: {str(exc)[:200]}"]}) from None
        raise exceptions.ParseError(f"JSON parse error: {str(exc)[:200]}") from None
    check_json(value, field)
    return value


def body_limit() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than {body_limit() // (1024 * 1024)} MiB; "
        "send less per request."
    )


class JSONParser(BaseParser):
    """The API's JSON parser: a size cap that answers 413, no NUL, no lone surrogates, bounded
    nesting; every refusal is a 4xx naming the field (``results[3].notes``)."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    allow_nan = False

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
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"The body is not valid {encoding} text.") from None
        return loads(text, allow_nan=self.allow_nan)


class FloatJSONParser(JSONParser):
    """The JSON parser that reads ``NaN`` and infinities as floats, so validation can name the
    field that holds one (``results[3].value: Must be a finite number``)."""

    allow_nan = True
