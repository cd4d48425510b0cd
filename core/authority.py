"""Authority as the signed trail records it: roles, sign-off titles, token scopes, cooling-off.

The rows that confer authority (``core_user.role``, ``is_active``, ``is_staff``,
``core_signofftitle``, ``core_apitoken.scopes``) are written only by ``core.services``, in the
transaction that appends the audit entry describing the change. The database table owner can
still edit the rows; the chained, signed entries they cannot edit unseen. So:

- signing (``can_be_signed_by``, the one place) reads the signer's role, title and cooling-off
  from the trail (:func:`of_user`), and a token's scopes from its issue entry
  (:func:`token_scopes`): a forged row confers nothing;
- verification replays the trail (:func:`replay_all`) and fails on any authority row without
  its entry or differing from it (``audit.reconcile``), which pauses every gate.

A credential change of a title holder (password, e-mail, reactivation, a token issued by
someone else) is recorded as ``user.credential``; signing stays suspended for
``SIGNOFF_COOLING_OFF_HOURS`` after it, counted from the entry's own time.

Every stored password is fingerprinted in the trail (``user.create``'s ``credential``, then
``user.password``; ``core.credentials``): signing refuses an account whose password column does
not match its last fingerprint, so a hash written in SQL signs nothing. So is every e-mail
address (``user.create``'s ``address``, then ``user.email``), where reset links go: signing
refuses an account whose address column does not match its last fingerprint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator

from django.conf import settings

from audit.models import AuditEntry
from audit.verify_bundle import JsonObject as Body

USER_TYPE = "core.user"
TOKEN_TYPE = "core.apitoken"  # noqa: S105 (an object type, not a secret)
USER_ACTIONS = (
    "user.create",
    "user.role",
    "user.activate",
    "user.deactivate",
    "user.credential",
    "user.password",
    "user.email",
    "title.grant",
    "title.revoke",
)
TOKEN_ACTIONS = ("token.issue", "token.revoke")


@dataclasses.dataclass
class Audited:
    """One account's authority after replaying its entries in order."""

    created: bool = False
    role: str = ""
    titles: set[str] = dataclasses.field(default_factory=set)
    active: bool = True
    staff: bool = False
    credential_changed_at: dt.datetime | None = None
    credential: str | None = None  # keyed fingerprint of the last password stored
    address: str | None = None  # keyed fingerprint of the last e-mail address stored
    # seq of the entry that last changed the titles (for signatures recorded later)
    history: list[tuple[int, frozenset[str]]] = dataclasses.field(default_factory=list)

    def apply(self, body: Body) -> None:
        action, data = body["action"], body.get("data") or {}
        if action == "user.create":
            self.created = True
            self.role = str(data.get("role") or "")
            self.titles = {str(t) for t in data.get("titles") or []}
            self.staff = bool(data.get("staff"))
            self.credential = str(data["credential"]) if data.get("credential") else None
            self.address = str(data["address"]) if data.get("address") else None
        elif action == "user.password":
            self.credential = str(data.get("credential") or "") or None
        elif action == "user.email":
            self.address = str(data.get("address") or "") or None
        elif action == "user.role":
            self.role = str(data.get("to") or "")
            self.staff = self.role == "admin"
        elif action == "title.grant":
            self.titles.add(str(data.get("title")))
        elif action == "title.revoke":
            self.titles.discard(str(data.get("title")))
        elif action in ("user.activate", "user.deactivate"):
            self.active = action == "user.activate"
        if action == "user.credential":
            self.credential_changed_at = _ts(body["ts"])
        self.history.append((int(body["seq"]), frozenset(self.titles)))

    def titles_at(self, seq: int) -> frozenset[str]:
        """The titles held just before entry ``seq`` was appended."""
        held: frozenset[str] = frozenset()
        for at, titles in self.history:
            if at >= seq:
                break
            held = titles
        return held

    def suspended_until(self) -> dt.datetime | None:
        if self.credential_changed_at is None:
            return None
        hours = float(getattr(settings, "SIGNOFF_COOLING_OFF_HOURS", 72))
        return self.credential_changed_at + dt.timedelta(hours=hours)


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _bodies(
    object_type: str, actions: Iterable[str], object_id: str | None = None
) -> Iterator[tuple[str, Body]]:

    rows = AuditEntry.objects.filter(object_type=object_type, action__in=list(actions))
    if object_id is not None:
        rows = rows.filter(object_id=object_id)
    for object_id_, body in rows.order_by("seq").values_list("object_id", "body").iterator(2000):
        yield object_id_, json.loads(bytes(body))


def of_user(user_pk: int | None) -> Audited:
    """The account's authority as the trail records it (nothing for an unknown account)."""
    audited = Audited()
    if user_pk is None:
        return audited
    for _, body in _bodies(USER_TYPE, USER_ACTIONS, str(user_pk)):
        audited.apply(body)
    return audited


def replay_all() -> dict[str, Audited]:
    """Every account's audited authority, by user id (as text)."""
    found: dict[str, Audited] = {}
    for object_id, body in _bodies(USER_TYPE, USER_ACTIONS):
        found.setdefault(object_id, Audited()).apply(body)
    return found


@dataclasses.dataclass
class AuditedToken:
    user: str = ""
    key_id: str = ""
    scopes: frozenset[str] = frozenset()
    revoked: bool = False


def _apply_token(token: AuditedToken, body: Body) -> None:
    data = body.get("data") or {}
    if body["action"] == "token.issue":
        token.user = str(data.get("user") or "")
        token.key_id = str(data.get("key_id") or "")
        token.scopes = frozenset(str(s) for s in data.get("scopes") or [])
    else:
        token.revoked = True


def token_scopes(token_pk: int) -> frozenset[str]:
    """The scopes the token's issue entry recorded (none if the trail never issued it)."""
    token = AuditedToken()
    for _, body in _bodies(TOKEN_TYPE, TOKEN_ACTIONS, str(token_pk)):
        _apply_token(token, body)
    return frozenset() if token.revoked else token.scopes


def replay_tokens() -> dict[str, AuditedToken]:
    found: dict[str, AuditedToken] = {}
    for object_id, body in _bodies(TOKEN_TYPE, TOKEN_ACTIONS):
        _apply_token(found.setdefault(object_id, AuditedToken()), body)
    return found


def signing_title(user: object, candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` the user may sign with now, as the trail records it.

    The trail must show the account active, in leadership, holding the title, and out of any
    cooling-off; the row must agree too (a revocation in the row counts at once).
    """
    held_now: frozenset[str] = getattr(user, "titles", frozenset())
    audited = cached_of_user(user)
    if not audited.active or audited.role != "leadership" or refusal(user) is not None:
        return None
    return next((t for t in candidates if t in audited.titles and t in held_now), None)


def cached_of_user(user: object) -> Audited:
    """``of_user`` cached on the instance for one request (pages ask once per decision)."""
    cached: Audited | None = getattr(user, "_audited_authority", None)
    if cached is None:
        cached = of_user(getattr(user, "pk", None))
        user._audited_authority = cached  # type: ignore[attr-defined]
    return cached


def credential_matches(user: object) -> bool:
    """The account's password column is the one its last trail entry fingerprinted (cached on
    the instance; a token's user row is read without the password, which costs one query)."""
    from core.credentials import matches

    cached: bool | None = getattr(user, "_credential_matches", None)
    if cached is None:
        cached = matches(getattr(user, "password", None), cached_of_user(user).credential)
        user._credential_matches = cached  # type: ignore[attr-defined]
    return cached


def address_matches(user: object) -> bool:
    """The account's e-mail column is the one its last trail entry fingerprinted, or the trail
    recorded none (an account created before addresses were fingerprinted)."""
    from core.credentials import ADDRESS, matches

    recorded = cached_of_user(user).address
    return recorded is None or matches(getattr(user, "email", None), recorded, salt=ADDRESS)


ADDRESS_MISMATCH = (
    "Your e-mail address as stored does not match the audit trail (it was changed outside the "
    "application), so you cannot sign. Ask the operator to investigate; verification names the "
    "account and every gate stays paused until it is resolved."
)

CREDENTIAL_MISMATCH = (
    "Your password as stored does not match the audit trail (it was changed outside the "
    "application, or never recorded), so you cannot sign. Ask the operator to investigate; "
    "verification names the account and every gate stays paused until it is resolved."
)


def refusal(user: object) -> str | None:
    """Why the user may not sign at all now (a credential the trail does not back, a
    cooling-off), or None."""
    from django.utils import timezone

    if not credential_matches(user):
        return CREDENTIAL_MISMATCH
    if not address_matches(user):
        return ADDRESS_MISMATCH
    until = cached_of_user(user).suspended_until()
    if until is not None and until > timezone.now():
        return (
            "Your credentials changed recently; signing is suspended until "
            f"{until:%Y-%m-%d %H:%M} UTC (cooling-off). The other title holders were told."
        )
    return None
