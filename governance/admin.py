"""Admin: webhooks are configured here; decisions, pauses and deliveries are read-only records."""

from typing import Any

from django.contrib import admin

from governance.models import Notification, Pause, ScalingDecision, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    """Governance records change only through the portal's services (audited)."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "events", "active")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "event")
    list_select_related = ("endpoint",)


@admin.register(ScalingDecision)
class ScalingDecisionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "model", "compute_limit", "status", "requested_by", "requested_at")
    list_filter = ("status",)
    list_select_related = ("model", "requested_by")


@admin.register(Pause)
class PauseAdmin(ReadOnlyAdmin):
    list_display = ("model", "created_by", "created_at", "reason")
    list_select_related = ("model", "created_by")
