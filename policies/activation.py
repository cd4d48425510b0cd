"""Activating a policy version under the sign-off rule of the policy in force.

Scaling needs every sign-off title; weakening the rules must not need fewer. One mechanism,
:class:`~policies.models.PolicyActivation`, carries both ways in:

- ``approve_activation``: a title holder approves a draft on its activation page or the API;
  the first approval opens the activation (it is its first signature), the last activates.
- ``request_activation``: a leader asks for sign-off of a loosening draft; the requester may
  then not sign it (the database refuses it too).

The dossier is the diff from the policy in force with every loosening listed and both content
hashes, frozen with a SHA-256; each signer names the hash they were shown. A signature counts
only for the draft content and the rule in force it was given under: another content or
another active version makes the activation stale. ``services.activate`` calls
``check_activation``: a draft that loosens the policy in force is activated only by a
complete activation; one that only tightens is still one leader's act.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from core import events
from core.models import Role, User
from policies import services
from policies.diff import diff_policies
from policies.models import ActivationSignature, ActivationVerdict, PolicyActivation, PolicyVersion
from policies.packs import content_sha256
from rsp_portal.authz import can, require

__all__ = [
    "activation_status",
    "approve_activation",
    "check_activation",
    "dossier_for",
    "request_activation",
    "sign_activation",
]

ActivationError = services.ActivationError
Status = PolicyActivation.Status


def _sha256(dossier: dict[str, Any]) -> str:
    text = json.dumps(dossier, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content(version: PolicyVersion) -> str:
    """The hash of the version's stored content (an admin edit may not have rehashed it)."""
    return content_sha256(services.to_pack(services.version_with_children(version.pk)))  # type: ignore[arg-type]


def dossier_for(version: PolicyVersion, previous: PolicyVersion) -> dict[str, Any]:
    """The diff from ``previous`` to ``version`` with its loosenings, as signed."""

    old = services.to_pack(services.version_with_children(previous.pk))  # type: ignore[arg-type]
    new = services.to_pack(services.version_with_children(version.pk))  # type: ignore[arg-type]
    diff = diff_policies(old, new)
    return {
        "version": version.pk,
        "label": version.version,
        "content_sha256": content_sha256(new),
        "previous_version": previous.pk,
        "previous_label": previous.version,
        "previous_content_sha256": content_sha256(old),
        "diff": diff.to_dict(),
        "loosenings": [change.why for change in diff.loosenings],
    }


def _no_title(previous: PolicyVersion, open_titles: list[str]) -> ActivationError:
    needed = ", ".join(open_titles) or "none"
    return ActivationError(
        "Activation follows the sign-off rule of the policy in force "
        f"(#{previous.pk}): titles still needed: {needed}; you hold none of them."
    )


# ------------------------------------------------------------------------------ reads


def _pending(version: PolicyVersion, *, lock: bool = False) -> PolicyActivation | None:
    rows = PolicyActivation.objects.filter(version=version, status=Status.PENDING)
    return (rows.select_for_update() if lock else rows).first()


def _describes(activation: PolicyActivation, previous: PolicyVersion | None, digest: str) -> bool:
    """Whether the activation still applies: same rule in force, same draft content."""
    return (
        previous is not None
        and activation.previous_id == previous.pk
        and activation.content_sha256 == digest
        and activation.version.is_draft
    )


def activation_status(
    version: PolicyVersion, active: PolicyVersion | None = None
) -> dict[str, Any]:
    """Who must approve activating ``version`` and who has, under the rule in force.

    Returns ``{"activation", "rule_version", "required_titles", "approvals",
    "pending_titles"}`` with approvals as ``{"title", "user", "at"}``; empty when no policy is
    in force or ``version`` is it. Only an activation for the draft's current content and the
    current rule counts.
    """
    if active is None:
        active = PolicyVersion.objects.active().first()
    if active is None or active.pk == version.pk:
        return {
            "activation": None,
            "rule_version": None,
            "required_titles": [],
            "approvals": [],
            "pending_titles": [],
        }
    pending = _pending(version)
    if pending is not None and not (
        pending.previous_id == active.pk and pending.content_sha256 == version.content_sha256
    ):
        pending = None
    signatures = list(pending.signatures.select_related("signer")) if pending else []
    approvals = [
        {"title": s.title, "user": s.signer.get_username(), "at": s.created_at}
        for s in signatures
        if s.verdict == ActivationVerdict.APPROVE
    ]
    required = list(pending.required_titles if pending else active.signoff_titles)
    done = {row["title"] for row in approvals}
    return {
        "activation": pending.pk if pending else None,
        "rule_version": active.pk,
        "required_titles": required,
        "approvals": approvals,
        "pending_titles": [title for title in required if title not in done],
    }


# ------------------------------------------------------------- the check in activate()


def check_activation(
    version: PolicyVersion, previous: PolicyVersion | None, digest: str
) -> PolicyActivation | None:
    """Called by ``services.activate`` with both rows locked.

    Returns None when no sign-off is needed (no policy in force, or nothing loosened); the
    complete activation when one is needed and given; raises ActivationError otherwise.
    """
    if previous is None:
        return None
    dossier = dossier_for(version, previous)
    if not dossier["loosenings"]:
        return None
    pending = _pending(version)
    if pending is not None and _describes(pending, previous, digest) and not pending.open_titles():
        return pending
    titles = ", ".join(previous.signoff_titles) or "the policy's sign-off titles"
    raise ActivationError(
        f"Policy version #{version.pk} loosens the policy in force ("
        + "; ".join(dossier["loosenings"])
        + f"). Its activation needs sign-off by {titles}: request an activation and have "
        "each title approve it."
    )


# ----------------------------------------------------------------------------- writes


def _finish(activation: PolicyActivation, status: str, actor: Any) -> None:
    activation.status = status
    activation.decided_at = timezone.now()
    activation.save(update_fields=["status", "decided_at"])
    audit.record(
        "policy.activation.status",
        activation,
        {"version": activation.version_id, "status": status},
        actor=actor,
    )


def _current(target: PolicyVersion, previous: PolicyVersion, actor: Any) -> PolicyActivation | None:
    """The pending activation of ``target`` if it still applies; a stale one is closed."""
    pending = _pending(target, lock=True)
    if pending is not None and not _describes(pending, previous, _content(target)):
        _finish(pending, Status.STALE, actor)
        return None
    return pending


def _open(
    target: PolicyVersion, previous: PolicyVersion, actor: Any, origin: str, via: str | None
) -> PolicyActivation:
    dossier = dossier_for(target, previous)
    try:
        with transaction.atomic():
            activation = PolicyActivation.objects.create(
                version=target,
                previous=previous,
                content_sha256=dossier["content_sha256"],
                dossier=dossier,
                dossier_sha256=_sha256(dossier),
                required_titles=list(previous.signoff_titles),
                origin=origin,
                requested_by=actor,
            )
    except IntegrityError:
        raise ActivationError("An activation of this version is already pending.") from None
    audit.record(
        "policy.activation.request",
        activation,
        {
            "version": target.pk,
            "previous_version": previous.pk,
            "origin": origin,
            "dossier_sha256": activation.dossier_sha256,
            "loosenings": dossier["loosenings"],
            "required_titles": activation.required_titles,
        },
        actor=actor,
        via=via,
    )
    return activation


def _sign(
    activation: PolicyActivation, actor: Any, verdict: str, shown_sha256: str, via: str | None
) -> None:
    """Record ``actor``'s verdict (rows locked); the last approval activates the version."""
    if activation.origin == PolicyActivation.Origin.REQUEST and (
        activation.requested_by_id == actor.pk
    ):
        raise PermissionDenied("You requested this activation; others must sign it.")
    if shown_sha256 != activation.dossier_sha256:
        raise ActivationError("This is not the dossier of this activation; reload it.")
    signatures = list(activation.signatures.all())
    if any(s.signer_id == actor.pk for s in signatures):
        raise ActivationError(
            "You have already signed this activation; one person fills one title."
        )
    title = activation.can_be_signed_by(actor, signatures)
    if title is None:
        from core.authority import refusal

        reason = refusal(actor)
        if reason:
            raise ActivationError(reason)
        raise _no_title(activation.previous, activation.open_titles(signatures))
    ActivationSignature.objects.create(
        activation=activation,
        signer=actor,
        requester_id=(
            activation.requested_by_id
            if activation.origin == PolicyActivation.Origin.REQUEST
            else None
        ),
        title=title,
        verdict=verdict,
        dossier_sha256=shown_sha256,
    )
    audit.record(
        f"policy.activation.{verdict}",
        activation,
        {"title": title, "dossier_sha256": shown_sha256, "version": activation.version_id},
        actor=actor,
        via=via,
    )
    if verdict == ActivationVerdict.REJECT:
        _finish(activation, Status.REJECTED, actor)
    elif not activation.open_titles():
        services.activate(activation.version, actor)
        _finish(activation, Status.ACTIVATED, actor)


def _refuse_a_deadlock(previous: PolicyVersion, actor: Any) -> None:
    """A requester cannot sign their own request: if they are the only holder of a title the
    rule needs (OpenAI's pack names one, CEO), nobody could ever complete it. Say so up
    front, and who must request instead, rather than leave a request nobody can sign."""
    leaders = [
        user
        for user in User.objects.filter(role=Role.LEADERSHIP, is_active=True)
        .exclude(pk=actor.pk)
        .prefetch_related("signoff_titles")
        .order_by("username")
        if can(user, "policy.activate")
    ]
    held = {user.pk: {t.title for t in user.signoff_titles.all()} for user in leaders}
    mine: frozenset[str] = getattr(actor, "titles", frozenset())
    alone = [
        title
        for title in previous.signoff_titles
        if title in mine and not any(title in held[u.pk] for u in leaders)
    ]
    if not alone:
        return
    others = ", ".join(u.username for u in leaders)
    who = (
        f"Ask another leader ({others}) to request it; you then sign it as {alone[0]}."
        if others
        else "No other leader can request it: a second leadership account must exist first."
    )
    raise ActivationError(
        f"You are the only holder of the {', '.join(alone)} title this activation needs, and "
        f"a requester cannot sign their own request, so it could never complete. {who}"
    )


def request_activation(
    version: PolicyVersion, actor: Any, *, via: str | None = None
) -> PolicyActivation:
    """Open a pending activation of a loosening draft for others to sign; audited, announced."""
    require(actor, "policy.activate")
    with transaction.atomic():
        target, previous = services.lock_draft(version)
        if previous is None:
            raise ActivationError("No policy is in force: activate the draft directly.")
        if not dossier_for(target, previous)["loosenings"]:
            raise ActivationError("This draft loosens nothing; activate it directly.")
        if _current(target, previous, actor) is not None:
            raise ActivationError("An activation of this version is already pending.")
        _refuse_a_deadlock(previous, actor)
        activation = _open(target, previous, actor, PolicyActivation.Origin.REQUEST, via)
        events.emit(
            events.NOTIFY,
            events.Notice(
                "policy.activation.requested",
                {
                    "activation": activation.pk,
                    "version": target.pk,
                    "loosenings": activation.loosenings,
                    "required_titles": activation.required_titles,
                },
                ("leadership",),
            ),
            actor,
        )
    return activation


def sign_activation(
    activation_id: int, actor: Any, verdict: str, shown_sha256: str, *, via: str | None = None
) -> PolicyActivation:
    """Approve or reject a pending activation as one of the titles it needs."""
    require(actor, "policy.activate")
    if verdict not in ActivationVerdict.values:
        raise ActivationError("The verdict must be approve or reject.")
    with transaction.atomic():
        # Lock in the order approve_activation does: the versions, then the activation.
        version = PolicyActivation.objects.select_related("version").get(pk=activation_id).version
        try:
            target, previous = services.lock_draft(version)
        except ActivationError:
            target, previous = version, None  # no longer a draft
        activation = (
            PolicyActivation.objects.select_for_update()
            .select_related("version", "previous")
            .get(pk=activation_id)
        )
        if activation.status != Status.PENDING:
            raise ActivationError(f"This activation is {activation.status}.")
        if activation.origin == PolicyActivation.Origin.REQUEST and (
            activation.requested_by_id == actor.pk
        ):
            raise PermissionDenied("You requested this activation; others must sign it.")
        stale = previous is None or not _describes(activation, previous, _content(target))
        if stale:
            _finish(activation, Status.STALE, actor)
        else:
            _sign(activation, actor, verdict, shown_sha256, via)
    if stale:
        raise ActivationError("The policies changed since the request; it is stale.")
    return activation


def approve_activation(
    version: PolicyVersion, actor: Any, shown_sha256: str | None = None, *, via: str | None = None
) -> PolicyVersion:
    """Approve activating a draft as one sign-off title of the policy in force.

    Signs the draft's pending activation, opening one if none applies; the last title needed
    activates the version. With no policy in force the draft is activated at once (there is
    no rule to follow). ``shown_sha256``, when given, must be the dossier's hash.
    """
    require(actor, "policy.activate")
    with transaction.atomic():
        target, previous = services.lock_draft(version)
        if previous is None:
            return services.activate(target, actor)
        activation = _current(target, previous, actor)
        if activation is None:
            titles = list(previous.signoff_titles)
            if not any(title in actor.titles for title in titles):
                raise _no_title(previous, titles)
            activation = _open(target, previous, actor, PolicyActivation.Origin.APPROVAL, via)
        shown = activation.dossier_sha256 if shown_sha256 is None else shown_sha256
        _sign(activation, actor, ActivationVerdict.APPROVE, shown, via)
    target.refresh_from_db()
    return target
