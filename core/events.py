"""One typed event path between apps (ADR 0021): an event, its payload, the actor.

An app that announces a change declares an :class:`Event` next to the code that emits it
(``EVIDENCE_CHANGED = Event[EvidenceChange]("evidence.changed")``) and calls
``emit(EVIDENCE_CHANGED, payload, actor)`` inside the transaction of the write. An app that
reacts subscribes a handler ``handler(payload, actor)`` once, in its ``AppConfig.ready()``:
``subscribe(EVIDENCE_CHANGED, handler, order=20)``.

The contract:

- Handlers run synchronously, inside the emitter's transaction, in ascending ``order`` (each
  order is taken once per event, so the sequence is declared, not an accident of app loading).
  A handler that raises rolls the write back: the gate recomputes in the write's transaction
  (after a result write it asks the worker to, in that transaction: ADR 0052).
- The actor always travels with the event (a user, a system process named by a string, or
  None for "system"); handlers pass it on to ``audit.record``.
- Work that must happen after the commit is not a handler: enqueue it with
  ``core.outbox.enqueue`` (ADR 0014).

This module is the bottom layer: it imports nothing from the apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TextIO, TypeVar

if TYPE_CHECKING:
    from rsp_portal.types import Actor

P = TypeVar("P")
A = TypeVar("A")
R = TypeVar("R")

__all__ = [
    "NOTIFY",
    "RECORD",
    "SEED_DEMO",
    "Event",
    "Notice",
    "Query",
    "Record",
    "answer",
    "ask",
    "emit",
    "events",
    "handlers",
    "record",
    "replaced",
    "subscribe",
]


@dataclass(frozen=True, eq=False)
class Event(Generic[P]):
    """A typed event name: ``Event[Payload]("app.thing_happened")``.

    Compared by identity; names are unique (a second event with a taken name is refused).
    """

    name: str
    #: What the event means and when it is emitted (shown by ``events()`` listings).
    doc: str = ""
    #: Emitting it with no handler subscribed raises (a write must never go unaudited).
    required: bool = False
    _handlers: list[tuple[int, Callable[[P, Actor], None]]] = field(
        default_factory=list, repr=False
    )

    def __post_init__(self) -> None:
        if self.name in _EVENTS:
            raise ValueError(f"event {self.name!r} is declared twice")
        _EVENTS[self.name] = self


_EVENTS: dict[str, object] = {}


def subscribe(event: Event[P], handler: Callable[[P, Actor], None], *, order: int) -> None:
    """Run ``handler(payload, actor)`` on every ``emit(event, ...)``, at position ``order``.

    Subscribing the same handler again is a no-op (``ready()`` may run twice); another handler
    at a taken order is refused, so two apps cannot silently race for the same place.
    """
    for taken, existing in event._handlers:
        if existing == handler:
            return
        if taken == order:
            name = getattr(existing, "__qualname__", existing)
            raise ValueError(f"{event.name}: order {order} is taken by {name}")
    event._handlers.append((order, handler))
    event._handlers.sort(key=lambda pair: pair[0])


def emit(event: Event[P], payload: P, actor: Actor) -> None:
    """Run the event's handlers now, in order, in the caller's transaction."""
    if event.required and not event._handlers:
        raise LookupError(f"no app handles {event.name}")
    for _, handler in list(event._handlers):
        handler(payload, actor)


def handlers(event: Event[P]) -> list[Callable[[P, Actor], None]]:
    """The subscribed handlers, in the order they run."""
    return [handler for _, handler in event._handlers]


def events() -> Mapping[str, object]:
    """Every declared event by name (for docs and tests)."""
    return dict(_EVENTS)


@contextmanager
def replaced(event: Event[P], *replacement: Callable[[P, Actor], None]) -> Iterator[None]:
    """For tests: run only ``replacement`` (in the order given) on ``event`` for the duration."""
    saved = list(event._handlers)
    event._handlers[:] = [(i, handler) for i, handler in enumerate(replacement)]
    try:
        yield
    finally:
        event._handlers[:] = saved


# ------------------------------------------------------------------ queries


@dataclass(frozen=True, eq=False)
class Query(Generic[A, R]):
    """A typed question a lower app asks and one higher app answers:
    ``GATE_OF = Query[AIModel, dict[str, object]]("gate.of")``, answered in the higher app's
    ``ready()`` with ``answer(GATE_OF, gate_for)`` and asked with ``ask(GATE_OF, model)``.

    It replaces looking the higher app up by name (``importlib``): the arrow still points
    down (the answerer imports the query), and an unanswered query fails loudly.
    """

    name: str
    doc: str = ""
    _answerer: list[Callable[[A], R]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.name in _EVENTS:
            raise ValueError(f"event {self.name!r} is declared twice")
        _EVENTS[self.name] = self


def answer(query: Query[A, R], answerer: Callable[[A], R]) -> None:
    """Make ``answerer`` the one answer to ``query`` (again the same one: a no-op)."""
    if query._answerer and query._answerer[0] != answerer:
        raise ValueError(f"{query.name} is answered already")
    query._answerer[:] = [answerer]


def ask(query: Query[A, R], argument: A) -> R:
    """The answer to ``query`` for ``argument``; LookupError if no app answers it."""
    if not query._answerer:
        raise LookupError(f"no app answers {query.name}")
    return query._answerer[0](argument)


# ------------------------------------------------------------------ events of the bottom layer


@dataclass(frozen=True)
class Notice:
    """A message for people: ``event`` (``"title.granted"``), its data, the roles e-mailed."""

    event: str
    data: Mapping[str, object]
    roles: tuple[str, ...] = ("safety", "leadership")


#: Someone should hear about a change (e-mail to ``roles``, webhooks that want ``event``).
#: Apps below governance emit it; governance's notifications queue it (in the transaction).
NOTIFY: Event[Notice] = Event("notify", "tell people about a change")


@dataclass(frozen=True)
class Record:
    """A fact for the audit trail, as ``audit.record(action, obj, data, actor, via=via)``."""

    action: str
    obj: object
    data: Mapping[str, object] | None = None
    via: str | None = None


#: core's own writes are audited through this event (the audit app sits above core, ADR 0022);
#: audit's handler appends the entry in the write's transaction. Required: emitting it with no
#: handler raises, so a write of core never goes unaudited.
RECORD: Event[Record] = Event("audit.record", "append a fact to the audit trail", required=True)


def record(
    action: str,
    obj: object,
    data: Mapping[str, object] | None = None,
    actor: Actor = None,
    *,
    via: str | None = None,
) -> None:
    """``audit.record`` for the bottom layer: emits :data:`RECORD` in the caller's transaction."""
    emit(RECORD, Record(action, obj, data, via), actor)


#: ``manage.py seed_demo``: each app with demo data seeds it (payload: where to report).
SEED_DEMO: Event[TextIO] = Event("demo.seed", "seed each app's demo data, in order")
