"""The one typed event path between apps (``core.events``, ADR 0021)."""

from __future__ import annotations

import pytest
from django.db import connection

from audit import verification
from core import events
from core.events import Event, Query, answer, ask, emit, handlers, subscribe
from core.services import create_user, grant_title
from evaluations import services as evidence
from evaluations.models import AIModel
from evaluations.views import GATE_PANEL
from governance import notifications
from governance.services import hooks
from policies import services as policies
from policies.packs import load_pack_file


def test_handlers_run_in_their_declared_order_with_payload_and_actor() -> None:
    event: Event[int] = Event("test.ordered")
    seen: list[tuple[str, int, object]] = []

    def late(payload: int, actor: object) -> None:
        seen.append(("late", payload, actor))

    def early(payload: int, actor: object) -> None:
        seen.append(("early", payload, actor))

    subscribe(event, late, order=20)
    subscribe(event, early, order=10)
    subscribe(event, late, order=20)  # again (ready() twice): no second run
    emit(event, 7, "pipeline")
    assert seen == [("early", 7, "pipeline"), ("late", 7, "pipeline")]


def test_an_order_is_taken_once_and_a_name_once() -> None:
    event: Event[int] = Event("test.taken")
    subscribe(event, lambda payload, actor: None, order=10)
    with pytest.raises(ValueError, match="order 10 is taken"):
        subscribe(event, lambda payload, actor: None, order=10)
    with pytest.raises(ValueError, match="declared twice"):
        Event("test.taken")


def test_a_query_has_one_answer_and_an_unanswered_one_fails_loudly() -> None:
    query: Query[int, int] = Query("test.double")
    with pytest.raises(LookupError, match=r"no app answers test\.double"):
        ask(query, 2)
    answer(query, lambda n: n * 2)
    assert ask(query, 2) == 4
    with pytest.raises(ValueError, match="answered already"):
        answer(query, lambda n: n * 3)


def test_the_apps_subscribe_in_the_order_the_gate_needs() -> None:
    # The summary is rebuilt under the new policy before the gate reads it.
    assert handlers(policies.POLICY_ACTIVATED) == [
        evidence.rebuild_summaries,
        hooks.on_policy_activated,
    ]
    assert handlers(evidence.EVIDENCE_CHANGED) == [hooks.on_evidence_event]
    assert handlers(verification.OUTCOME_CHANGED) == [hooks.on_audit_outcome_changed]
    assert handlers(events.NOTIFY) == [notifications.on_notice]
    assert evidence.GATE_OF._answerer and GATE_PANEL._answerer


@pytest.mark.django_db
def test_a_notice_from_a_lower_app_reaches_governance_in_the_transaction(rso) -> None:
    seen: list[tuple[str, bool, object]] = []
    with events.replaced(
        events.NOTIFY, lambda n, actor: seen.append((n.event, connection.in_atomic_block, actor))
    ):
        leader = create_user("lee", "leadership", actor="test")
        grant_title(leader, "CEO", actor=rso)
    # A holder proposes; a second holder of another title grants (issue 22, observation 9).
    assert seen == [("title.proposed", True, rso)]


@pytest.mark.django_db
def test_the_gate_recomputes_on_activation_with_who_activated(rso, monkeypatch) -> None:
    AIModel.objects.create(slug="atlas", name="Atlas")
    seen: list[tuple[str, object]] = []
    monkeypatch.setattr(
        hooks, "recompute", lambda model, cause, actor=None, **kw: seen.append((cause, actor))
    )
    policies.activate(policies.load_pack(load_pack_file("default")), rso)
    assert seen == [("policy.activate", rso)]
