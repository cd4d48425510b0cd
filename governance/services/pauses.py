"""Precautionary determinations and pauses: making a model safer at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

import audit
from governance import adapter, notifications
from governance.models import (
    Pause,
    Precaution,
)
from governance.services.decisions import mark_stale_decisions
from governance.services.errors import GovernanceError
from governance.services.gates import recompute
from rsp_portal.authz import require

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import Actor


def record_precaution(
    model: AIModel, threshold_code: Any, reason: Any, actor: Actor, *, via: str | None = None
) -> Precaution:
    """Treat ``threshold_code`` as crossed for ``model`` without evidence ("we cannot rule it
    out"). Takes effect at once; lifting it needs an approved decision that lists it."""
    actor = require(actor, "precaution.record")
    version = adapter.active_version()
    if version is None:
        raise GovernanceError({"threshold": ["No policy version is active."]})
    codes = sorted(t.code for t in version.thresholds.all())
    if not isinstance(threshold_code, str) or threshold_code not in codes:
        raise GovernanceError(
            {"threshold": [f"Unknown threshold; one of {', '.join(codes) or '(none)'}."]}
        )
    if not isinstance(reason, str) or not reason.strip():
        raise GovernanceError({"reason": ["Say why the threshold cannot be ruled out."]})
    if len(reason) > 10_000:
        raise GovernanceError({"reason": ["Must be at most 10000 characters."]})
    with transaction.atomic():
        record = Precaution.objects.create(
            model=model, threshold_code=threshold_code, reason=reason.strip(), created_by=actor
        )
        audit.record(
            "precaution.record",
            record,
            {"model": model.slug, "threshold": threshold_code, "reason": record.reason},
            actor=actor,
            via=via,
        )
        mark_stale_decisions(model, actor)
        recompute(model, f"precaution.record #{record.pk}", actor)
    return record


# --- Pause ------------------------------------------------------------------------------------


def pause(model: AIModel, reason: str, actor: Actor, *, via: str | None = None) -> Pause:
    """Pause a model at once. One safety or leadership user is enough."""
    actor = require(actor, "model.pause")
    if not reason or not reason.strip():
        raise GovernanceError({"reason": ["Say why the model is paused."]})
    with transaction.atomic():
        record = Pause.objects.create(model=model, reason=reason.strip(), created_by=actor)
        audit.record(
            "model.pause",
            record,
            {"model": model.slug, "reason": record.reason},
            actor=actor,
            via=via,
        )
        recompute(model, "model.pause", actor)
        notifications.notify(
            "model.paused",
            {"model": model.slug, "reason": record.reason},
            roles=("leadership", "safety"),
        )
    return record
