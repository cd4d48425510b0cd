"""The ``line`` filter: a threshold's line with the comparison that crosses it.

``{{ indicator|line:"critical" }}`` reads ``≥ 0.5`` or ``≤ 0.25``
(:func:`policies.rules.line_text`): the indicator (a dict or an object) gives the line under
that key and its direction as ``higher_is_more_capable``. Every page that shows a line uses it;
a record frozen without the direction shows the bare number.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from policies import rules

register = template.Library()


def _get(indicator: object, key: str) -> object:
    if isinstance(indicator, Mapping):
        return indicator.get(key)
    return getattr(indicator, key, None)


@register.filter
def line(indicator: object, key: str) -> SafeString:
    """The line ``key`` (``"warning"``, ``"critical"``) of ``indicator`` in its direction, in a
    ``<span class="line">`` that never wraps between the sign and the number."""
    return mark_safe(f'<span class="line">{escape(_text(indicator, key))}</span>')  # noqa: S308


def _text(indicator: object, key: str) -> str:
    value = _get(indicator, key)
    direction = _get(indicator, "higher_is_more_capable")
    if value is None or value == "":
        return "—"
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return str(value)
    return rules.line_text(
        number, higher_is_more_capable=direction if isinstance(direction, bool) else None
    )
