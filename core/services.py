"""Health checks and account services.

Every change to who may do what goes through one function here, audited with the acting user:
creating and deactivating users, changing a role, granting and revoking sign-off titles,
issuing and revoking API tokens. The admin, the management commands and the pages all call
these; none of them edits groups, titles or tokens itself.

Separation of duties (NIST 800-53 AC-5, AC-3(2)):
- a sign-off title is granted only by a holder of another sign-off title, never to oneself,
  and every grant is announced to leadership (a console operator, acting as ``system``, may
  grant too: whoever runs manage.py on the server is trusted with the database anyway);
- an account holding ``admin`` holds no title and cannot sign (``rsp_portal.authz``), so an
  administrator cannot alone satisfy a two-person rule;
- nobody changes their own role or grants themselves a title.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeGuard

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from core import events
from core.models import ApiToken, Role, SignoffTitle, User, WorkerHeartbeat
from rsp_portal.celery import app as celery_app
from rsp_portal.rows import Columns

if TYPE_CHECKING:
    from rsp_portal.types import Actor


# A ping is sent at most this often, so anonymous health probes cannot flood the queue.
PING_INTERVAL = timedelta(seconds=5)
WORKER_STALE_AFTER = timedelta(minutes=2)


# A probe's broker check holds for this long in its process, so probes at hundreds per
# second do not open a broker connection each: the answer is at most this old.
BROKER_CHECK_TTL = 1.0
_broker_checked: tuple[float, str] = (-BROKER_CHECK_TTL, "")
# When this process last claimed (or found claimed) the worker ping; see ping_worker.
_ping_seen = -PING_INTERVAL.total_seconds()


def check_broker() -> str:
    global _broker_checked
    now = time.monotonic()
    if now - _broker_checked[0] < BROKER_CHECK_TTL:
        return _broker_checked[1]
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {type(exc).__name__}"  # a failure is never cached
    _broker_checked = (now, "ok")
    return "ok"


def ping_worker() -> str | None:
    """Send a heartbeat task unless one was sent recently; returns the nonce sent, if any."""
    global _ping_seen
    from core.tasks import heartbeat

    # Within PING_INTERVAL of this process's last claim, no probe anywhere may send another.
    if time.monotonic() - _ping_seen < PING_INTERVAL.total_seconds():
        return None
    _ping_seen = time.monotonic()
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


def worker_status(wait_seconds: float = 0.0, nonce: str | None = None) -> dict[str, object]:
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
    return _worker_report(beat)


def _worker_report(beat: WorkerHeartbeat | None) -> dict[str, object]:
    if beat is None or beat.answered_at is None:
        return {"status": "unknown", "last_answer": None}
    age = (timezone.now() - beat.answered_at).total_seconds()
    return {
        "status": "ok" if age <= WORKER_STALE_AFTER.total_seconds() else "stale",
        "last_answer": beat.answered_at.isoformat(),
        "age_seconds": round(age, 1),
    }


_BEAT = Columns(WorkerHeartbeat, "h", ["answered_at", "answered_nonce"])
_beat_sql: dict[str, str] = {}


def read_heartbeat() -> tuple[str, WorkerHeartbeat | None]:
    """One precompiled SELECT of the heartbeat row: its success shows the database answers.

    Returns the database check (``"ok"`` or ``"error: ..."``) and the row, if any.
    """
    sql = _beat_sql.get(connection.vendor)
    if sql is None:
        table = connection.ops.quote_name(WorkerHeartbeat._meta.db_table)
        sql = f"SELECT {_BEAT.sql()} FROM {table} h WHERE h.id = 1"  # noqa: S608 (from _meta)
        _beat_sql[connection.vendor] = sql
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
    except Exception as exc:  # any failure is reported, never raised, by a health check
        return f"error: {type(exc).__name__}", None
    return "ok", _BEAT.instance(row) if row is not None else None


def health(wait_seconds: float = 0.0) -> dict[str, Any]:
    database, beat = read_heartbeat()
    broker = check_broker() if database == "ok" else "unchecked"
    nonce = None
    if database == "ok" and broker == "ok":
        try:
            nonce = ping_worker()
        except Exception:
            broker = "error: publish failed"
    if database != "ok":
        worker: dict[str, object] = {"status": "unknown"}
    elif nonce or wait_seconds:  # a ping went out or the caller waits: read the row again
        worker = worker_status(wait_seconds, nonce)
    else:
        worker = _worker_report(beat)
    healthy = database == "ok" and broker == "ok"
    return {
        "status": "ok" if healthy else "error",
        "database": database,
        "broker": broker,
        "broker_transport": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "worker": worker,
    }


class AccountError(ValueError):
    """An account change refused by the rules above (shown to the caller as-is)."""


def _is_user(actor: Actor) -> TypeGuard[User]:
    """A person rather than a console process (``request.user`` is signed in on every page)."""
    return actor is not None and not isinstance(actor, str)


def _require_manager(actor: Actor) -> None:
    """Users need ``token.manage`` (admins); a console process (None / a name) may act."""
    if _is_user(actor):
        from rsp_portal.authz import require

        require(actor, "token.manage")


def _role_of(user: User) -> str | None:
    roles = sorted(user.groups.values_list("name", flat=True))
    return roles[0] if len(roles) == 1 else (",".join(roles) or None)


def _forget_cached(user: User) -> None:
    for attr in ("_roles_cache", "_titles_cache"):
        if hasattr(user, attr):
            delattr(user, attr)


def _announce(event: str, payload: dict[str, Any], actor: Actor = None) -> None:
    """Tell leadership (every title holder among them) about a change to who may sign."""
    events.emit(events.NOTIFY, events.Notice(event, payload, (Role.LEADERSHIP,)), actor)


def create_user(
    username: str,
    role: str,
    *,
    titles: list[str] | None = None,
    password: str | None = None,
    email: str = "",
    actor: Actor = None,
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
    if titles:
        _require_title_grantor(actor, titles, None)
    else:
        _require_manager(actor)
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
        if titles:
            _announce(
                "title.granted",
                {"user": username, "titles": sorted(t.upper() for t in titles), "by": _name(actor)},
                actor,
            )
    return user


def _name(actor: Actor) -> str:
    return actor.get_username() if _is_user(actor) else str(actor or "system")


def _require_title_grantor(actor: Actor, titles: list[str], target: User | None) -> None:
    """A user grants a title only if they hold another sign-off title and are not the target."""
    if not _is_user(actor):
        return  # the console (see the module docstring)
    if target is not None and actor.pk == target.pk:
        raise AccountError("Nobody can grant themselves a sign-off title.")
    from rsp_portal.authz import can

    wanted = {t.upper() for t in titles}
    if not can(actor, "decision.sign") or not (set(actor.titles) - wanted):
        raise AccountError(
            "Only a holder of another sign-off title can grant "
            + ", ".join(sorted(wanted))
            + " (administrators cannot)."
        )


def grant_title(user: User, title: str, *, actor: Actor) -> SignoffTitle:
    """Give a leadership user a sign-off title; audited and announced to leadership."""
    import audit

    title = title.upper().strip()
    if not title:
        raise AccountError("A title is required.")
    _require_title_grantor(actor, [title], user)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        roles = set(locked.groups.values_list("name", flat=True))
        if roles != {Role.LEADERSHIP}:
            raise AccountError(
                f"{locked.username} is not (only) leadership; only leadership users hold "
                "sign-off titles and an administrator never does."
            )
        if SignoffTitle.objects.filter(user=locked, title=title).exists():
            raise AccountError(f"{locked.username} already holds {title}.")
        granted = SignoffTitle.objects.create(user=locked, title=title)
        audit.record(
            "title.grant", locked, {"username": locked.username, "title": title}, actor=actor
        )
        _announce(
            "title.granted", {"user": locked.username, "titles": [title], "by": _name(actor)}, actor
        )
    _forget_cached(user)
    return granted


def revoke_title(user: User, title: str, *, actor: Actor) -> None:
    """Take a sign-off title away (an admin or a title holder); audited and announced."""
    import audit

    title = title.upper().strip()
    if _is_user(actor):
        from rsp_portal.authz import can

        if not (can(actor, "token.manage") or can(actor, "decision.sign")):
            raise AccountError("Only an administrator or a title holder can revoke a title.")
    with transaction.atomic():
        deleted, _ = SignoffTitle.objects.filter(user=user, title=title).delete()
        if not deleted:
            raise AccountError(f"{user.username} does not hold {title}.")
        audit.record("title.revoke", user, {"username": user.username, "title": title}, actor=actor)
        _announce(
            "title.revoked", {"user": user.username, "titles": [title], "by": _name(actor)}, actor
        )
    _forget_cached(user)


def set_role(user: User, role: str, *, actor: Actor) -> None:
    """Move a user to one role; audited. Never one's own; a title holder cannot become admin
    (revoke the titles first), and leaving leadership requires holding no title."""
    import audit

    if role not in Role.values:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    _require_manager(actor)
    if _is_user(actor) and actor.pk == user.pk:
        raise AccountError("Nobody can change their own role.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = _role_of(locked)
        if before == role:
            return
        if role != Role.LEADERSHIP and locked.signoff_titles.exists():
            raise AccountError(
                f"{locked.username} holds sign-off titles; revoke them before changing the role "
                "(an administrator can never sign)."
            )
        locked.groups.set([Group.objects.get_or_create(name=role)[0]])
        is_admin = role == Role.ADMIN
        if locked.is_staff != is_admin or locked.is_superuser != is_admin:
            locked.is_staff = locked.is_superuser = is_admin
            locked.save(update_fields=["is_staff", "is_superuser"])
        audit.record(
            "user.role",
            locked,
            {"username": locked.username, "from": before, "to": role},
            actor=actor,
        )
    _forget_cached(user)


def set_active(user: User, active: bool, *, actor: Actor) -> None:
    """Deactivate (or reactivate) an account; audited. Its tokens stop working with it."""
    import audit

    _require_manager(actor)
    if _is_user(actor) and actor.pk == user.pk and not active:
        raise AccountError("Ask another administrator to deactivate your own account.")
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active)
        if not changed:
            return
        user.is_active = active
        audit.record(
            "user.activate" if active else "user.deactivate",
            user,
            {"username": user.username},
            actor=actor,
        )


def issue_token(
    user: User,
    name: str,
    scopes: Any,
    *,
    actor: Actor,
    expires_at: Any = None,
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``: oneself from the tokens page, or by an admin/console."""
    if not (_is_user(actor) and actor.pk == user.pk):
        _require_manager(actor)
    return ApiToken.issue(user, name, scopes, expires_at, actor=actor)


def revoke_token(token: ApiToken, *, actor: Actor) -> None:
    """Revoke a token, audited as whoever revoked it (the owner, an admin, the console)."""
    if not (_is_user(actor) and actor.pk == token.user_id):
        _require_manager(actor)
    token.revoke(actor=actor)
