"""Health checks and account services."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from core.models import Role, SignoffTitle, User, WorkerHeartbeat
from rsp_portal.celery import app as celery_app

# A ping is sent at most this often, so anonymous health probes cannot flood the queue.
PING_INTERVAL = timedelta(seconds=5)
WORKER_STALE_AFTER = timedelta(minutes=2)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is reported, never raised, by a health check
        return f"error: {type(exc).__name__}"
    return "ok"


def check_broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def ping_worker() -> str | None:
    """Send a heartbeat task unless one was sent recently; returns the nonce sent, if any."""
    from core.tasks import heartbeat

    now = timezone.now()
    nonce = secrets.token_hex(8)
    with transaction.atomic():
        WorkerHeartbeat.objects.get_or_create(pk=1)
        # Conditional update: of many concurrent probes only one sends the ping.
        claimed = (
            WorkerHeartbeat.objects.filter(pk=1)
            .exclude(requested_at__gt=now - PING_INTERVAL)
            .update(requested_at=now, request_nonce=nonce)
        )
    if not claimed:
        return None
    heartbeat.delay(nonce)
    return nonce


def worker_status(wait_seconds: float = 0.0, nonce: str | None = None) -> dict[str, Any]:
    """The last worker answer; optionally wait until the worker has answered ``nonce``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        beat = WorkerHeartbeat.objects.filter(pk=1).first()
        answered = beat is not None and beat.answered_at is not None
        if not nonce or (answered and beat and beat.answered_nonce == nonce):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if beat is None or beat.answered_at is None:
        return {"status": "unknown", "last_answer": None}
    age = (timezone.now() - beat.answered_at).total_seconds()
    return {
        "status": "ok" if age <= WORKER_STALE_AFTER.total_seconds() else "stale",
        "last_answer": beat.answered_at.isoformat(),
        "age_seconds": round(age, 1),
    }


def health(wait_seconds: float = 0.0) -> dict[str, Any]:
    database = check_database()
    broker = check_broker() if database == "ok" else "unchecked"
    nonce = None
    if database == "ok" and broker == "ok":
        try:
            nonce = ping_worker()
        except Exception:
            broker = "error: publish failed"
    worker = worker_status(wait_seconds, nonce) if database == "ok" else {"status": "unknown"}
    healthy = database == "ok" and broker == "ok"
    return {
        "status": "ok" if healthy else "error",
        "database": database,
        "broker": broker,
        "broker_transport": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "worker": worker,
    }


def create_user(
    username: str,
    role: str,
    *,
    titles: list[str] | None = None,
    password: str | None = None,
    email: str = "",
    actor: Any = None,
) -> User:
    """Create a user in one role (a group), with sign-off titles for leadership.

    Without a password the account can only use API tokens. The creation is audited (username,
    role, titles; no e-mail or password); ``actor`` is who created it (None: a system process).
    """
    import audit

    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    if titles and role != Role.LEADERSHIP:
        raise ValueError("only leadership users can hold sign-off titles")
    with transaction.atomic():
        is_admin = role == Role.ADMIN
        user = User(username=username, email=email, is_staff=is_admin, is_superuser=is_admin)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        # get_or_create: the migration creates the groups, but a test flush empties the table.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        for title in titles or []:
            SignoffTitle.objects.create(user=user, title=title.upper())
        audit.record(
            "user.create",
            user,
            {
                "username": username,
                "role": role,
                "titles": sorted(title.upper() for title in titles or []),
                "staff": is_admin,
            },
            actor=actor,
        )
    return user
