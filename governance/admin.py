"""Admin: webhooks are configured here; decisions, pauses and deliveries are read-only records."""

from typing import TypeVar

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from governance.models import Notification, Pause, ScalingDecision, WebhookEndpoint

_M = TypeVar("_M", bound=models.Model)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    """Governance records change only through the portal's services (audited)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ("name", "url", "events", "active")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin[Notification]):
    list_display = ("event", "endpoint", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "event")
    list_select_related = ("endpoint",)


@admin.register(ScalingDecision)
class ScalingDecisionAdmin(ReadOnlyAdmin[ScalingDecision]):
    list_display = ("pk", "model", "compute_limit", "status", "requested_by", "requested_at")
    list_filter = ("status",)
    list_select_related = ("model", "requested_by")


@admin.register(Pause)
class PauseAdmin(ReadOnlyAdmin[Pause]):
    list_display = ("model", "created_by", "created_at", "reason")
    list_select_related = ("model", "created_by")
