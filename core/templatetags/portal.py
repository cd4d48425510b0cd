"""Template filters shared by every page: one date format, one number format.

Dates read ``2026-11-28 19:21 UTC`` in the current time zone, with the exact ISO 8601 instant
on hover (``<time title=…>``); numbers get three significant digits, or a plain integer.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import mark_safe

from core import words

register = template.Library()


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None


@register.filter
def when(value: Any) -> str:
    """A timestamp as ``<time>``: local minutes shown, the ISO instant on hover."""
    moment = _as_datetime(value)
    if moment is None:
        return "—" if not value else str(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    iso = moment.isoformat()
    shown = escape(words.moment(moment))
    # Digits, "-", ":", "+", "T" and "." only: nothing to escape (this runs hundreds of times
    # per page, format_html's escaping is measurable).
    return mark_safe(f'<time datetime="{iso}" title="{iso}">{shown}</time>')  # noqa: S308


@register.filter
def num(value: Any) -> str:
    """A number for people: integers as they are, others to three significant digits."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.3g}"


@register.filter
def action(value: object) -> str:
    """An audit action in words (``decision.approve`` → ``Decision approval signed``)."""
    return words.action_words(str(value or ""))


@register.filter
def object_type(value: object) -> str:
    """A trail object type in words (``evaluations.aimodel`` → ``AI model``)."""
    return words.object_words(str(value or ""))


@register.filter
def cause(value: object) -> str:
    """What caused a gate transition, in words."""
    return words.cause_words(str(value or ""))


@register.filter(name="words")
def code_words(value: object) -> str:
    """An enum value or policy field in words (``ongoing_assessment`` → ``ongoing assessment``)."""
    return words.code_words(value)


@register.filter
def plural(number: object, forms: str) -> str:
    """``3|plural:"checkpoint"`` → ``3 checkpoints``; ``"person,people"`` for irregular nouns."""
    singular, _, many = forms.partition(",")
    if isinstance(number, Sized) and not isinstance(number, str):
        value = len(number)
    else:
        try:
            value = int(str(number))
        except ValueError:
            value = 0
    return words.count(value, singular, many)


@register.filter
def named(code: object, name: object) -> str:
    """``<strong>CBRN-3</strong> CBRN weapons``: a code with its name, the name left out when
    it only repeats the code (no "CBRN-3 CBRN-3")."""
    code_text, name_text = str(code or ""), str(name or "").strip()
    shown = f"<strong>{escape(code_text)}</strong>"
    if name_text and name_text != code_text:
        shown += f" {escape(name_text)}"
    return mark_safe(shown)  # noqa: S308  (both parts escaped above)
