"""Notifications in words: the subject of each event and the plain-text body (e-mail, Slack)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from governance.reasons import group_reasons

SUBJECTS = {
    "gate.transition": "Gate of {model} is now {to}",
    "decision.requested": "Scaling decision #{decision} for {model} needs your sign-off",
    "decision.approved": "Scaling decision #{decision} for {model} approved",
    "decision.rejected": "Scaling decision #{decision} for {model} rejected",
    "decision.stale": "Scaling decision #{decision} for {model} is stale",
    "decision.expired": "Scaling decision #{decision} for {model} expired",
    "model.paused": "{model} was paused",
    "warning.crossed": "{model} crossed an early-warning line",
    "threshold.crossed": "{model} crossed a capability threshold",
    "evaluation.due": "{model} is due for evaluation",
    "policy.activation.requested": "A policy activation needs your sign-off",
    "commitment.reminder": "Commitment due {due_at}: {text}",
}


def render_email(event: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of an e-mail, in words (never a JSON dump)."""

    subject = SUBJECTS.get(event, event).format_map(_Default(payload))
    reasons = payload.get("reasons") or []
    model = str(payload.get("model", ""))
    limit = payload.get("compute_limit")
    text = render_to_string(
        "governance/email/notification.txt",
        {
            "subject": subject,
            "event": event,
            "p": payload,
            "site": settings.SITE_URL,
            "at": payload.get("at", ""),
            "groups": group_reasons(reasons, model) if model else [],
            "reasons": [r.get("message", r.get("code", "")) for r in reasons],
            "determinations": sorted((payload.get("determinations") or {}).items()),
            "titles": ", ".join(payload.get("required_titles") or []),
            "compute_limit": f"{float(limit):.3g}" if limit is not None else "?",
        },
    )
    return subject, text


class _Default(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"
