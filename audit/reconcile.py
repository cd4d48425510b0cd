"""Reconciliation: the rows the gate reads must say what their audit entries say.

The hash chain proves the *trail* unchanged; it says nothing about the business tables beside
it. Someone with owner rights can drop a trigger, back-date a safeguard verification and put
the trigger back, and the chain still verifies. So verification also recomputes, for every
gate-relevant row (results, evaluation checkpoints, safeguard records, decisions, approvals,
pauses, the active policy version), the values its audit entry recorded, and names any row
that differs or has no entry at all.

Authority is reconciled the same way (``_check_authority``): every account's role, activity and
staff flags, password and e-mail address (their keyed fingerprints, ``core.credentials``),
every sign-off title and every API token's scopes must be what the trail's account entries say
(``core.authority``), and every signature in the trail must name a title its signer held there
(``SignerCheck``, also run by the offline verifier).

A rule per kind of row says which entry describes it (action and object) and which values to
compare. Timestamps the entry does not carry are compared with the entry's own ``ts``: a row is
written in the transaction that appends its entry, so the two lie within ``TIME_SLACK``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.db import models

from audit.models import AuditEntry
from audit.services import json_safe
from audit.verify_bundle import (
    AUTHORITY_ACTIONS,
    SIGNING_ACTIONS,
    JsonObject,
    SignerCheck,
    VerificationError,
)
from core.events import Query, ask

if TYPE_CHECKING:
    from core.authority import Audited
    from evaluations.models import Checkpoint, EvalResult
    from governance.models import Approval, Pause, SafeguardRecord, ScalingDecision
    from policies.models import ActivationSignature

# A row's timestamp is taken when the object is built, the entry's a moment later in the same
# transaction; a slow transaction still commits well within this.
TIME_SLACK = dt.timedelta(minutes=5)
_SKEW = dt.timedelta(seconds=2)


_Row = TypeVar("_Row", bound=models.Model)
#: An audit entry's body as parsed from its stored JSON.
_Body = JsonObject


@dataclasses.dataclass(frozen=True)
class Rule(Generic[_Row]):
    """How one kind of row is found in the trail and what must agree."""

    label: str  # app_label.model
    actions: tuple[str, ...]  # entry actions that describe it
    rows: Callable[[], Iterable[_Row]]
    # Entry object id for a row (the row's own pk, or e.g. the decision of an approval).
    object_id: Callable[[_Row], str]
    expected: Callable[[_Row], dict[str, object]]  # values that must equal the entry's data
    # Picks the entry of a row among those for its object (default: the first).
    matches: Callable[[_Row, _Body], bool] = lambda row, body: True
    time: Callable[[_Row], dt.datetime | None] = lambda row: None
    actor_id: Callable[[_Row], int | None] = lambda row: None
    object_type: str | None = None  # defaults to ``label``


def _iso_ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _results() -> Iterable[EvalResult]:
    from evaluations.models import EvalResult

    return EvalResult.objects.select_related("model", "checkpoint").order_by("pk").iterator(2000)


def _result_expected(row: EvalResult) -> dict[str, object]:
    return {
        "model": row.model.slug,
        "checkpoint": row.checkpoint.name,
        "metric": row.metric_key,
        "value": row.value,
        "stderr": row.stderr,
        "n_samples": row.n_samples,
        "mitigation": row.mitigation,
        "evaluated_at": row.evaluated_at.isoformat(),
        "partial": row.partial,
    }


def _checkpoints() -> Iterable[Checkpoint]:
    from evaluations.models import Checkpoint

    return Checkpoint.objects.select_related("model").order_by("pk").iterator(2000)


def _safeguards() -> Iterable[SafeguardRecord]:
    from governance.models import SafeguardRecord

    return SafeguardRecord.objects.select_related("model").order_by("pk").iterator(2000)


def _decisions() -> Iterable[ScalingDecision]:
    from governance.models import ScalingDecision

    return ScalingDecision.objects.select_related("model").order_by("pk").iterator(2000)


def _approvals() -> Iterable[Approval]:
    from governance.models import Approval

    return Approval.objects.order_by("pk").iterator(2000)


def _pauses() -> Iterable[Pause]:
    from governance.models import Pause

    return Pause.objects.select_related("model").order_by("pk").iterator(2000)


def _activation_signatures(audited_as: str) -> Callable[[], Iterable[ActivationSignature]]:
    """Signatures whose activation the trail describes as ``audited_as`` (rows migrated from
    the two earlier sign-off tables keep the entries written when they were given)."""

    def rows() -> Iterable[ActivationSignature]:
        from policies.models import ActivationSignature

        return (
            ActivationSignature.objects.filter(activation__audited_as=audited_as)
            .select_related("activation")
            .order_by("pk")
            .iterator(2000)
        )

    return rows


def _rule(rule: Rule[_Row]) -> Rule[Any]:
    """``rule`` checked for its own row type, to stand in a list beside rules of other types."""
    return rule


RULES: list[Rule[Any]] = [
    _rule(
        Rule(
            "evaluations.evalresult",
            ("result.create", "result.correct"),
            _results,
            lambda r: str(r.pk),
            _result_expected,
        )
    ),
    _rule(
        Rule(
            "evaluations.checkpoint",
            ("checkpoint.report",),
            _checkpoints,
            lambda r: str(r.pk),
            lambda r: {
                "model": r.model.slug,
                "name": r.name,
                "effective_compute": r.effective_compute,
            },
            time=lambda r: r.reported_at,
        )
    ),
    _rule(
        Rule(
            "governance.safeguardrecord",
            ("safeguard.record",),
            _safeguards,
            lambda r: str(r.pk),
            lambda r: {
                "model": r.model.slug,
                "requirement": r.requirement_code,
                "status": r.status,
                "evidence_url": r.evidence_url,
            },
            time=lambda r: r.recorded_at,
            actor_id=lambda r: r.recorded_by_id,
        )
    ),
    _rule(
        Rule(
            "governance.scalingdecision",
            ("decision.request",),
            _decisions,
            lambda r: str(r.pk),
            lambda r: {
                "model": r.model.slug,
                "compute_limit": r.compute_limit,
                "dossier_sha256": r.dossier_sha256,
                "required_titles": r.required_titles,
                "policy_version": r.policy_version_id,
            },
            time=lambda r: r.requested_at,
            actor_id=lambda r: r.requested_by_id,
        )
    ),
    _rule(
        Rule(
            "governance.approval",
            ("decision.approve", "decision.reject"),
            _approvals,
            lambda r: str(r.decision_id),
            lambda r: {"title": r.title, "dossier_sha256": r.dossier_sha256, "comment": r.comment},
            matches=lambda r, body: body["data"].get("title") == r.title,
            time=lambda r: r.created_at,
            actor_id=lambda r: r.approver_id,
            object_type="governance.scalingdecision",
        )
    ),
    *(
        _rule(
            Rule(
                "policies.activationsignature",
                ("policy.activation.approve", "policy.activation.reject"),
                _activation_signatures(audited_as),
                lambda r: str(r.activation_id),
                lambda r: {"title": r.title, "dossier_sha256": r.dossier_sha256},
                matches=lambda r, body: body["data"].get("title") == r.title,
                time=lambda r: r.created_at,
                actor_id=lambda r: r.signer_id,
                object_type=audited_as,
            )
        )
        for audited_as in ("policies.policyactivation", "core.policyactivation")
    ),
    _rule(
        Rule(
            "policies.activationsignature",
            ("policy.activation_approve",),
            _activation_signatures("policies.policyversion"),
            lambda r: str(r.activation.version_id),
            lambda r: {"title": r.title, "content_sha256": r.activation.content_sha256},
            matches=lambda r, body: (
                body["data"].get("title") == r.title
                and body["data"].get("content_sha256") == r.activation.content_sha256
            ),
            time=lambda r: r.created_at,
            actor_id=lambda r: r.signer_id,
            object_type="policies.policyversion",
        )
    ),
    _rule(
        Rule(
            "governance.pause",
            ("model.pause",),
            _pauses,
            lambda r: str(r.pk),
            lambda r: {"model": r.model.slug, "reason": r.reason},
            time=lambda r: r.created_at,
            actor_id=lambda r: r.created_by_id,
        )
    ),
]


def _entries_by_object(object_type: str, actions: tuple[str, ...]) -> dict[str, list[_Body]]:
    found: dict[str, list[_Body]] = {}
    rows = (
        AuditEntry.objects.filter(object_type=object_type, action__in=actions)
        .order_by("seq")
        .values_list("object_id", "body")
    )
    for object_id, body in rows.iterator(2000):
        found.setdefault(object_id, []).append(json.loads(bytes(body)))
    return found


def _fault(rule: Rule[_Row], row: _Row, message: str) -> VerificationError:
    return VerificationError(None, f"reconciliation: {rule.label} #{row.pk} {message}")


def _check_row(rule: Rule[_Row], row: _Row, bodies: list[_Body]) -> None:
    body = next((b for b in bodies if rule.matches(row, b)), None)
    if body is None:
        raise _fault(rule, row, "has no audit entry")
    data = body.get("data") or {}
    for key, value in json_safe(rule.expected(row)).items():
        if data.get(key) != value:
            raise _fault(
                rule,
                row,
                f"differs from audit entry #{body['seq']}: {key} is {value!r} in the database "
                f"but {data.get(key)!r} in the trail",
            )
    moment = rule.time(row)
    if moment is not None:
        logged = _iso_ts(body["ts"])
        if not (moment - _SKEW <= logged <= moment + TIME_SLACK):
            raise _fault(
                rule,
                row,
                f"differs from audit entry #{body['seq']}: its time {moment.isoformat()} is not "
                f"when the trail recorded it ({body['ts']})",
            )
    actor = rule.actor_id(row)
    if actor is not None and body.get("actor", {}).get("id") != actor:
        raise _fault(rule, row, f"differs from audit entry #{body['seq']}: another actor")


def _check_decision_status() -> None:
    """A decision's status must be the last one the trail recorded (pending if none)."""
    from governance.models import ScalingDecision

    statuses: dict[str, str] = {}
    rows = (
        AuditEntry.objects.filter(
            object_type="governance.scalingdecision", action="decision.status"
        )
        .order_by("seq")
        .values_list("object_id", "body")
    )
    for object_id, body in rows.iterator(2000):
        statuses[object_id] = json.loads(bytes(body))["data"].get("status")
    for pk, status in ScalingDecision.objects.values_list("pk", "status").iterator(2000):
        expected = statuses.get(str(pk), "pending")
        if status != expected:
            raise VerificationError(
                None,
                f"reconciliation: governance.scalingdecision #{pk} is {status!r} in the database "
                f"but {expected!r} in the trail",
            )


def _check_active_policy() -> None:
    """The active policy version's content must hash to what its activation recorded."""
    from policies.models import PolicyVersion
    from policies.packs import content_sha256, validate_pack
    from policies.services import to_pack, version_with_children

    for version in PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE):
        bodies = _entries_by_object("policies.policyversion", ("policy.activate",)).get(
            str(version.pk), []
        )
        if not bodies:
            raise VerificationError(
                None,
                f"reconciliation: policies.policyversion #{version.pk} is active but the "
                "trail has no activation for it",
            )
        recorded = bodies[-1]["data"].get("content_sha256")
        full = version_with_children(version.pk)
        actual = (
            content_sha256(validate_pack(to_pack(full), f"version #{version.pk}"))
            if full is not None
            else None
        )
        if recorded not in (version.content_sha256, None) or (
            actual is not None and version.content_sha256 and actual != version.content_sha256
        ):
            raise VerificationError(
                None,
                f"reconciliation: policies.policyversion #{version.pk} content differs from "
                "what its activation recorded",
            )


def _authority_fault(label: str, pk: object, message: str) -> VerificationError:
    return VerificationError(None, f"reconciliation: {label} #{pk} {message}")


def _check_users(audited: dict[str, Audited]) -> None:
    from core.models import SignoffTitle, User

    holders = set(SignoffTitle.objects.values_list("user_id", flat=True))
    rows = User.objects.values_list(
        "pk", "username", "role", "is_active", "is_staff", "is_superuser"
    ).order_by("pk")
    for pk, username, role, active, staff, superuser in rows.iterator(2000):
        trail = audited.get(str(pk))
        if trail is None or not trail.created:
            if role or staff or superuser or pk in holders:
                raise _authority_fault(
                    "core.user", pk, f"({username}) has authority but no audit entry"
                )
            continue
        if role != trail.role:
            raise _authority_fault(
                "core.user",
                pk,
                f"({username}) differs from the trail: role is {role!r} in the database but "
                f"{trail.role!r} in the trail",
            )
        if (staff or superuser) and trail.role != "admin":
            raise _authority_fault(
                "core.user", pk, f"({username}) is staff in the database but not in the trail"
            )
        if active and not trail.active:
            raise _authority_fault(
                "core.user", pk, f"({username}) is active in the database but not in the trail"
            )


def _check_credentials(audited: dict[str, Audited]) -> None:
    """Every password column is the one its account's last entry fingerprinted; a title holder
    must have one recorded. Every e-mail column is the one its account's last entry
    fingerprinted, where one was recorded (``core.credentials``)."""
    from core.credentials import ADDRESS, matches
    from core.models import SignoffTitle, User

    holders = set(SignoffTitle.objects.values_list("user_id", flat=True))
    rows = User.objects.values_list("pk", "username", "password", "email").order_by("pk")
    for pk, username, password, email in rows.iterator(2000):
        trail = audited.get(str(pk))
        if trail is None:
            continue
        if trail.address is not None and not matches(email, trail.address, salt=ADDRESS):
            raise _authority_fault(
                "core.user",
                pk,
                f"({username}) e-mail address differs from the trail: it was changed outside "
                "the application",
            )
        if trail.credential is None:
            if pk in holders or trail.titles:
                raise _authority_fault(
                    "core.user",
                    pk,
                    f"({username}) has no credential fingerprint in the trail; check the "
                    f"account's sign-in, then run `manage.py account record-credential "
                    f"{username}`",
                )
            continue
        if not matches(password, trail.credential):
            raise _authority_fault(
                "core.user",
                pk,
                f"({username}) credential differs from the trail: the password hash was "
                "changed outside the application",
            )


def _check_titles(audited: dict[str, Audited]) -> None:
    from core.models import SignoffTitle

    rows = SignoffTitle.objects.select_related("user").order_by("pk")
    for row in rows.iterator(2000):
        trail = audited.get(str(row.user_id))
        if trail is None or row.title not in trail.titles:
            raise _authority_fault(
                "core.signofftitle",
                row.pk,
                f"({row.title} held by {row.user.username}) has no audit entry granting it",
            )


def _check_tokens() -> None:
    from core.authority import replay_tokens
    from core.models import ApiToken

    audited = replay_tokens()
    rows = ApiToken.objects.select_related("user").order_by("pk")
    for row in rows.iterator(2000):
        trail = audited.get(str(row.pk))
        if trail is None or not trail.key_id:
            raise _authority_fault("core.apitoken", row.pk, "has no audit entry")
        if frozenset(row.scopes) != trail.scopes:
            raise _authority_fault(
                "core.apitoken",
                row.pk,
                f"differs from the trail: scopes are {sorted(row.scopes)!r} in the database "
                f"but {sorted(trail.scopes)!r} in the trail",
            )
        if row.key_id != trail.key_id or row.user.username != trail.user:
            raise _authority_fault("core.apitoken", row.pk, "differs from the trail: its owner")
        if trail.revoked and row.revoked_at is None:
            raise _authority_fault(
                "core.apitoken", row.pk, "is active in the database but revoked in the trail"
            )


def _check_signers() -> None:
    """Every signature in the trail names a title its signer held there (and no cooling-off)."""
    check = SignerCheck()
    rows = (
        AuditEntry.objects.filter(action__in=[*AUTHORITY_ACTIONS, *SIGNING_ACTIONS])
        .order_by("seq")
        .values_list("seq", "body")
    )
    for seq, body in rows.iterator(2000):
        check.feed(seq, json.loads(bytes(body)))


def _check_authority() -> None:
    """Roles, titles and token scopes must be what the trail says (``core.authority``)."""
    from core.authority import replay_all

    audited = replay_all()
    _check_users(audited)
    _check_titles(audited)
    _check_credentials(audited)
    _check_tokens()
    _check_signers()
    _check_access_grants()


def reconcile() -> None:
    """Raise VerificationError naming the first gate-relevant row that the trail contradicts."""
    for rule in RULES:
        entries = _entries_by_object(rule.object_type or rule.label, rule.actions)
        for row in rule.rows():
            _check_row(rule, row, entries.get(rule.object_id(row), []))
    _check_decision_status()
    _check_active_policy()
    _check_stored_gates()
    _check_authority()


#: The first stored row served to pipelines that fails its own authentication (the stored
#: gate's MAC, governance.gatemac), described with what to run; None when all verify.
#: Answered by governance (core.events); unanswered (no such app), nothing is checked.
STORED_VERDICT_FAULT: Query[None, str | None] = Query(
    "audit.stored_verdict_fault", "the first stored verdict row whose MAC does not verify"
)


#: The first grant of access to an outsider (an external reviewer's grant, ``accountability``)
#: that a row says is in force but the trail does not back; None when all are backed. A grant
#: is authority: a row inserted or stretched in the database confers nothing when read, and
#: verification names it so the insider is found, not only refused. Unanswered, nothing is
#: checked.
ACCESS_GRANT_FAULT: Query[None, str | None] = Query(
    "audit.access_grant_fault", "the first access grant in force that the trail does not back"
)


def _check_access_grants() -> None:
    try:
        fault = ask(ACCESS_GRANT_FAULT, None)
    except LookupError:
        return
    if fault is not None:
        raise VerificationError(None, fault)


def _check_stored_gates() -> None:
    """Every stored gate row must carry a MAC that verifies: a row edited in the database is
    never served, and verification names it."""
    try:
        fault = ask(STORED_VERDICT_FAULT, None)
    except LookupError:
        return
    if fault is not None:
        raise VerificationError(None, fault)
