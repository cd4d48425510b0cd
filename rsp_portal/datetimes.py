"""Date-times that come in from outside: a UTC offset no place on Earth uses is refused.

Real offsets run from -12:00 to +14:00. Python accepts up to ±23:59 and PostgreSQL refuses
beyond ±15:59 with a ``DataError`` (a 500 if it reaches a query), so every input path (the API's
fields and filters, the forms, the evidence services and the importers) checks the offset with
:func:`utc_offset_error` and answers 400 naming the field.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MAX_UTC_OFFSET = timedelta(hours=14)
OFFSET_MESSAGE = "The UTC offset must lie between -14:00 and +14:00."


def utc_offset_error(value: datetime) -> str | None:
    """The message to show when ``value``'s UTC offset is one no time zone has, else None."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        return OFFSET_MESSAGE
    return None


@extend_schema_field(OpenApiTypes.DATETIME)
class BoundedDateTimeField(serializers.DateTimeField):
    """DRF's date-time field, refusing impossible UTC offsets before it converts to UTC."""

    def enforce_timezone(self, value: datetime) -> datetime:
        message = utc_offset_error(value)
        if message:
            raise serializers.ValidationError(message)
        return super().enforce_timezone(value)


class BoundedFormDateTimeField(forms.DateTimeField):
    """Django's form date-time field with the same bound."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        message = parsed and utc_offset_error(parsed)
        if message:
            raise ValidationError(message, code="invalid")
        return parsed


class BoundedIsoDateTimeField(
    BoundedFormDateTimeField,
    django_filters.fields.IsoDateTimeField,  # type: ignore[misc]  # django-filter ships no types
):
    """django-filter's ISO 8601 field with the same bound."""


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]
    """A date-time filter whose value refuses impossible UTC offsets."""

    field_class = BoundedIsoDateTimeField
