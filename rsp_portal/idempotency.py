"""``Idempotency-Key`` for POSTs: the same key and body replay the stored answer.

The key's row is inserted in the same transaction as the effect it guards: concurrent
requests with one key block on the unique index until the first commits, then replay its
answer; if the first rolls back, the next one runs the effect itself. So
twenty identical retries store exactly one result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.models import IdempotencyRecord
from rsp_portal.rows import RowUpdate, RowUpsert

if TYPE_CHECKING:
    from core.models import User


HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: The header as the OpenAPI schema documents it (every endpoint that honours it).
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"},
    OpenApiParameter.HEADER,
    required=False,
    description="a unique key (≤255 characters); a retry with the same key and body "
    "replays the first answer, with another body answers 422",
)
REPLAY_HEADER = "Idempotent-Replayed"
# The key's row inserted unless taken, and its answer stored, each built once (rsp_portal.rows).
_KEYS = RowUpsert(IdempotencyRecord, unique=["user", "key"])
_ANSWERS = RowUpdate(IdempotencyRecord)


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was already used with a different request; use a new key."
    )
    default_code = "idempotency_key_reused"


class KeyInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_key_in_flight"


def request_fingerprint(request: Request) -> str:
    """SHA-256 over the method, path and canonical JSON of the parsed body."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            {HEADER: [f"Must be 1 to {MAX_KEY_LENGTH} characters (a UUID is a good key)."]}
        )
    return key


def _replay(record: IdempotencyRecord | None, fingerprint: str) -> Response:
    if record is None or record.response_code == 0:
        raise KeyInFlight()
    if record.request_sha256 != fingerprint:
        raise KeyReused()
    response = Response(json.loads(record.response_body), status=record.response_code)
    response[REPLAY_HEADER] = "true"
    return response


def idempotent(request: Request, effect: Callable[[], tuple[int, Any]]) -> Response:
    """Run ``effect`` (returning status and JSON body) at most once per user and key."""
    key = _key(request)
    if key is None:
        code, body = effect()
        return Response(body, status=code)
    fingerprint = request_fingerprint(request)
    user = cast("User", request.user)  # API views refuse anonymous requests first
    record = IdempotencyRecord(
        user=user,
        key=key,
        method=request.method or "",
        path=request.path[:500],
        request_sha256=fingerprint,
    )
    with transaction.atomic():
        # One statement, no savepoint (ADR 0047): the key's row is inserted, or the key is
        # taken (answered before, or by a request that committed while we waited on the
        # unique index) and that answer is replayed.
        if not _KEYS.claim(record):
            return _replay(
                IdempotencyRecord.objects.filter(user=user, key=key).first(), fingerprint
            )
        code, body = effect()
        record.response_code = code
        record.response_body = json.dumps(body, cls=DjangoJSONEncoder)
        _ANSWERS.save(record)
    # Answer from the stored text so that the first response and every replay are identical.
    return Response(json.loads(record.response_body), status=code)
