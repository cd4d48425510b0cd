"""The transactional outbox: work for a Celery task, written in the caller's transaction.

``enqueue`` writes an :class:`~core.models.OutboxMessage` in the transaction that needs the
work done, so a rolled-back change enqueues nothing. After commit the message is sent at once
(the fast path); if the broker is down the message stays due and ``relay`` (beat, every 10
seconds) sends it later. Sending is at least once; the consumer task hands its work to
``consume``, which claims the message with a conditional UPDATE, so a duplicate send runs the
work once. A failure is retried with exponential backoff; after ``max_attempts`` runs the
message is dead (a poison message) and waits for an operator. The design is in
docs/adr/0014-one-transactional-outbox.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core import events
from core.models import OutboxMessage, OutboxStatus
from rsp_portal.celery import app

if TYPE_CHECKING:
    from rsp_portal.types import Actor

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Sending gives up quickly when the broker is down: the relay retries later.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# A sent message not yet taken by a consumer is sent again after this (a wiped broker, a crash).
SEND_LEASE = timedelta(minutes=2)
# How long a consumer holds a claimed message before another one may take it over.
CLAIM_LEASE = timedelta(minutes=10)
# Backoff after a failed run: 10 s, 20 s, 40 s ... capped at 10 minutes.
RETRY_BASE = timedelta(seconds=10)
RETRY_MAX = timedelta(minutes=10)
MAX_ATTEMPTS = 6

#: Per topic, whether a message's work is already done elsewhere (e.g. a suite run that another
#: message finished after its first worker crashed): such a message is settled, not sent again
#: and never buried as dead (a false poison alarm). Registered by the app that owns the topic.
_SETTLED: dict[str, Callable[[dict[str, Any]], bool]] = {}


def settle_when(topic: str, done: Callable[[dict[str, Any]], bool]) -> None:
    """Let the relay settle a pending ``topic`` message whose work ``done(payload)`` says is
    finished elsewhere."""
    _SETTLED[topic] = done


def _settled(message: OutboxMessage, now: datetime) -> bool:
    """Mark the message done when its work finished elsewhere; True if it was."""
    done = _SETTLED.get(message.topic)
    if done is None or not done(message.payload):
        return False
    settled = OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.DONE,
        done_at=now,
        locked_until=None,
        last_error="settled: its work finished elsewhere",
    )
    if settled:
        logger.info("outbox %s (%s) settled: done elsewhere", message.pk, message.topic)
    return True


#: Per topic, how long the broker holds a sent message before a worker runs it (a burst of
#: work that one run covers: ADR 0052). Registered by the app that owns the topic.
_COUNTDOWNS: dict[str, Callable[[], float]] = {}


def send_after(topic: str, seconds: Callable[[], float]) -> None:
    """Let every ``topic`` message run ``seconds()`` after it is sent, not at once."""
    _COUNTDOWNS[topic] = seconds


def enqueue(
    topic: str,
    payload: dict[str, Any],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    delay: timedelta | None = None,
) -> OutboxMessage:
    """Write a message for task ``topic`` in the caller's transaction; send it after commit,
    or, with ``delay``, let the relay send it once the delay is over (a digest that gathers
    what comes in meanwhile, :func:`join`)."""
    message = OutboxMessage.objects.create(
        topic=topic,
        payload=payload,
        max_attempts=max_attempts,
        available_at=timezone.now() + (delay or SEND_LEASE),
    )
    if not delay:
        transaction.on_commit(lambda: dispatch(message.pk), robust=True)
    return message


def join(message_ids: Iterable[int]) -> OutboxMessage | None:
    """The newest of ``message_ids`` that no consumer has taken yet, locked until the caller's
    transaction ends: work attached to it meanwhile is seen by its consumer, whose claim waits
    for the lock. None when every one was taken."""
    return (
        OutboxMessage.objects.select_for_update()
        .filter(pk__in=message_ids, status=OutboxStatus.PENDING, attempts=0)
        .order_by("-pk")
        .first()
    )


def enqueue_many(
    topic: str, count: int, *, max_attempts: int = MAX_ATTEMPTS
) -> list[OutboxMessage]:
    """``count`` messages for task ``topic`` (empty payloads) in one statement, as
    :func:`enqueue` writes one; each is sent after commit."""
    if count <= 0:
        return []
    due = timezone.now() + SEND_LEASE
    messages = OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(topic=topic, payload={}, max_attempts=max_attempts, available_at=due)
            for _ in range(count)
        ]
    )
    ids = [m.pk for m in messages]
    transaction.on_commit(lambda: [dispatch(pk) for pk in ids], robust=True)
    return messages


def _send(message: OutboxMessage) -> None:
    """Hand the message's task to the broker (replaced by a list in unit tests)."""

    countdown = _COUNTDOWNS.get(message.topic)
    app.send_task(
        message.topic,
        kwargs={**message.payload, "outbox_id": message.pk},
        retry=True,
        retry_policy=PUBLISH_RETRY,
        countdown=countdown() if countdown is not None else None,
    )


def _try_send(message: OutboxMessage) -> bool:
    """Send; on a broker error make the message due now and return False."""
    try:
        _send(message)
    except Exception as exc:  # the broker is down or unreachable: the relay retries
        logger.warning(
            "outbox %s (%s) not sent (%s); the relay will retry", message.pk, message.topic, exc
        )
        OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.PENDING).update(
            available_at=timezone.now(), last_error=f"not sent: {exc}"[:2000]
        )
        return False
    return True


def dispatch(message_id: int) -> bool:
    """The fast path after commit: send one message now; False when the relay must do it."""
    message = OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.PENDING).first()
    if message is None:
        return True
    return _try_send(message)


def relay(limit: int = 100) -> int:
    """Send pending messages that are due, soonest first; returns how many were sent.

    Each message is claimed with a conditional UPDATE that moves its due time on by
    ``SEND_LEASE``, so two relays running at once never send the same message twice.
    """
    now = timezone.now()
    due = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING, available_at__lte=now).order_by(
            "available_at", "id"
        )[:limit]
    )
    sent = 0
    for message in due:
        if message.attempts and _settled(message, now):
            continue
        if message.attempts >= message.max_attempts:
            _bury(message, now)
            continue
        claimed = OutboxMessage.objects.filter(
            pk=message.pk, status=OutboxStatus.PENDING, available_at__lte=now
        ).update(available_at=now + SEND_LEASE)
        if not claimed:
            continue  # another relay (or a consumer) got there first
        if not _try_send(message):
            break  # the broker is down: the rest waits for the next run
        sent += 1
    return sent


def _bury(message: OutboxMessage, now: datetime) -> None:
    """A due message with no attempt left: its last consumer died without an answer."""
    error = f"the consumer of attempt {message.attempts} stopped without an answer"
    buried = OutboxMessage.objects.filter(
        pk=message.pk, status=OutboxStatus.PENDING, available_at__lte=now
    ).update(status=OutboxStatus.DEAD, locked_until=None, last_error=error)
    if buried:
        logger.error("outbox %s (%s) is dead: %s", message.pk, message.topic, error)


def backoff(attempts: int) -> timedelta:
    """The wait before the relay sends a message again after its ``attempts``-th failure."""
    doublings = min(max(attempts - 1, 0), 20)  # 2**20 * 10 s is past any cap
    return min(RETRY_BASE * (1 << doublings), RETRY_MAX)


def claim(message_id: int) -> int | None:
    """Take the message for one run; its attempt number, or None (done, dead or held)."""
    now = timezone.now()
    claimed = (
        OutboxMessage.objects.filter(
            pk=message_id, status=OutboxStatus.PENDING, attempts__lt=F("max_attempts")
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(
            attempts=F("attempts") + 1,
            locked_until=now + CLAIM_LEASE,
            available_at=now + CLAIM_LEASE,
        )
    )
    if not claimed:
        return None
    return int(OutboxMessage.objects.values_list("attempts", flat=True).get(pk=message_id))


def _mine(message_id: int, attempt: int) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(
        pk=message_id, status=OutboxStatus.PENDING, attempts=attempt
    )


def succeed(message_id: int, attempt: int) -> None:
    """Mark the claimed message done (fenced: a consumer that lost its claim changes nothing)."""
    _mine(message_id, attempt).update(
        status=OutboxStatus.DONE, done_at=timezone.now(), locked_until=None, last_error=""
    )


def fail(message_id: int, attempt: int, error: str) -> None:
    """Schedule the next attempt after a backoff, or mark the message dead after the last."""
    message = _mine(message_id, attempt).first()
    if message is None:
        return
    if attempt >= message.max_attempts:
        logger.error(
            "outbox %s (%s) is dead after %s attempts: %s",
            message_id,
            message.topic,
            attempt,
            error,
        )
        _mine(message_id, attempt).update(
            status=OutboxStatus.DEAD, locked_until=None, last_error=error[:2000]
        )
        return
    logger.warning(
        "outbox %s (%s) attempt %s failed: %s", message_id, message.topic, attempt, error
    )
    _mine(message_id, attempt).update(
        locked_until=None,
        available_at=timezone.now() + backoff(attempt),
        last_error=error[:2000],
    )


def consume(outbox_id: int | None, work: Callable[..., T], *args: Any) -> T | None:
    """Run ``work(*args)`` for an outbox message: claimed, then marked done or failed.

    Without ``outbox_id`` (a periodic or direct call) the work simply runs. A message that is
    done, dead or held by another consumer is skipped (None). A failure is recorded for a
    later retry, not raised, so the broker does not redeliver it outside the outbox.
    """
    if outbox_id is None:
        return work(*args)
    attempt = claim(int(outbox_id))
    if attempt is None:
        return None
    try:
        result = work(*args)
    except Exception as exc:
        fail(int(outbox_id), attempt, f"{type(exc).__name__}: {exc}")
        return None
    succeed(int(outbox_id), attempt)
    return result


def send_again(message: OutboxMessage, actor: Actor) -> bool:
    """Give a dead message a fresh set of attempts (an operator's decision, audited)."""
    with transaction.atomic():
        revived = OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.DEAD).update(
            status=OutboxStatus.PENDING, attempts=0, available_at=timezone.now()
        )
        if revived:
            events.record(
                "outbox.send_again",
                message,
                {"topic": message.topic, "last_error": message.last_error[:500]},
                actor,
            )
    return bool(revived)


def prune(days: int = 7) -> int:
    """Delete messages done more than ``days`` ago (dead ones stay until an operator acts)."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(status=OutboxStatus.DONE, done_at__lt=cutoff).delete()
    return deleted
