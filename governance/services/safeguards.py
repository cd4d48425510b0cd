"""Safeguard records: a requirement's status for a model, a new history row each time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

import audit
from governance import adapter
from governance.models import (
    SafeguardRecord,
    SafeguardState,
)
from governance.services.errors import GovernanceError
from governance.services.hooks import on_evidence_changed
from rsp_portal.authz import require

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from rsp_portal.types import Actor


def record_safeguard(
    model: AIModel,
    requirement_code: str,
    status: str,
    actor: Actor,
    *,
    evidence_url: str = "",
    notes: str = "",
    via: str | None = None,
) -> SafeguardRecord:
    """Record a safeguard requirement's status for a model (a new history row)."""
    actor = require(actor, "safeguard.update")
    known = adapter.requirement_codes()
    if requirement_code not in known:
        raise GovernanceError(
            {
                "requirement_code": [
                    f"Unknown requirement {requirement_code!r} in the active policy."
                ]
            }
        )
    if status not in SafeguardState.values:
        raise GovernanceError({"status": [f"Must be one of {', '.join(SafeguardState.values)}."]})
    if status == SafeguardState.VERIFIED and not evidence_url:
        raise GovernanceError({"evidence_url": ["Verification needs a link to its evidence."]})
    with transaction.atomic():
        record = SafeguardRecord.objects.create(
            model=model,
            requirement_code=requirement_code,
            status=status,
            evidence_url=evidence_url,
            notes=notes,
            recorded_by=actor,
        )
        audit.record(
            "safeguard.record",
            record,
            {
                "model": model.slug,
                "requirement": requirement_code,
                "status": status,
                "evidence_url": evidence_url,
            },
            actor=actor,
            via=via,
        )
        on_evidence_changed(model, "safeguard.record", actor)
    return record
