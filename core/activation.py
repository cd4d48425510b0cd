"""Policy activation under the sign-off rule of the policy in force.

Scaling needs two signatures; weakening the rules must not need fewer. Activating a draft that
loosens the active policy (``policies.diff``: a dropped sign-off title, a raised critical line,
fewer required safeguards...) therefore goes through a pending activation: its dossier is the
diff with every loosening listed, frozen with a SHA-256, and it must be approved by every title
the *policy in force* names, each by a different leader who did not request it, each signing
the hash they were shown. An administrator cannot sign (``rsp_portal.authz``). A draft that
only tightens or leaves the rules unchanged is activated by one leader, as before: making
things safer stays easy.

``policies.services.activate`` calls ``check_activation`` for every activation, from the
pages, the API and the console alike.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from core.models import ActivationSignature, PolicyActivation
from rsp_portal.authz import require

if TYPE_CHECKING:
    from policies.models import PolicyVersion
    from rsp_portal.types import Actor


class ActivationSignoffError(Exception):
    """The activation cannot proceed (shown to the caller as-is)."""


def _active() -> Any:
    from policies.models import PolicyVersion

    return PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()


def dossier_for(version: PolicyVersion, previous: PolicyVersion) -> dict[str, Any]:
    """The diff from ``previous`` to ``version`` with its loosenings, as signed."""
    from policies.diff import diff_policies
    from policies.services import to_pack, version_with_children

    old = to_pack(version_with_children(previous.pk))  # type: ignore[arg-type]
    new = to_pack(version_with_children(version.pk))  # type: ignore[arg-type]
    diff = diff_policies(old, new)
    return {
        "version": version.pk,
        "label": version.version,
        "previous_version": previous.pk,
        "previous_label": previous.version,
        "diff": diff.to_dict(),
        "loosenings": [change.why for change in diff.loosenings],
    }


def _sha256(dossier: dict[str, Any]) -> str:
    text = json.dumps(dossier, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_activation(
    version: PolicyVersion, previous: PolicyVersion | None, actor: Actor
) -> PolicyActivation | None:
    """Called by ``policies.services.activate`` (rows locked). Returns None when no sign-off
    is needed (no policy in force, or no loosening); the signed activation when it is needed
    and complete; raises ActivationSignoffError otherwise."""
    if previous is None:
        return None
    dossier = dossier_for(version, previous)
    if not dossier["loosenings"]:
        return None
    if _approved_by_titles(version, previous):
        return None  # every title in force approved this content (policies.ActivationApproval)
    signed = (
        PolicyActivation.objects.filter(
            version=version,
            previous=previous,
            status=PolicyActivation.Status.PENDING,
            dossier_sha256=_sha256(dossier),
        )
        .order_by("-pk")
        .first()
    )
    if signed is not None and _complete(signed):
        return signed
    titles = ", ".join(previous.signoff_titles) or "the policy's sign-off titles"
    raise ActivationSignoffError(
        f"Policy version #{version.pk} loosens the policy in force ("
        + "; ".join(dossier["loosenings"])
        + f"). Its activation needs sign-off by {titles}: request an activation and have "
        "each title approve it."
    )


def _approved_by_titles(version: PolicyVersion, previous: PolicyVersion) -> bool:
    """Each sign-off title of the policy in force approved this draft's content on the
    activation page or API (the title-by-title path of ``policies.services``)."""
    from policies.models import ActivationApproval

    approved = set(
        ActivationApproval.objects.filter(
            version=version, rule_version=previous, content_sha256=version.content_sha256
        ).values_list("title", flat=True)
    )
    return bool(previous.signoff_titles) and all(t in approved for t in previous.signoff_titles)


def _complete(activation: PolicyActivation) -> bool:
    approved = set(activation.signatures.filter(verdict="approve").values_list("title", flat=True))
    return all(title in approved for title in activation.required_titles)


def request_activation(
    version: PolicyVersion, actor: Actor, *, via: str | None = None
) -> PolicyActivation:
    """Open a pending activation for a loosening draft; audited and announced."""
    actor = require(actor, "policy.activate")
    previous = _active()
    if previous is None or not version.is_draft:
        raise ActivationSignoffError("Only a draft can be requested, while a policy is in force.")
    dossier = dossier_for(version, previous)
    if not dossier["loosenings"]:
        raise ActivationSignoffError("This draft loosens nothing; activate it directly.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                activation = PolicyActivation.objects.create(
                    version=version,
                    previous=previous,
                    dossier=dossier,
                    dossier_sha256=_sha256(dossier),
                    required_titles=list(previous.signoff_titles),
                    requested_by=actor,
                )
        except IntegrityError:
            raise ActivationSignoffError(
                "An activation of this version is already pending."
            ) from None
        audit.record(
            "policy.activation.request",
            activation,
            {
                "version": version.pk,
                "previous_version": previous.pk,
                "dossier_sha256": activation.dossier_sha256,
                "loosenings": dossier["loosenings"],
                "required_titles": activation.required_titles,
            },
            actor=actor,
            via=via,
        )
        from governance import notifications

        notifications.notify(
            "policy.activation.requested",
            {
                "activation": activation.pk,
                "version": version.pk,
                "loosenings": dossier["loosenings"],
                "required_titles": activation.required_titles,
            },
            roles=("leadership",),
        )
    return activation


def sign_activation(
    activation_id: int, actor: Actor, verdict: str, shown_sha256: str, *, via: str | None = None
) -> PolicyActivation:
    """Approve or reject a pending activation as one of the titles it needs.

    When the last title approves, the version is activated in the same transaction.
    """
    from policies import services as policy_services

    actor = require(actor, "decision.sign")
    if verdict not in ("approve", "reject"):
        raise ActivationSignoffError("The verdict must be approve or reject.")
    with transaction.atomic():
        activation = PolicyActivation.objects.select_for_update().get(pk=activation_id)
        if activation.status != PolicyActivation.Status.PENDING:
            raise ActivationSignoffError(f"This activation is {activation.status}.")
        if activation.requested_by_id == actor.pk:
            raise PermissionDenied("You requested this activation; others must sign it.")
        if shown_sha256 != activation.dossier_sha256:
            raise ActivationSignoffError("This is not the dossier of this activation; reload it.")
        previous = _active()
        if (
            previous is None
            or previous.pk != activation.previous_id
            or (_sha256(dossier_for(activation.version, previous)) != activation.dossier_sha256)
        ):
            _finish(activation, PolicyActivation.Status.STALE, actor)
            raise ActivationSignoffError("The policies changed since the request; it is stale.")
        signed = dict(activation.signatures.values_list("title", "signer_id"))
        if actor.pk in signed.values():
            raise ActivationSignoffError("You have already signed this activation.")
        open_titles = [
            t for t in activation.required_titles if t not in signed and t in actor.titles
        ]
        if not open_titles:
            raise PermissionDenied(
                "You hold none of the titles still needed: "
                + ", ".join(t for t in activation.required_titles if t not in signed)
            )
        title = open_titles[0]
        ActivationSignature.objects.create(
            activation=activation,
            signer=actor,
            requester_id=activation.requested_by_id,
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
        if verdict == "reject":
            _finish(activation, PolicyActivation.Status.REJECTED, actor)
        elif _complete(activation):
            policy_services.activate(activation.version, actor)
            _finish(activation, PolicyActivation.Status.ACTIVATED, actor)
    return activation


def _finish(activation: PolicyActivation, status: str, actor: Actor) -> None:
    activation.status = status
    activation.decided_at = timezone.now()
    activation.save(update_fields=["status", "decided_at"])
    audit.record(
        "policy.activation.status",
        activation,
        {"version": activation.version_id, "status": status},
        actor=actor,
    )
