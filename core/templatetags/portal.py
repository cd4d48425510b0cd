"""Template filters shared by every page: one date format, one number format.

Dates read ``2026-11-28 19:21 UTC`` in the current time zone, with the exact ISO 8601 instant
on hover (``<time title=…>``); numbers get three significant digits, or a plain integer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import mark_safe

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
    local = timezone.localtime(moment)
    iso = moment.isoformat()
    shown = local.strftime("%Y-%m-%d %H:%M ") + escape(local.tzname() or "")
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
