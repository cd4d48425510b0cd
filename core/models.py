"""Users, their roles and sign-off titles, API tokens, and the worker heartbeat."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils import timezone

from core import events
from rsp_portal import prepared
from rsp_portal.rows import Columns, param_datetime

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rsp_portal.types import Actor


class Role(models.TextChoices):
    """Roles are fixed codes held in ``User.role`` (never an editable group name); a change of
    role is an audited fact that verification reconciles with the trail (``core.authority``)."""

    SAFETY = "safety", "Safety team"
    LEADERSHIP = "leadership", "Leadership"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Administrator"
    # Service accounts for training pipelines: report checkpoints and results, read the gate.
    PIPELINE = "pipeline", "Training pipeline"
    # People outside the lab: read only what leadership granted them, for a period, and record
    # reviews of it (accountability.reviews).
    REVIEWER = "reviewer", "External reviewer"


class User(AbstractUser):
    """A person or a service account in at most one role (a fixed code, not a group name)."""

    # Changed only by core.services (audited); "" is no role at all.
    role = models.CharField(max_length=16, choices=Role.choices, blank=True, default="")
    # The IANA zone pages show times in (activated per request by rsp_portal.middleware);
    # changed through core.services.set_time_zone (audited).
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["", *Role.values]), name="user_role_is_a_known_code"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    # set_password or set_unusable_password ran since the last save: the next save that
    # writes the column records the credential's fingerprint in the trail.
    _credential_set = False

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self._credential_set = True

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._credential_set = True

    def save(self, *args: object, **kwargs: object) -> None:
        """Saves; a password set on an existing account (a change, a reset, Django's rehash at
        sign-in) is recorded as ``user.password`` with its keyed fingerprint, and a changed
        e-mail address as ``user.email`` with its own, in the same transaction
        (``core.credentials``). A new account's are recorded by ``user.create``."""
        from core.credentials import ADDRESS, fingerprint

        update_fields = kwargs.get("update_fields")
        written = update_fields is None or "password" in update_fields  # type: ignore[operator]
        changed = self._credential_set and written and not self._state.adding
        email_written = update_fields is None or "email" in update_fields  # type: ignore[operator]
        with transaction.atomic():
            # The address as stored, read in this transaction: a save that writes another one
            # records it; one that leaves an address written by SQL as it is records nothing.
            moved = (
                email_written
                and not self._state.adding
                and User.objects.filter(pk=self.pk).exclude(email=self.email).exists()
            )
            super().save(*args, **kwargs)  # type: ignore[arg-type]
            if changed:
                events.record(
                    "user.password",
                    self,
                    {"username": self.username, "credential": fingerprint(self.password)},
                )
            if moved:
                events.record(
                    "user.email",
                    self,
                    {"username": self.username, "address": fingerprint(self.email, salt=ADDRESS)},
                )
        if written:
            self._credential_set = False

    @property
    def roles(self) -> frozenset[str]:
        """The role held, as a set (empty without a role)."""
        return frozenset((self.role,)) if self.role else frozenset()

    @property
    def titles(self) -> frozenset[str]:
        """Sign-off titles held (``RSO``, ``CEO``...); only leadership users hold any."""
        cached = getattr(self, "_titles_cache", None)
        if cached is None:
            cached = frozenset(self.signoff_titles.values_list("title", flat=True))
            self._titles_cache = cached
        return cached


class SignoffTitle(models.Model):
    """A sign-off title held by a leadership user, e.g. ``RSO`` or ``CEO``.

    One person holds at most one title (the database refuses a second), so nobody can fill two
    places of a two-person rule. Signing reads the title as the trail records it, not this row;
    verification fails while a row and the trail disagree (``core.authority``).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signoff_titles")
    title = models.CharField(max_length=32)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], name="signoff_title_one_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.user})"


class TitleGrantStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a second title holder"
    GRANTED = "granted", "Granted"
    REFUSED = "refused", "Refused"


class TitleGrant(models.Model):
    """A proposed sign-off title, granted once a second holder of another title approves.

    Like a pending decision: the proposer is the first approver, a different holder of a
    different title the second; neither may be the person receiving the title. The console
    (``create_user --title``, ``account grant-title``) grants at once: it bootstraps the first
    title holders, audited as the operator's act.
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="title_grants")
    title = models.CharField(max_length=32)
    # None: the console granted it at once.
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True)
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=TitleGrantStatus.choices, default=TitleGrantStatus.PENDING
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(proposed_by=models.F("user")),
                name="title_grant_not_proposed_by_recipient",
            ),
            models.CheckConstraint(
                condition=~models.Q(decided_by=models.F("user"))
                & ~models.Q(decided_by=models.F("proposed_by")),
                name="title_grant_second_approver_is_a_third_person",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status="pending"),
                name="title_grant_one_pending_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} for {self.user} ({self.status})"


class TokenScope(models.TextChoices):
    """What a token may be used for; the holder's role still bounds it (see rsp_portal.authz)."""

    READ = "read", "Read what the holder's role may read"
    GATE = "gate:read", "Read scaling gates"
    EVIDENCE = "evidence:write", "Report models, checkpoints and results"
    GOVERNANCE = "governance:write", "Request, approve and pause; record safeguards"
    AUDIT = "audit:read", "Read and export the audit trail"
    REVIEW = "review:write", "Record reviews of the reports you were granted"


TOKEN_PREFIX = "rsp"  # noqa: S105 (a label, not a secret)
# last_used_at is a convenience for operators; writing it on every request would turn every
# API read into a write, so it is refreshed at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def split_token(text: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a token text ``rsp_<key_id>_<secret>``, or None if malformed.

    Only the first two underscores separate fields: the key id is hex, but the URL-safe
    secret may itself contain ``_``.
    """
    prefix, sep, rest = text.partition("_")
    key_id, sep2, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not (sep and sep2 and key_id and secret):
        return None
    return key_id, secret


def _digest(secret: str) -> str:
    # The secret carries 256 random bits, so a plain SHA-256 cannot be brute-forced; no salt or
    # slow hash is needed (OWASP ASVS 6.5.2).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A named, scoped, revocable bearer token; only a digest of its secret is stored.

    The token text is ``rsp_<key_id>_<secret>``: ``key_id`` finds the row, the secret is
    compared against the stored digest in constant time.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)  # serves lookup on every request
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="token_name_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user}, {TOKEN_PREFIX}_{self.key_id}_…)"

    @classmethod
    def issue(
        cls,
        user: User,
        name: str,
        scopes: Iterable[str],
        expires_at: datetime | None = None,
        *,
        actor: Actor = None,
    ) -> tuple[ApiToken, str]:
        """Create a token and return it with its plain text, which is never stored.

        The issue is audited (never the secret or its digest); ``actor`` defaults to the
        token's owner, who issues their own tokens in the browser.
        """
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with transaction.atomic():
            token = cls.objects.create(
                user=user,
                name=name,
                key_id=key_id,
                digest=_digest(secret),
                scopes=sorted(set(scopes)),
                expires_at=expires_at,
            )
            events.record(
                "token.issue",
                token,
                {
                    "user": user.username,
                    "name": name,
                    "key_id": key_id,
                    "scopes": token.scopes,
                    "expires_at": expires_at,
                },
                actor=user if actor is None else actor,
            )
        return token, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    @classmethod
    def authenticate(cls, text: str) -> ApiToken | None:
        """The active token matching ``text``, or None."""
        found = cls.authenticate_with(text)
        return None if found is None else found[0]

    @classmethod
    def authenticate_with(
        cls, text: str, rider: Rider | None = None
    ) -> tuple[ApiToken, tuple[object, ...]] | None:
        """The active token matching ``text`` with the raw row ``rider`` selects, read in the
        token's statement (NULLs when it finds none; ``()`` without a rider), or None. The
        token is checked exactly as :meth:`authenticate` checks it: that is this method."""
        parts = split_token(text)
        if parts is None:
            return None
        key_id, secret = parts
        # One precompiled query: the token, its user and the user's role names (the permission
        # check of every API request needs them); see ``_token_lookup``.
        found = _token_lookup(key_id, rider)
        if found is None:
            return None
        token, extra = found
        if not hmac.compare_digest(token.digest, _digest(secret)):
            return None
        if not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token, extra

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def revoke(self, *, actor: Actor = None) -> None:
        """Revoke once (audited); revoking a revoked token changes nothing.

        ``actor`` defaults to the token's owner.
        """
        with transaction.atomic():
            now = timezone.now()
            # Conditional update: of two concurrent revocations only one records an entry.
            if not ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=now
            ):
                return
            self.revoked_at = now
            events.record(
                "token.revoke",
                self,
                {"user": self.user.username, "name": self.name, "key_id": self.key_id},
                actor=self.user if actor is None else actor,
            )


@dataclass(frozen=True)
class Rider:
    """A one-row ``SELECT`` that a hot path reads in the bearer token's statement
    (``ApiToken.authenticate_with``, ADR 0043), saving a round trip: the caller passes it down;
    the token's checks do not depend on it. Its parameters come before the token's."""

    sql: str
    params: tuple[str | int | float | None, ...]
    #: Its columns, when it is read beside another (:meth:`beside`); 0 when not counted.
    width: int = 0

    def beside(self, other: Rider) -> Rider:
        """One rider that reads this one's row and ``other``'s side by side (NULLs for a part
        that finds no row): this one's ``width`` columns, then ``other``'s. Both must say
        their width."""
        if not (self.width and other.width):
            raise ValueError("riders read side by side must say how many columns they read")
        sql = (
            "SELECT a.*, b.* FROM (SELECT 1 AS one) o "  # noqa: S608 (two riders' own SQL)
            f"LEFT JOIN ({self.sql}) a ON 1 = 1 LEFT JOIN ({other.sql}) b ON 1 = 1"
        )
        return Rider(sql, (*self.params, *other.params), self.width + other.width)


_TOKEN_SQL: dict[tuple[str, str], tuple[str, Columns[ApiToken], Columns[User]]] = {}


def _token_lookup(
    key_id: str, rider: Rider | None = None
) -> tuple[ApiToken, tuple[object, ...]] | None:
    """The active token with ``key_id`` and its user (all but the password; the role is a
    column), with ``rider``'s row LEFT JOINed, in one statement built once per database vendor
    and rider (no ORM compilation per request). Nothing is cached between requests: a
    revocation or role change counts at once."""
    from django.db import connection

    ride = rider.sql if rider is not None else ""
    built = _TOKEN_SQL.get((connection.vendor, ride))
    if built is None:
        token_cols = Columns(ApiToken, "t")
        user_cols = Columns(
            User, "u", [f.name for f in User._meta.concrete_fields if f.name != "password"]
        )
        q = connection.ops.quote_name
        sql = (
            f"SELECT {token_cols.sql()}, {user_cols.sql()}{', r.*' if ride else ''} "  # noqa: S608
            f"FROM {q(ApiToken._meta.db_table)} t "
            f"JOIN {q(User._meta.db_table)} u ON u.{q('id')} = t.{q('user_id')} "
            f"{f'LEFT JOIN ({ride}) r ON 1 = 1 ' if ride else ''}"
            f"WHERE t.{q('key_id')} = %s AND t.{q('revoked_at')} IS NULL "
            f"AND (t.{q('expires_at')} IS NULL OR t.{q('expires_at')} > %s)"
        )  # table and column names from _meta; values are parameters; the rider's from its owner
        built = _TOKEN_SQL[(connection.vendor, ride)] = (sql, token_cols, user_cols)
    template, token_cols, user_cols = built
    params: list[str | int | float | datetime | None] = [*(rider.params if rider else ()), key_id]
    params.append(param_datetime(timezone.now()))
    with connection.cursor() as cursor:
        prepared.statement(template).execute(cursor, params)  # planned once per connection
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    size = len(token_cols)
    token = token_cols.instance(first[:size])
    token.user = user_cols.instance(first[size : size + len(user_cols)])
    return token, tuple(first[size + len(user_cols) :])


class WorkerHeartbeat(models.Model):
    """One row: when the web tier last asked a worker to answer, and when one last did.

    `/healthz` sends a ping task through the broker; the worker stamps ``answered_at``. A stale
    answer means the broker or every worker is down.
    """

    requested_at = models.DateTimeField(null=True)
    request_nonce = models.CharField(max_length=32, blank=True)
    answered_at = models.DateTimeField(null=True)
    answered_nonce = models.CharField(max_length=32, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"worker heartbeat answered {self.answered_at}"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    DEAD = "dead", "Dead (gave up after its attempts)"


class OutboxMessage(models.Model):
    """A Celery task to run, written in the transaction that needs it run (core.outbox)."""

    # The Celery task's name; the consumer is that task, called with ``payload`` as keyword
    # arguments plus ``outbox_id``.
    topic = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    # Consumer runs so far (each claim adds one), and how many are allowed before it is dead.
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=6)
    # The relay sends a pending message again once this has passed.
    available_at = models.DateTimeField(default=timezone.now)
    # A consumer holds the message until then (a crashed consumer's claim lapses).
    locked_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[OutboxMessage]] = models.Manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1), name="outbox_max_attempts_positive"
            ),
        ]
        indexes = [
            # The relay: pending messages that are due, soonest first.
            models.Index(
                fields=["available_at"],
                condition=models.Q(status="pending"),
                name="outbox_due",
            ),
            # Pruning of done messages.
            models.Index(fields=["done_at"], name="outbox_done"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk} ({self.status})"


class IdempotencyRecord(models.Model):
    """The stored answer to a POST sent with an ``Idempotency-Key``, replayed on retries."""

    # No index of its own: the unique (user, key) index starts with it (ADR 0056).
    user = models.ForeignKey(
        "core.User", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_sha256 = models.CharField(max_length=64)
    # The answer's status, inserted with the answer in one statement (ADR 0056).
    response_code = models.PositiveSmallIntegerField(default=0)
    # The response as JSON text, not a JSON column: PostgreSQL's jsonb reorders object keys, and
    # a replay must answer byte for byte what the first request got.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The table keeps the name it was created under (the model moved from evaluations
        # when the idempotency helper became a shared API piece, rsp_portal.idempotency).
        db_table = "evaluations_idempotencyrecord"
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]
        indexes = [
            # Pruning of keys older than the retention period.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
