"""``Idempotency-Key`` when the key's row is written last, with its answer (ADR 0056).

A request looks for its key's stored answer in the token's statement; when there is none it
runs its effect and inserts the key's row with the answer, in one transaction. A duplicate
that was in flight at the same time finds the key taken only at that insert: it must then
roll its effect back and replay the first answer. These tests commit that first answer from
another connection at the worst moment, on real PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from rest_framework import exceptions

from audit.models import AuditEntry
from core.models import ApiToken, IdempotencyRecord, User
from evaluations import services
from evaluations.api import views
from evaluations.models import EvalResult
from rsp_portal.idempotency import request_fingerprint
from tests.conftest import bearer, waiting_on_a_lock, while_held
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import result

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FIRST_ANSWER = {"id": 4242, "answered": "by the first request"}


def post(client: Client, body: Any, key: str, url: str = "/api/v1/results/") -> Any:
    return client.post(
        url, json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def _answer_from_another_connection(user: User, key: str, fingerprint: str) -> None:
    """Commit ``key``'s answer as a concurrent first request would, on its own connection."""

    def commit() -> None:
        try:
            IdempotencyRecord.objects.create(
                user=user,
                key=key,
                method="POST",
                path="/api/v1/results/",
                request_sha256=fingerprint,
                response_code=201,
                response_body=json.dumps(FIRST_ANSWER),
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=commit)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the other connection's insert did not commit"


def _wrap_write(monkeypatch: pytest.MonkeyPatch, after: Callable[[Any], None]) -> None:
    """Make the view's write call ``after(request)`` once the real write has run."""
    real = services.record_results
    seen: dict[str, Any] = {}
    real_post = views.ResultList.post

    def capture(self: Any, request: Any) -> Any:
        seen["request"] = request
        return real_post(self, request)

    def write(*args: Any, **kwargs: Any) -> Any:
        written = real(*args, **kwargs)
        after(seen["request"])
        return written

    monkeypatch.setattr(views.ResultList, "post", capture)
    monkeypatch.setattr(services, "record_results", write)


def test_a_duplicate_that_finds_its_key_answered_at_the_end_rolls_back_and_replays(
    ckpt, pipeline, monkeypatch
):
    assert connection.vendor == "postgresql"
    client = bearer(pipeline)
    audit_before = AuditEntry.objects.count()

    def first_request_commits(request: Any) -> None:
        _answer_from_another_connection(pipeline, "race", request_fingerprint(request))

    _wrap_write(monkeypatch, first_request_commits)
    response = post(client, result(), "race")

    assert response.status_code == 201
    assert response.json() == FIRST_ANSWER
    assert response["Idempotent-Replayed"] == "true"
    # The duplicate's own write was rolled back with its audit entries: nothing twice.
    assert EvalResult.objects.count() == 0
    assert AuditEntry.objects.count() == audit_before
    assert IdempotencyRecord.objects.filter(key="race").count() == 1


def test_a_duplicate_whose_write_fails_after_the_key_was_answered_replays_the_answer(
    ckpt, pipeline, monkeypatch
):
    """Its error would describe a request that, for the client, succeeded: the first answer
    is what every attempt with the key must get."""
    client = bearer(pipeline)

    def first_request_commits_then_this_one_fails(request: Any) -> None:
        _answer_from_another_connection(pipeline, "race-2", request_fingerprint(request))
        raise exceptions.ValidationError({"model": ["refused after the first one succeeded"]})

    _wrap_write(monkeypatch, first_request_commits_then_this_one_fails)
    response = post(client, result(), "race-2")

    assert response.status_code == 201
    assert response.json() == FIRST_ANSWER
    assert EvalResult.objects.count() == 0


def test_a_failed_write_with_an_unanswered_key_still_answers_its_own_error(
    ckpt, pipeline, monkeypatch
):
    client = bearer(pipeline)

    def fails(request: Any) -> None:
        raise exceptions.ValidationError({"model": ["refused"]})

    _wrap_write(monkeypatch, fails)
    response = post(client, result(), "lonely")

    assert response.status_code == 400
    assert response.json()["errors"]["model"] == ["refused"]
    assert not IdempotencyRecord.objects.filter(key="lonely").exists()


def test_the_token_statement_finds_only_its_own_users_answer(ckpt, pipeline, safety):
    """Two users may use one key: the answer read beside the token is the token user's."""
    assert post(bearer(pipeline), result(), "shared").status_code == 201
    again = post(bearer(safety), result(), "shared")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert EvalResult.objects.count() == 2
    # And a replay for each of them.
    assert post(bearer(pipeline), result(), "shared")["Idempotent-Replayed"] == "true"
    assert post(bearer(safety), result(), "shared")["Idempotent-Replayed"] == "true"
    assert EvalResult.objects.count() == 2


def test_a_revoked_token_reads_no_answer(ckpt, pipeline):
    issued, text = ApiToken.issue(pipeline, "soon-revoked", ["evidence:write", "read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    assert post(client, result(), "k").status_code == 201
    issued.revoke()
    assert post(client, result(), "k").status_code == 401


def test_a_bad_key_header_is_named_after_the_token_is_checked(ckpt, pipeline):
    too_long = "k" * 256
    refused = Client(HTTP_AUTHORIZATION="Bearer rsp_0000_nope")
    assert post(refused, result(), too_long).status_code == 401
    response = post(bearer(pipeline), result(), too_long)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert EvalResult.objects.count() == 0


def _fingerprint(body: Any, path: str = "/api/v1/results/") -> str:
    """``request_fingerprint`` of a POST of ``body``, as the view computes it."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"POST\n{path}\n{text}".encode()).hexdigest()


def test_a_duplicate_in_flight_is_waited_for_before_the_log_head_is_locked(ckpt, pipeline):
    """The key's row rides in the audit append's statement, ahead of the append (ADR 0058):
    while a first request with the key has not committed, the duplicate waits for it with the
    log head, which every audited write needs, unlocked; then it rolls back and replays."""
    body = result()
    outcome: dict[str, Any] = {}

    def first_request(keep: Callable[[], None]) -> None:  # the key inserted, left uncommitted
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                user=pipeline,
                key="in-flight",
                method="POST",
                path="/api/v1/results/",
                request_sha256=_fingerprint(body),
                response_code=201,
                response_body=json.dumps(FIRST_ANSWER),
            )
            keep()

    def duplicate() -> None:
        outcome["response"] = post(bearer(pipeline), body, "in-flight")

    with while_held(first_request, duplicate):
        # The duplicate's append statement waits on the key, and the head is free meanwhile.
        # (The statement is matched by its opening: PostgreSQL shows its text cut to
        # track_activity_query_size, after ``PREPARE`` on the duplicate's new connection.)
        assert waiting_on_a_lock('WITH carried AS (INSERT INTO "evaluations_idempotencyrecord"')
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT size FROM audit_loghead WHERE id = 1 FOR UPDATE NOWAIT")
    response = outcome["response"]
    assert response.status_code == 201, response.content
    assert response.json() == FIRST_ANSWER
    assert response["Idempotent-Replayed"] == "true"
    assert EvalResult.objects.count() == 0
