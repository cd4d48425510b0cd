"""Django admin for policy drafts. Active and superseded versions are shown read-only:
a change to the policy in force is a new draft (``load_policy``), activated by leadership."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from policies import services
from policies.models import (
    CapabilityThreshold,
    Indicator,
    Metric,
    PolicyChild,
    PolicyVersion,
    RiskDomain,
    SafeguardRequirement,
    SafetyLevel,
    Standard,
)
from rsp_portal.authz import can


def _editable(request: HttpRequest, version: PolicyVersion | None) -> bool:
    """Only policy managers, and only while the version is a draft."""
    return can(request.user, "policy.manage") and (version is None or version.is_draft)


class DraftOnlyMixin:
    """Change and delete only a draft's rows; otherwise everything is read-only."""

    def _version_of(self, obj: PolicyVersion | PolicyChild | None) -> PolicyVersion | None:
        if obj is None:
            return None
        return obj if isinstance(obj, PolicyVersion) else obj.version

    def has_view_permission(
        self, request: HttpRequest, obj: PolicyVersion | PolicyChild | None = None
    ) -> bool:
        return can(request.user, "policy.view")

    def has_add_permission(
        self, request: HttpRequest, obj: PolicyVersion | PolicyChild | None = None
    ) -> bool:
        return _editable(request, self._version_of(obj))

    def has_change_permission(
        self, request: HttpRequest, obj: PolicyVersion | PolicyChild | None = None
    ) -> bool:
        return _editable(request, self._version_of(obj))

    def has_delete_permission(
        self, request: HttpRequest, obj: PolicyVersion | PolicyChild | None = None
    ) -> bool:
        return _editable(request, self._version_of(obj))


class _Inline(DraftOnlyMixin, admin.TabularInline[PolicyChild, PolicyVersion]):
    extra = 0
    show_change_link = False


class LevelInline(_Inline):
    model = SafetyLevel
    fields = ("code", "rank", "name", "description")


class StandardInline(_Inline):
    model = Standard
    fields = ("code", "level", "kind", "includes")


class RequirementInline(_Inline):
    model = SafeguardRequirement
    fields = ("standard", "code", "title", "evidence")


class DomainInline(_Inline):
    model = RiskDomain
    fields = ("code", "name", "tier")


class MetricInline(_Inline):
    model = Metric
    fields = (
        "key",
        "name",
        "unit",
        "min",
        "max",
        "higher_is_more_capable",
        "min_samples",
        "domain",
    )


class ThresholdInline(_Inline):
    model = CapabilityThreshold
    fields = (
        "code",
        "domain",
        "name",
        "description",
        "tier",
        "halt",
        "requires_scaling",
        "requires_deployment",
    )


class IndicatorInline(_Inline):
    model = Indicator
    fields = ("threshold", "metric", "warning", "critical")


@admin.register(PolicyVersion)
class PolicyVersionAdmin(DraftOnlyMixin, admin.ModelAdmin[PolicyVersion]):
    list_display = (
        "id",
        "name",
        "version",
        "status",
        "content_sha256",
        "created_at",
        "activated_at",
    )
    list_filter = ("status",)
    # Lifecycle fields change only through services.activate (audited), never here.
    readonly_fields = (
        "status",
        "content_sha256",
        "created_at",
        "created_by",
        "activated_at",
        "activated_by",
    )
    fields = (
        "key",
        "name",
        "version",
        "status",
        "content_sha256",
        "source",
        "disclaimer",
        *PolicyVersion.SETTINGS_FIELDS,
        "created_at",
        "created_by",
        "activated_at",
        "activated_by",
    )
    inlines = [
        LevelInline,
        StandardInline,
        RequirementInline,
        DomainInline,
        MetricInline,
        ThresholdInline,
        IndicatorInline,
    ]

    def has_add_permission(
        self, request: HttpRequest, obj: PolicyVersion | PolicyChild | None = None
    ) -> bool:
        return False  # versions come from packs: manage.py load_policy

    def save_related(
        self, request: HttpRequest, form: ModelForm[PolicyVersion], formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        # The hash always describes the content; activation validates and rehashes again.
        services.refresh_draft_hash(form.instance)
