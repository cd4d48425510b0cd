"""Lineage is a claim until a second person confirms it (docs/adr/0034).

A parent named when a model is registered is *claimed*: the gate counts the parent's crossings
for the model at once, but not its below-line results nor its full evaluations. Someone with
the safety or leadership role, other than whoever registered the model, confirms it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

import audit
from core.events import emit
from evaluations.models import AIModel
from evaluations.services import EVIDENCE_CHANGED, EvidenceChange, field_error
from rsp_portal.authz import require
from rsp_portal.errors import ConflictError

if TYPE_CHECKING:
    from rsp_portal.types import Actor

MAX_REASON = 2000


def confirm(model: AIModel, reason: object, actor: Actor, *, via: str | None = None) -> AIModel:
    """A second person confirms the parent claimed at ``model``'s registration: from then on
    the parent's below-line results and full evaluations count for it. Safety or leadership,
    never whoever registered the model; audited with the reason in the same transaction,
    which recomputes the model's gate and its descendants'."""
    user = require(actor, "lineage.confirm")
    reason_text = reason.strip() if isinstance(reason, str) else ""
    if not reason_text or len(reason_text) > MAX_REASON:
        raise field_error(
            "reason",
            f"Required (at most {MAX_REASON} characters): say how you know this model derives "
            "from its parent.",
        )
    with transaction.atomic():
        locked = (
            AIModel.objects.select_for_update(of=("self",))
            .select_related("parent")
            .get(pk=model.pk)
        )
        if locked.parent is None:
            raise field_error("parent", f"Model {locked.slug} has no parent: there is no lineage.")
        if locked.lineage_confirmed_at is not None:
            raise field_error(
                "lineage", f"The lineage of {locked.slug} is already confirmed.", ConflictError
            )
        if locked.created_by_id is not None and locked.created_by_id == user.pk:
            raise PermissionDenied(
                "You registered this model and claimed its parent: a second person (safety "
                "or leadership) must confirm the lineage."
            )
        locked.lineage_confirmed_at, locked.lineage_confirmed_by = timezone.now(), user
        locked.save(update_fields=["lineage_confirmed_at", "lineage_confirmed_by"])
        audit.record(
            "model.lineage_confirm",
            locked,
            {"model": locked.slug, "parent": locked.parent.slug, "reason": reason_text},
            user,
            via=via,
        )
        emit(
            EVIDENCE_CHANGED,
            EvidenceChange(locked, f"model.lineage_confirm {locked.slug}"),
            user,
        )
    return locked
