"""``Idempotency-Key`` for POSTs: the same key and body replay the stored answer.

A request with a key first looks for the key's stored answer (in its bearer token's statement
when its view reads one there, ADR 0056) and replays it if found. Otherwise it runs the effect
and inserts the key's row with the answer in the same transaction. A duplicate that was in
flight at the same time blocks on the unique index at that insert until the first commits,
then finds the key taken: it rolls its effect back (nothing is written twice) and replays
the first answer. If the first rolls back, the duplicate's insert goes through. So twenty
identical retries store exactly one result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.transaction import TransactionManagementError
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.authentication import BearerTokenAuthentication, ridden
from core.models import ApiToken, IdempotencyRecord, Rider, split_token
from rsp_portal.rows import Carried, RowUpsert, sql_per_vendor

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
# The key's row with its answer, inserted unless taken, built once (rsp_portal.rows).
_KEYS = RowUpsert(IdempotencyRecord, unique=["user", "key"])


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


@dataclass(frozen=True)
class Answer:
    """A key's stored answer, and the fingerprint of the request it answered."""

    request_sha256: str
    response_code: int
    response_body: str


class Unread(Enum):
    """The key's answer was not looked for yet (:func:`idempotent` looks)."""

    UNREAD = 0


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


@sql_per_vendor
def _answer_sql(q: Callable[[str], str]) -> str:
    return (
        f"SELECT {q('request_sha256')}, {q('response_code')}, {q('response_body')} "  # noqa: S608
        f"FROM {q(IdempotencyRecord._meta.db_table)} WHERE {q('key')} = %s AND "
        f"{q('user_id')} = (SELECT {q('user_id')} FROM {q(ApiToken._meta.db_table)} "
        f"WHERE {q('key_id')} = %s)"
    )  # table and column names from _meta; values are parameters


#: The columns of a key's stored answer (fingerprint, status, body).
ANSWER_WIDTH = 3


def key_rider(request: Request) -> Rider | None:
    """The stored answer to ``request``'s key, as a rider of its bearer token's statement
    (ADR 0056): the row of the key and of the token's user; :func:`ridden_answer` reads its
    columns. None without a key or a bearer token well formed (the request's checks then
    refuse it as without a rider)."""
    try:
        key = _key(request)
        text = BearerTokenAuthentication.token_text(request)
    except exceptions.APIException:
        return None
    parts = split_token(text) if text is not None else None
    if key is None or parts is None:
        return None
    return Rider(_answer_sql(), (key, parts[0]), width=ANSWER_WIDTH)


def ridden_answer(request: Request, start: int = 0) -> Answer | Unread | None:
    """The key's stored answer (None: none) that :func:`key_rider` read with the token, in
    the row's columns from ``start`` (after another rider's, read beside it); UNREAD when it
    was not read with the token (a session, no key)."""
    found = ridden(request)
    if found is None or len(found[1]) < start + ANSWER_WIDTH:
        return Unread.UNREAD
    row = found[1][start : start + ANSWER_WIDTH]
    if row[0] is None:
        return None
    return Answer(str(row[0]), int(cast("int", row[1])), str(row[2]))


def _stored(user: User, key: str) -> Answer | None:
    record = (
        IdempotencyRecord.objects.filter(user=user, key=key)
        .only("request_sha256", "response_code", "response_body")
        .first()
    )
    if record is None:
        return None
    return Answer(record.request_sha256, record.response_code, record.response_body)


def _answered_meanwhile(user: User, key: str) -> Answer | None:
    """After an effect failed: the answer a concurrent request with the key has committed
    since, if any (None when the connection cannot read it: the failure stands)."""
    try:
        return _stored(user, key)
    except (DatabaseError, TransactionManagementError):
        return None


def _replay(answer: Answer | None, fingerprint: str) -> Response:
    if answer is None:
        raise KeyInFlight()  # taken, and gone when read (pruned): the client retries
    if answer.request_sha256 != fingerprint:
        raise KeyReused()
    response = Response(json.loads(answer.response_body), status=answer.response_code)
    response[REPLAY_HEADER] = "true"
    return response


class _Taken(Exception):
    """The key's row was inserted by a concurrent request that committed first."""


class Carrier(Protocol):
    """What ``within`` may yield: it runs a statement with its own work (``audit.Carrier``)."""

    def carry(self, carried: Carried) -> None: ...


def idempotent(
    request: Request,
    effect: Callable[[], tuple[int, Any]],
    known: Answer | Unread | None = Unread.UNREAD,
    within: Callable[[], AbstractContextManager[Carrier | None]] = nullcontext,
) -> Response:
    """Run ``effect`` (returning status and JSON body) at most once per user and key.

    ``known``: the key's stored answer (or None) as the caller read it with the token
    (:func:`key_rider`); looked for here when unread. ``within``: a context the effect and
    the key's row run in, inside their transaction: ``audit.batch``, which appends the
    effect's audit entries on leaving. The key's row goes in before the append, so that the
    log head's lock, which every audited write waits for, is not held while a concurrent
    request with the key is waited for (ADR 0056); where ``within`` yields a carrier, the key's
    row rides in the append's statement (one round trip fewer, ADR 0058)."""
    key = _key(request)
    if key is None:
        code, body = effect()
        return Response(body, status=code)
    fingerprint = request_fingerprint(request)
    user = cast("User", request.user)  # API views refuse anonymous requests first
    stored = _stored(user, key) if known is Unread.UNREAD else known
    if stored is not None:
        return _replay(stored, fingerprint)
    record = IdempotencyRecord(
        user=user,
        key=key,
        method=request.method or "",
        path=request.path[:500],
        request_sha256=fingerprint,
    )
    carried: Carried | None = None
    try:
        with transaction.atomic():
            with within() as carrier:
                code, body = effect()
                record.response_code = code
                record.response_body = json.dumps(body, cls=DjangoJSONEncoder)
                # One statement (ADR 0056): the key's row with its answer, unless a concurrent
                # request with the key committed it first; then this effect is rolled back.
                if carrier is not None and (carried := _KEYS.carried(record)) is not None:
                    carrier.carry(carried)
                elif not _KEYS.claim(record):
                    raise _Taken()
            if carried is not None and not _KEYS.took(record, carried):
                raise _Taken()
    except _Taken:
        return _replay(_stored(user, key), fingerprint)
    except Exception:
        # A concurrent request with the key may have succeeded while this one failed: the
        # client must get that answer, not this attempt's error.
        answered = _answered_meanwhile(user, key)
        if answered is None:
            raise
        return _replay(answered, fingerprint)
    # Answer from the stored text so that the first response and every replay are identical.
    return Response(json.loads(record.response_body), status=code)
