"""What the gate does when evidence, the audit outcome or the policy changes.

``governance.apps`` subscribes these to the events of ``core.events`` (ADR 0021); services
inside governance call ``on_evidence_changed`` directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evaluations.models import AIModel
from governance.services.decisions import mark_stale_decisions
from governance.services.gates import Locked, recompute, recompute_all, safe_reads, settled

if TYPE_CHECKING:
    from audit.models import VerificationRun
    from evaluations.services import EvidenceChange
    from policies.models import PolicyVersion
    from rsp_portal.types import Actor


def on_evidence_changed(
    model: AIModel, cause: str = "evidence", actor: Actor = None, *, locked: Locked | None = None
) -> None:
    """Called inside every evidence write's transaction: stale decisions, then the gate.

    The gate's inputs are read first: they count the model's pending decisions, so the
    locking read of those decisions (and a second read of the inputs, which marking one
    stale changes) is spared when there are none. ``locked``: the model's gate rows, locked
    in this transaction (:func:`settled`); marking decisions stale leaves them as they are.
    """
    reads = safe_reads(model, descendants=True)  # the descendants are recomputed too
    if reads is None or reads.state.pending:
        mark_stale_decisions(model, actor)
        reads = None
    recompute(model, cause, actor, reads=reads, locked=locked)


def on_evidence_event(change: EvidenceChange, actor: Actor) -> None:
    """The handler of ``evaluations.services.EVIDENCE_CHANGED``: after a result write
    (``owed``), nothing when a concurrent writer's recomputation already covered it."""
    locked = None
    if change.owed is not None:
        done, locked = settled(change.model, change.owed)
        if done:
            return
    on_evidence_changed(change.model, change.cause, actor, locked=locked)


def on_audit_outcome_changed(run: VerificationRun, actor: Actor = None) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok", actor)


def on_policy_activated(version: PolicyVersion, actor: Actor = None) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model, actor)
        recompute(model, "policy.activate", actor, descendants=False)  # every model is recomputed
