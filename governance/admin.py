"""Admin: subscriptions are configured here (audited); decisions, pauses and notifications are
read-only records."""

from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from governance import notifications
from governance.models import Notification, Pause, ScalingDecision, Subscription
from governance.transports import TRANSPORTS

_M = TypeVar("_M", bound=models.Model)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    """Governance records change only through the portal's services (audited)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    """The kind's transport validates the target (the model's ``clean``); saves are audited."""

    list_display = ("name", "kind", "target", "events", "active")
    list_filter = ("kind", "active")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "kind":
            # The channels are the registered transports (a plugin adds its own).
            return forms.ChoiceField(
                label="Channel", choices=[(t.kind, t.label) for t in TRANSPORTS.values()]
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        notifications.save_subscription(obj, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: Subscription) -> None:
        notifications.delete_subscription(obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Subscription | None = None) -> bool:
        # One by one (delete_model is audited); a subscription with notifications is kept.
        return obj is not None and not obj.deliveries.exists()

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin[Notification]):
    list_display = ("event", "channel", "subscription", "delivery_status", "created_at")
    list_filter = ("channel", "event")
    list_select_related = ("subscription", "message")


@admin.register(ScalingDecision)
class ScalingDecisionAdmin(ReadOnlyAdmin[ScalingDecision]):
    list_display = ("pk", "model", "compute_limit", "status", "requested_by", "requested_at")
    list_filter = ("status",)
    list_select_related = ("model", "requested_by")


@admin.register(Pause)
class PauseAdmin(ReadOnlyAdmin[Pause]):
    list_display = ("model", "created_by", "created_at", "reason")
    list_select_related = ("model", "created_by")
