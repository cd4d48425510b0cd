"""Shared REST API pieces: the JSON parser, the error format and pagination."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, pagination, renderers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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


def _deep_field(text: str) -> str:
    """The top-level key whose value is nested too deeply for Python's parser (slow path)."""
    depth, key, in_string, escaped, start = 0, "", False, False, 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1:
                    try:
                        candidate = json.loads(text[start : index + 1])
                    except ValueError:
                        candidate = ""
                    if text[index + 1 :].lstrip().startswith(":"):
                        key = candidate if not bad_text_message(candidate) else ""
        elif char == '"':
            in_string, start = True, index
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return key or "non_field_errors"
        elif char in "]}":
            depth -= 1
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


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The database is unreachable; try again shortly."
    default_code = "service_unavailable"


#: Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 30


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (not that a query was wrong)."""
    return isinstance(exc, OperationalError | InterfaceError)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The API's one exception handler and one error shape.

    Refused input, from a serializer or a service (:class:`rsp_portal.errors.ServiceError`, with
    its own status), is ``{"errors": {field: [messages]}}``; everything else is
    ``{"detail": ...}``. An unreachable database answers 503 with ``Retry-After``. Other
    exceptions are left to ``rsp_portal.middleware.ApiErrorMiddleware`` (a JSON 500).
    """
    if isinstance(exc, DjangoValidationError):
        status = getattr(exc, "status_code", 400)
        messages = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response({"errors": messages}, status=status)
    if database_unavailable(exc):
        response = drf_exception_handler(ServiceUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, PermissionDenied) and exc.args:
        exc = exceptions.PermissionDenied(str(exc.args[0]))
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses bodies above DATA_UPLOAD_MAX_MEMORY_SIZE: answer 413, not a 400 page.
        exc = PayloadTooLarge(str(exc) or PayloadTooLarge.default_detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc.args[0]) if exc.args else "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = response.data
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail if isinstance(detail, list) else [detail]}
        response.data = {"errors": detail}
    return response
