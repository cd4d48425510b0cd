"""Health checks and account services.

Every change to who may do what goes through one function here, audited with the acting user:
creating and deactivating users, changing a role, granting and revoking sign-off titles,
issuing and revoking API tokens. The admin, the management commands and the pages all call
these; none of them edits roles, titles or tokens itself.

Separation of duties (NIST 800-53 AC-5, AC-3(2)):
- a sign-off title is granted by two holders of other sign-off titles in turn (a pending
  grant), never to oneself, and every step is announced to leadership; the operator's console
  (``create_user --title``, ``account grant-title``) grants at once, audited as its own act:
  it bootstraps the first title holders;
- one person holds at most one title (a database constraint as well);
- an account holding ``admin`` holds no title and cannot sign (``rsp_portal.authz``), so an
  administrator cannot alone satisfy a two-person rule;
- nobody changes their own role or grants themselves a title;
- a credential change of a title holder suspends their signing for a cooling-off period and
  is announced (``credential_changed``).

These rows are authority only as the trail records it: signing reads ``core.authority`` and
verification reconciles every row with its entries (``audit.reconcile``).
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeGuard
from zoneinfo import available_timezones

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from core import authority, credentials, events
from core.models import (
    ApiToken,
    Role,
    SignoffTitle,
    TitleGrant,
    TitleGrantStatus,
    User,
    WorkerHeartbeat,
)
from core.tasks import heartbeat
from rsp_portal.authz import can, require
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
        require(actor, "token.manage")


def _forget_cached(user: User) -> None:
    for attr in ("_titles_cache", "_audited_authority", "_credential_matches"):
        if hasattr(user, attr):
            delattr(user, attr)


def _announce(event: str, payload: dict[str, Any], actor: Actor = None) -> None:
    """Tell leadership (every title holder among them) about a change to who may sign."""
    events.emit(events.NOTIFY, events.Notice(event, payload, (Role.LEADERSHIP,)), actor)


def _one_title(titles: list[str] | None) -> list[str]:
    wanted = sorted({t.upper().strip() for t in titles or [] if t.strip()})
    if len(wanted) > 1:
        raise AccountError(
            f"One person holds one sign-off title, not {', '.join(wanted)}: a two-person rule "
            "needs two people."
        )
    return wanted


def create_user(
    username: str,
    role: str,
    *,
    titles: list[str] | None = None,
    password: str | None = None,
    email: str = "",
    actor: Actor = None,
) -> User:
    """Create a user in one role, with at most one sign-off title for leadership.

    Without a password the account can only use API tokens. The creation is audited (username,
    role, titles, and the keyed fingerprints of the password and the e-mail address, never the
    values); ``actor`` is who created it (None: a system process).
    A title at creation is the console's bootstrap of the first holders; a person proposes a
    title for an existing account instead (:func:`grant_title`, two holders).
    """
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    wanted = _one_title(titles)
    if wanted and role != Role.LEADERSHIP:
        raise ValueError("only leadership users can hold sign-off titles")
    _require_manager(actor)
    if wanted and _is_user(actor):
        raise AccountError(
            "Create the account without a title, then propose the title: two holders of other "
            "titles grant it (administrators cannot)."
        )
    with transaction.atomic():
        is_admin = role == Role.ADMIN
        user = User(
            username=username, email=email, role=role, is_staff=is_admin, is_superuser=is_admin
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        for title in wanted:
            SignoffTitle.objects.create(user=user, title=title)
            TitleGrant.objects.create(
                user=user, title=title, status=TitleGrantStatus.GRANTED, decided_at=timezone.now()
            )
        events.record(
            "user.create",
            user,
            {
                "username": username,
                "role": role,
                "titles": wanted,
                "staff": is_admin,
                "credential": credentials.fingerprint(user.password),
                "address": credentials.fingerprint(email, salt=credentials.ADDRESS),
            },
            actor=actor,
        )
        if wanted:
            _announce(
                "title.granted", {"user": username, "titles": wanted, "by": _name(actor)}, actor
            )
    return user


def _name(actor: Actor) -> str:
    return actor.get_username() if _is_user(actor) else str(actor or "system")


def _require_title_holder(actor: User, title: str, target: User) -> str:
    """``actor`` may take part in granting ``title`` to ``target``: returns the title they hold
    (as the trail records it), which must be another one."""

    if actor.pk == target.pk:
        raise AccountError("Nobody can grant themselves a sign-off title.")
    held = sorted(authority.cached_of_user(actor).titles & set(actor.titles))
    if not can(actor, "decision.sign") or not held or title in held:
        raise AccountError(
            f"Only holders of another sign-off title can grant {title} (administrators cannot)."
        )
    reason = authority.refusal(actor)
    if reason:
        raise AccountError(reason)
    return held[0]


def _grant(locked: User, title: str, grant: TitleGrant, actor: Actor) -> None:
    SignoffTitle.objects.create(user=locked, title=title)
    approvers = [u.username for u in (grant.proposed_by, grant.decided_by) if u is not None]
    events.record(
        "title.grant",
        locked,
        {"username": locked.username, "title": title, "approved_by": approvers},
        actor=actor,
    )
    _announce(
        "title.granted",
        {"user": locked.username, "titles": [title], "by": _name(actor)},
        actor,
    )


def grant_title(user: User, title: str, *, actor: Actor) -> TitleGrant:
    """Grant a leadership user a sign-off title: at once from the console, else in two steps.

    A title holder proposes (a pending grant, audited and announced); a second holder of
    another title approves it and the title is granted. Neither can be the recipient, who must
    be leadership and hold no title yet. Returns the grant (``status`` says which step).
    """
    title = title.upper().strip()
    if not title:
        raise AccountError("A title is required.")
    if _is_user(actor):
        _require_title_holder(actor, title, user)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.role != Role.LEADERSHIP:
            raise AccountError(
                f"{locked.username} is not leadership; only leadership users hold sign-off "
                "titles and an administrator never does."
            )
        current = SignoffTitle.objects.filter(user=locked).first()
        if current is not None:
            raise AccountError(
                f"{locked.username} already holds {current.title}; one person holds one "
                "sign-off title."
            )
        pending = TitleGrant.objects.select_for_update().filter(
            user=locked, status=TitleGrantStatus.PENDING
        )
        grant = pending.first()
        now = timezone.now()
        if not _is_user(actor):  # the console's bootstrap: at once
            if grant is not None:
                grant.status, grant.decided_at = TitleGrantStatus.REFUSED, now
                grant.save(update_fields=["status", "decided_at"])
            grant = TitleGrant.objects.create(
                user=locked, title=title, status=TitleGrantStatus.GRANTED, decided_at=now
            )
            _grant(locked, title, grant, actor)
        elif grant is None:
            grant = TitleGrant.objects.create(user=locked, title=title, proposed_by=actor)
            events.record(
                "title.grant.propose",
                grant,
                {"username": locked.username, "title": title, "proposed_by": actor.username},
                actor=actor,
            )
            _announce(
                "title.proposed",
                {"user": locked.username, "titles": [title], "by": actor.username},
                actor,
            )
        elif grant.title != title:
            raise AccountError(
                f"A grant of {grant.title} to {locked.username} is pending; refuse it first."
            )
        elif grant.proposed_by_id == actor.pk:
            raise AccountError(
                "You proposed this grant; a holder of another title must approve it."
            )
        else:
            _check_proposal_audited(grant)
            grant.status, grant.decided_by, grant.decided_at = TitleGrantStatus.GRANTED, actor, now
            grant.save(update_fields=["status", "decided_by", "decided_at"])
            _grant(locked, title, grant, actor)
    _forget_cached(user)
    return grant


def _check_proposal_audited(grant: TitleGrant) -> None:
    """A pending grant counts only if the trail recorded its proposal, by its proposer."""

    proposals = AuditEntry.objects.filter(
        object_type="core.titlegrant", object_id=str(grant.pk), action="title.grant.propose"
    )
    for entry in proposals:
        body = entry.parsed
        if (
            body["data"].get("title") == grant.title
            and body["actor"].get("id") == grant.proposed_by_id
        ):
            return
    raise AccountError("This pending grant has no proposal in the audit trail; it is refused.")


def refuse_title_grant(grant: TitleGrant, *, actor: Actor) -> None:
    """Refuse a pending grant (a title holder, an administrator or the console); audited."""

    if _is_user(actor) and not (can(actor, "token.manage") or can(actor, "decision.sign")):
        raise AccountError("Only a title holder or an administrator can refuse a title grant.")
    with transaction.atomic():
        changed = TitleGrant.objects.filter(pk=grant.pk, status=TitleGrantStatus.PENDING).update(
            status=TitleGrantStatus.REFUSED,
            decided_by=actor if _is_user(actor) else None,
            decided_at=timezone.now(),
        )
        if not changed:
            raise AccountError("This title grant is no longer pending.")
        events.record(
            "title.grant.refuse",
            grant,
            {"username": grant.user.username, "title": grant.title},
            actor=actor,
        )


def revoke_title(user: User, title: str, *, actor: Actor) -> None:
    """Take a sign-off title away (an admin or a title holder); audited and announced."""
    title = title.upper().strip()
    if _is_user(actor) and not (can(actor, "token.manage") or can(actor, "decision.sign")):
        raise AccountError("Only an administrator or a title holder can revoke a title.")
    with transaction.atomic():
        deleted, _ = SignoffTitle.objects.filter(user=user, title=title).delete()
        if not deleted:
            raise AccountError(f"{user.username} does not hold {title}.")
        events.record(
            "title.revoke", user, {"username": user.username, "title": title}, actor=actor
        )
        _announce(
            "title.revoked", {"user": user.username, "titles": [title], "by": _name(actor)}, actor
        )
    _forget_cached(user)


def set_role(user: User, role: str, *, actor: Actor) -> None:
    """Move a user to one role; audited. Never one's own; a title holder cannot become admin
    (revoke the titles first), and leaving leadership requires holding no title."""
    if role not in Role.values:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    _require_manager(actor)
    if _is_user(actor) and actor.pk == user.pk:
        raise AccountError("Nobody can change their own role.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = locked.role or None
        if before == role:
            return
        if role != Role.LEADERSHIP and locked.signoff_titles.exists():
            raise AccountError(
                f"{locked.username} holds sign-off titles; revoke them before changing the role "
                "(an administrator can never sign)."
            )
        is_admin = role == Role.ADMIN
        locked.role = role
        locked.is_staff = locked.is_superuser = is_admin
        locked.save(update_fields=["role", "is_staff", "is_superuser"])
        events.record(
            "user.role",
            locked,
            {"username": locked.username, "from": before, "to": role},
            actor=actor,
        )
    user.role = role
    _forget_cached(user)


def set_active(user: User, active: bool, *, actor: Actor) -> None:
    """Deactivate (or reactivate) an account; audited. Its tokens stop working with it.

    Reactivating a title holder is a credential change: their signing is suspended for the
    cooling-off period and the other title holders are told.
    """
    _require_manager(actor)
    if _is_user(actor) and actor.pk == user.pk and not active:
        raise AccountError("Ask another administrator to deactivate your own account.")
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk, is_active=not active).update(is_active=active)
        if not changed:
            return
        user.is_active = active
        events.record(
            "user.activate" if active else "user.deactivate",
            user,
            {"username": user.username},
            actor=actor,
        )
        if active:
            credential_changed(user, "reactivation", actor=actor)


def holds_a_title(user: User) -> bool:
    """In the row or in the trail: either makes a credential change matter."""

    return bool(
        SignoffTitle.objects.filter(user_id=user.pk).exists() or authority.of_user(user.pk).titles
    )


def credential_changed(user: User, kind: str, *, actor: Actor) -> bool:
    """Record that a title holder's credential changed (password, e-mail, reactivation, a
    token issued by someone else): their signing is suspended for SIGNOFF_COOLING_OFF_HOURS
    (``core.authority`` reads it from this entry) and the other title holders are told.
    Returns whether anything was recorded (nothing for an account without a title)."""
    if not holds_a_title(user):
        return False
    hours = settings.SIGNOFF_COOLING_OFF_HOURS
    with transaction.atomic():
        events.record(
            "user.credential",
            user,
            {"username": user.username, "kind": kind, "cooling_off_hours": hours},
            actor=actor,
        )
        _announce(
            "signer.credential_changed",
            {"user": user.username, "kind": kind, "by": _name(actor), "hours": hours},
            actor,
        )
    _forget_cached(user)
    return True


def record_credential(user: User, *, actor: Actor) -> None:
    """Record the account's current password and e-mail address as its credentials
    (``user.password``, ``user.email``), audited as the operator's act (``manage.py account
    record-credential``): for an account whose credentials the trail never recorded (created
    before they were fingerprinted). Check the account's sign-in and address first: whatever
    the columns hold becomes the recorded values."""
    if _is_user(actor):
        raise AccountError("Only the operator's console records a credential.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        events.record(
            "user.password",
            locked,
            {
                "username": locked.username,
                "credential": credentials.fingerprint(locked.password),
                "recorded_by": _name(actor),
            },
            actor=actor,
        )
        events.record(
            "user.email",
            locked,
            {
                "username": locked.username,
                "address": credentials.fingerprint(locked.email, salt=credentials.ADDRESS),
                "recorded_by": _name(actor),
            },
            actor=actor,
        )
    _forget_cached(user)


def issue_token(
    user: User,
    name: str,
    scopes: Any,
    *,
    actor: Actor,
    expires_at: Any = None,
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``: oneself from the tokens page, or by an admin/console.

    A token issued to a title holder by anyone else is a credential change (cooling-off).
    """
    own = _is_user(actor) and actor.pk == user.pk
    if not own:
        _require_manager(actor)
    with transaction.atomic():
        issued = ApiToken.issue(user, name, scopes, expires_at, actor=actor)
        if not own:
            credential_changed(user, "token", actor=actor)
    return issued


def revoke_token(token: ApiToken, *, actor: Actor) -> None:
    """Revoke a token, audited as whoever revoked it (the owner, an admin, the console)."""
    if not (_is_user(actor) and actor.pk == token.user_id):
        _require_manager(actor)
    token.revoke(actor=actor)


def set_time_zone(user: User, zone: str, *, actor: Actor) -> None:
    """Set the zone ``user``'s pages show times in (their own account only; audited)."""
    if zone not in available_timezones():
        raise AccountError(f"Unknown time zone {zone!r}: pick one from the list.")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.time_zone == zone:
            return
        events.record(
            "user.time_zone",
            locked,
            {"username": locked.username, "from": locked.time_zone, "to": zone},
            actor=actor,
        )
        locked.time_zone = zone
        locked.save(update_fields=["time_zone"])
    user.time_zone = zone
