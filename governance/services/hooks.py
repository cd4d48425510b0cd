"""What the gate does when evidence, the audit outcome or the policy changes.

``governance.apps`` subscribes these to the events of ``core.events`` (ADR 0021); services
inside governance call ``on_evidence_changed`` directly."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction

from evaluations.models import AIModel
from governance.services.decisions import mark_stale_decisions
from governance.services.gates import (
    Locked,
    owed_count,
    recomputation_lock,
    recompute,
    recompute_all,
    safe_reads,
    settled,
)

logger = logging.getLogger(__name__)

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
    """The handler of ``evaluations.services.EVIDENCE_CHANGED``. After a result write
    (``owed``) the gate step is shared between the writers of one model (ADR 0050): nothing
    when a concurrent writer's recomputation already covered the write, nothing either when
    another writer holds the model's recomputation lock, because that writer reads the count
    again once it commits and recomputes for the writes it did not read."""
    if change.owed is None:
        on_evidence_changed(change.model, change.cause, actor)
        return
    _settle(change.model, change.owed, change.cause, actor, ROUNDS)


#: The recomputations one writer runs at most for a model's gate (ADR 0050). In every round
#: but the last it holds the model's recomputation lock, so that other writers go their way,
#: and it reads the count again after committing. The last round takes no lock, so nobody
#: leaves it a write to cover: a writer arriving then takes the lock and covers its own.
ROUNDS = 3


def _settle(model: AIModel, owed: int, cause: str, actor: Actor, rounds: int) -> None:
    """Recompute ``model``'s gate for the writes up to ``owed``, inside the caller's
    transaction, unless a concurrent recomputation covered them or will cover them."""
    if rounds > 1:  # every round but the last holds the lock
        if not recomputation_lock(model.pk):
            return  # its holder reads the count again after it commits
        # While it is held, others may go their way: read the count again after the commit.
        transaction.on_commit(lambda: _after_commit(model, cause, actor, rounds - 1))
    done, locked = settled(model, owed)
    if not done:
        on_evidence_changed(model, cause, actor, locked=locked)


def _after_commit(model: AIModel, cause: str, actor: Actor, rounds: int) -> None:
    """Once a round committed (and the lock with it), the writes that landed while it ran
    and that its reads missed are recomputed (one statement when there are none). A failure
    leaves the gate behind its count, which no reader serves (ADR 0045)."""
    try:
        behind = owed_count(model.pk)
        if behind is not None:
            with transaction.atomic():
                _settle(model, behind, cause, actor, rounds)
    except Exception:
        logger.exception("the gate of %s was not recomputed after %s", model, cause)


def on_audit_outcome_changed(run: VerificationRun, actor: Actor = None) -> None:
    """A failed (or again passing) audit verification changes every gate."""
    recompute_all("audit.verify.failed" if not run.ok else "audit.verify.ok", actor)


def on_policy_activated(version: PolicyVersion, actor: Actor = None) -> None:
    """A new policy changes every gate; pending decisions made under the old one are stale."""
    for model in AIModel.objects.order_by("pk"):
        mark_stale_decisions(model, actor)
        recompute(model, "policy.activate", actor, descendants=False)  # every model is recomputed
