"""Notifications in words: the name and subject of each event, the plain-text body (e-mail,
Slack) with links that lead somewhere, and the digest that carries a burst in one mail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from core import words
from governance.reasons import group_reasons


class EventWords(NamedTuple):
    """What people read about one event kind: its name in lists, its subject."""

    name: str
    subject: str


#: Every event kind that notifies, in words. A subject's ``{fields}`` come from the payload.
EVENTS: dict[str, EventWords] = {
    "gate.transition": EventWords("A gate changes", "Gate of {model} is now {to}"),
    "decision.requested": EventWords(
        "A decision needs sign-off", "Scaling decision #{decision} for {model} needs your sign-off"
    ),
    "decision.approved": EventWords(
        "A decision is approved", "Scaling decision #{decision} for {model} approved"
    ),
    "decision.rejected": EventWords(
        "A decision is rejected", "Scaling decision #{decision} for {model} rejected"
    ),
    "decision.stale": EventWords(
        "A decision goes stale", "Scaling decision #{decision} for {model} is stale"
    ),
    "decision.expired": EventWords(
        "A decision expires", "Scaling decision #{decision} for {model} expired"
    ),
    "model.paused": EventWords("A model is paused", "{model} was paused"),
    "warning.crossed": EventWords(
        "An early-warning line is reached", "{model} crossed an early-warning line"
    ),
    "threshold.crossed": EventWords(
        "A capability threshold is crossed", "{model} crossed a capability threshold"
    ),
    "evaluation.due": EventWords("An evaluation falls due", "{model} is due for evaluation"),
    "policy.activation.requested": EventWords(
        "A policy activation needs sign-off", "A policy activation needs your sign-off"
    ),
    "gate.mismatch": EventWords(
        "A stored gate did not match", "The stored gate of {model} did not match the record"
    ),
    "title.granted": EventWords("A sign-off title is granted", "{user} now holds {title_list}"),
    "title.proposed": EventWords(
        "A sign-off title is proposed", "{title_list} proposed for {user}: a second holder decides"
    ),
    "title.revoked": EventWords(
        "A sign-off title is revoked", "{user} no longer holds {title_list}"
    ),
    "commitment.reminder": EventWords(
        "A commitment falls due", "Commitment due {due_words}: {text}"
    ),
    "signer.credential_changed": EventWords(
        "A signer's credentials change", "The {kind} of signer {user} changed: signing waits"
    ),
}
#: Kept for callers that list the subjects.
SUBJECTS = {event: words.subject for event, words in EVENTS.items()}
UNKNOWN = EventWords("Another update", "An update from the RSP Portal")
# Events that ask someone to act come first in a digest.
_ACTION_FIRST = ("decision.requested", "policy.activation.requested", "title.proposed")


def event_name(event: str) -> str:
    """The event kind as lists name it (``A gate changes``)."""
    return EVENTS.get(event, UNKNOWN).name


def subject_of(event: str, payload: Mapping[str, object]) -> str:
    """The subject in words; a gate whose state stayed says its reasons changed."""
    fields = _Fields(payload)
    due = parse_datetime(str(payload.get("due_at") or ""))
    fields["due_words"] = words.moment(due) if due else "soon"
    titles = payload.get("titles")
    fields["title_list"] = " and ".join(map(str, titles)) if isinstance(titles, list) else ""
    fields["title_list"] = fields["title_list"] or "a title"
    if event == "gate.transition" and payload.get("from") == payload.get("to"):
        return "Gate of {model} still {to}: reasons changed".format_map(fields)
    return EVENTS.get(event, UNKNOWN).subject.format_map(fields)


def link_of(event: str, payload: Mapping[str, object]) -> str:
    """The page that shows what the notification is about (absolute), or the dashboard."""
    name, args = "dashboard", []
    if event.startswith("decision.") and payload.get("decision"):
        name, args = "decision-detail", [payload["decision"]]
    elif event == "policy.activation.requested" and payload.get("activation"):
        name, args = "policy-activation", [payload["activation"]]
    elif event.startswith(("title.", "signer.")):
        name = "titles"
    elif event == "commitment.reminder":
        name = "commitment-list"
    elif payload.get("model"):
        name, args = "model-detail", [payload["model"]]
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        path = reverse("dashboard")
    return settings.SITE_URL.rstrip("/") + path


def render_email(event: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of an e-mail, in words (never a JSON dump)."""

    subject = subject_of(event, payload)
    reasons = payload.get("reasons") or []
    model = str(payload.get("model", ""))
    limit = payload.get("compute_limit")
    text = render_to_string(
        "governance/email/notification.txt",
        {
            "subject": subject,
            "event": event,
            "p": payload,
            "link": link_of(event, payload),
            "at": _sent_at(payload),
            "groups": group_reasons(reasons, model) if model else [],
            "reasons": [r.get("message", r.get("code", "")) for r in reasons],
            "determinations": sorted((payload.get("determinations") or {}).items()),
            "titles": ", ".join(payload.get("required_titles") or []),
            "compute_limit": f"{float(limit):.3g}" if limit is not None else "?",
        },
    )
    return subject, text


def digest_summary(subjects: Sequence[str]) -> str:
    """A burst in a line: each distinct subject once, repeated ones counted
    (``Gate of atlas still paused: reasons changed (16 times); atlas was paused``)."""
    counts: dict[str, int] = {}
    for subject in subjects:
        counts[subject] = counts.get(subject, 0) + 1
    return "; ".join(f"{s} ({n} times)" if n > 1 else s for s, n in counts.items())


def render_digest(items: Sequence[tuple[str, dict[str, object]]]) -> tuple[str, str]:
    """One mail for a burst of notifications to the same people: each one's subject first,
    those asking someone to act before the others, then each body in turn."""
    if len(items) == 1:
        return render_email(*items[0])
    ordered = sorted(
        items, key=lambda item: (item[0] not in _ACTION_FIRST, str(item[1].get("at", "")))
    )
    rendered = [render_email(event, payload) for event, payload in ordered]
    subjects = [subject for subject, _ in rendered]
    subject = f"{len(items)} updates: {'; '.join(subjects)}"
    if len(subject) > 180:
        subject = subject[:177].rstrip() + "…"
    body = "\n".join(
        [
            f"{len(items)} updates from the RSP Portal:",
            *(f"  {n}. {s}" for n, s in enumerate(subjects, 1)),
            "",
            *(f"--- {n}. {text}" for n, (_, text) in enumerate(rendered, 1)),
        ]
    )
    return subject, body


def _sent_at(payload: Mapping[str, object]) -> str:
    moment = parse_datetime(str(payload.get("at") or ""))
    return words.moment(moment) if moment else "now"


class _Fields(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "a model" if key == "model" else "—"
