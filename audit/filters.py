"""Timeline filters, shared by the auditors' page and the API."""

from __future__ import annotations

import django_filters

from audit.models import AuditEntry
from rsp_portal.datetimes import BoundedIsoDateTimeFilter


class AuditEntryFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    """Exact matches on the indexed filter columns plus a time range on ``ts``."""

    actor = django_filters.CharFilter(field_name="actor", label="Actor")
    action = django_filters.CharFilter(field_name="action", label="Action")
    object_type = django_filters.CharFilter(field_name="object_type", label="Object type")
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id")
    model = django_filters.CharFilter(field_name="model_slug", label="AI model (slug)")
    since = BoundedIsoDateTimeFilter(field_name="ts", lookup_expr="gte", label="Since")
    until = BoundedIsoDateTimeFilter(field_name="ts", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "object_type", "object_id", "model", "since", "until"]


class AuditEntryApiFilter(AuditEntryFilter):
    """The API's: a time bound given empty (``?until=``) is refused, not ignored (the page's
    form submits its empty fields, and means "no bound")."""

    def is_valid(self) -> bool:
        valid = bool(super().is_valid())
        for name in ("since", "until"):
            if name in self.data and not str(self.data.get(name) or "").strip():
                self.form.add_error(name, "Is empty; give a date-time or leave it out.")
                valid = False
        return valid
