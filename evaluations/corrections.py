"""Corrections that lower a determination: proposed by one person, confirmed by another.

A correction that would lower a determination (a crossed or warning threshold falls, or a
result that counts for one changes its metric or becomes post-mitigation) is stored as a
:class:`PendingCorrection`; the result it corrects stands until someone else with the safety
or leadership role confirms it, which applies it through ``services.correct_result``. The
proposal, the confirmation and a rejection are each audited, and each shows in the dossier of
a decision requested afterwards (:func:`dossier_entries`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from evaluations import services
from evaluations.lowering import lowering_changes
from evaluations.models import EvalResult, PendingCorrection
from rsp_portal.authz import require
from rsp_portal.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from rsp_portal.types import Actor


def propose(
    old: EvalResult,
    values: Mapping[str, Any],
    reason: Any,
    actor: Actor,
    *,
    via: str | None = None,
    source: str = EvalResult.Source.BROWSER,
) -> EvalResult | PendingCorrection:
    """Correct ``old``: at once when the correction lowers nothing, otherwise as a pending
    correction that waits for a second person (the old result stands meanwhile)."""
    user = require(actor, "evidence.correct")
    fields, reason_text, policy = services.correction_fields(old, values, reason)
    changes = lowering_changes(old, fields, policy)
    if not changes:
        return services.correct_result(old, values, reason, user, via=via, source=source)
    with transaction.atomic():
        locked = EvalResult.objects.select_for_update().get(pk=old.pk)
        if EvalResult.objects.filter(supersedes=locked).exists():
            raise ConflictError({"non_field_errors": [f"Result #{old.pk} was already corrected."]})
        try:
            with transaction.atomic():
                pending = PendingCorrection.objects.create(
                    result=locked,
                    values=dict(values),
                    reason=reason_text,
                    changes=changes,
                    source=source,
                    requested_by=user,
                )
        except IntegrityError:
            raise ConflictError(
                {
                    "non_field_errors": [
                        f"Result #{old.pk} already has a correction awaiting confirmation; "
                        "confirm or reject it first."
                    ]
                }
            ) from None
        audit.record(
            "result.correction_request",
            pending,
            {
                "result": old.pk,
                "model": old.model.slug,
                "values": dict(values),
                "reason": reason_text,
                "lowers": changes,
            },
            user,
            via=via,
        )
    return pending


def _open(pk: int) -> PendingCorrection:
    pending = (
        PendingCorrection.objects.select_for_update()
        .select_related("result__model", "result__checkpoint", "requested_by")
        .filter(pk=pk)
        .first()
    )
    if pending is None:
        raise NotFoundError({"correction": [f"No correction #{pk}."]})
    if pending.status != PendingCorrection.Status.PENDING:
        raise ConflictError(
            {
                "correction": [
                    f"Correction #{pk} was already {pending.get_status_display().lower()}."
                ]
            }
        )
    return pending


def confirm(pk: int, actor: Actor, *, via: str | None = None) -> EvalResult:
    """A second person (safety or leadership, not the author) confirms: the correction applies."""
    user = require(actor, "evidence.confirm_correction")
    with transaction.atomic():
        pending = _open(pk)
        if pending.requested_by_id == user.pk:
            raise PermissionDenied(
                "You proposed this correction: a second person (safety or leadership) must "
                "confirm it."
            )
        new = services.correct_result(
            pending.result,
            pending.values,
            pending.reason,
            pending.requested_by,
            via=via,
            source=pending.source,
            confirmed_by=user,
        )
        pending.status = PendingCorrection.Status.CONFIRMED
        pending.decided_by, pending.decided_at, pending.applied = user, timezone.now(), new
        pending.save(update_fields=["status", "decided_by", "decided_at", "applied"])
        audit.record(
            "result.correction_confirm",
            pending,
            {
                "result": pending.result_id,
                "correction": new.pk,
                "requested_by": pending.requested_by.username,
                "lowers": pending.changes,
            },
            user,
            via=via,
        )
    return new


def reject(pk: int, actor: Actor, note: Any = "", *, via: str | None = None) -> PendingCorrection:
    """Close a pending correction without applying it (anyone who may confirm, or its author)."""
    user = require(actor, "evidence.confirm_correction")
    note_text = note.strip() if isinstance(note, str) else ""
    with transaction.atomic():
        pending = _open(pk)
        pending.status = PendingCorrection.Status.REJECTED
        pending.decided_by, pending.decided_at, pending.note = user, timezone.now(), note_text
        pending.save(update_fields=["status", "decided_by", "decided_at", "note"])
        audit.record(
            "result.correction_reject",
            pending,
            {"result": pending.result_id, "note": note_text},
            user,
            via=via,
        )
    return pending


def dossier_entries(model_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The lowering corrections (pending and confirmed) of the results of ``model_ids``, for
    a decision's dossier: who proposed, who confirmed, what they lower."""
    rows = (
        PendingCorrection.objects.filter(
            result__model_id__in=list(model_ids),
            status__in=[PendingCorrection.Status.PENDING, PendingCorrection.Status.CONFIRMED],
        )
        .select_related("requested_by", "decided_by")
        .order_by("id")
    )
    return [
        {
            "id": row.pk,
            "result": row.result_id,
            "status": row.status,
            "reason": row.reason,
            "lowers": list(row.changes),
            "requested_by": row.requested_by.username,
            "requested_at": row.requested_at.isoformat(),
            "confirmed_by": row.decided_by.username if row.decided_by else None,
            "confirmed_at": row.decided_at.isoformat() if row.decided_at else None,
            "correction": row.applied_id,
        }
        for row in rows
    ]
