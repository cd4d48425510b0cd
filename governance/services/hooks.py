"""What other apps call when evidence, the audit outcome or the policy changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from governance.services.decisions import mark_stale_decisions
from governance.services.gates import recompute, recompute_all, safe_reads

if TYPE_CHECKING:
    from evaluations.models import AIModel
    from policies.models import PolicyVersion
    from rsp_portal.types import Actor


def on_evidence_changed(model: AIModel, cause: str = "evidence", actor: Actor = None) -> None:
    """Called inside every evidence write's transaction: stale decisions, then the gate.

    The gate's inputs are read first: they count the model's pending decisions, so the
    locking read of those decisions (and a second read of the inputs, which marking one
    stale changes) is spared when there are none.
    """
    reads = safe_reads(model, descendants=True)  # the descendants are recomputed too
    if reads is None or reads.state.pending:
        mark_stale_decisions(model, actor)
        reads = None
    recompute(model, cause, actor, reads=reads)


def on_audit_outcome_changed(run: Any) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok")


def on_policy_activated(version: PolicyVersion) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    from evaluations.models import AIModel

    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model)
        recompute(model, "policy.activate", descendants=False)  # every model is recomputed
