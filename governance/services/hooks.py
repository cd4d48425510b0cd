"""What the gate does when evidence, the audit outcome or the policy changes.

``governance.apps`` subscribes these to the events of ``core.events`` (ADR 0021); services
inside governance call ``on_evidence_changed`` directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from core import outbox
from evaluations.models import AIModel, EvidenceSummaryState
from evaluations.services import catch_up_summaries
from governance.services.decisions import mark_stale_decisions
from governance.services.gates import recompute, recompute_all, safe_reads

if TYPE_CHECKING:
    from audit.models import VerificationRun
    from evaluations.services import EvidenceChange
    from policies.models import PolicyVersion
    from rsp_portal.types import Actor


def on_evidence_changed(model: AIModel, cause: str = "evidence", actor: Actor = None) -> None:
    """Recompute ``model``'s gate and its descendants' inside the caller's transaction,
    pending decisions whose inputs changed turned stale first.

    The gate's inputs are read first: they count the model's pending decisions, so the
    locking read of those decisions (and a second read of the inputs, which marking one
    stale changes) is spared when there are none.
    """
    reads = safe_reads(model, descendants=True)  # the descendants are recomputed too
    if reads is None or reads.state.pending:
        mark_stale_decisions(model, actor)
        reads = None
    recompute(model, cause, actor, reads=reads)


def on_evidence_event(change: EvidenceChange, actor: Actor) -> None:
    """The handler of ``evaluations.services.EVIDENCE_CHANGED``, inside the writing
    transaction. A result write (``result_write``) leaves its gate to a worker (ADR 0052): the first
    write since the last recomputation (``due``) asks for one, after a short delay that lets
    a burst of writes share it; the others leave it to that one. Any other change is
    recomputed here."""
    if not change.result_write:
        on_evidence_changed(change.model, change.cause, actor)
    elif change.due:
        outbox.enqueue(SETTLE_TASK, {"model_id": change.model.pk})


#: The worker's task that recomputes a model's gate after result writes (``governance.tasks``).
SETTLE_TASK = "governance.settle_gate"


def settle_delay() -> float:
    """How long the worker waits after a burst's first result write before it recomputes
    (``outbox.send_after``, registered in ``governance.wiring``)."""
    return settings.GATE_SETTLE_DELAY_MS / 1000


def settle_due(model_id: int) -> None:
    """The worker's step after result writes to ``model_id``: its evidence summary folds the
    rows written since (ADR 0055), then its gate is recomputed (and its descendants'). The
    model's request is cleared first, in its own statement: a write that commits after it asks
    again, and one that committed before it is folded and read by this run. It runs whether or
    not the request was still set (a redelivered message after a crash folds and recomputes
    again, which changes nothing)."""
    EvidenceSummaryState.objects.filter(model_id=model_id, gate_due=True).update(gate_due=False)
    model = AIModel.objects.filter(pk=model_id).first()
    if model is None:
        return  # deleted since: nothing to recompute
    catch_up_summaries([model_id])
    with transaction.atomic():
        # For the burst of writes it covers, whoever wrote them: their own ``result.create``
        # entries name each writer and result.
        on_evidence_changed(model, "result.create", "worker")


def on_audit_outcome_changed(run: VerificationRun, actor: Actor = None) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok", actor)


def on_policy_activated(version: PolicyVersion, actor: Actor = None) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model, actor)
        recompute(model, "policy.activate", actor, descendants=False)  # every model is recomputed
