"""The beat admin with audited changes (``audit.beat``): the stock PeriodicTask admin, whose
saves, deletions and bulk actions are attributed to the admin who made them."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from audit.beat import acting


class AuditedPeriodicTaskAdmin(PeriodicTaskAdmin):  # type: ignore[misc]
    def changeform_view(
        self, request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponse:
        with acting(request.user):
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[no-any-return]

    def changelist_view(
        self, request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponse:
        with acting(request.user):
            return super().changelist_view(request, *args, **kwargs)  # type: ignore[no-any-return]

    def delete_view(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        with acting(request.user):
            return super().delete_view(request, *args, **kwargs)  # type: ignore[no-any-return]

    def _set_enabled(self, queryset: QuerySet[PeriodicTask], enabled: bool | None) -> int:
        """Save task by task (``queryset.update`` would skip the audit entry)."""
        count = 0
        with transaction.atomic():
            for task in queryset.select_for_update(of=("self",)):
                task.enabled = (not task.enabled) if enabled is None else enabled
                if not task.enabled:
                    task.last_run_at = None
                task.save()
                count += 1
        return count

    @admin.action(description="Enable selected tasks")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = self._set_enabled(queryset, True)
        self.message_user(request, f"{count} tasks enabled.")

    @admin.action(description="Disable selected tasks")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = self._set_enabled(queryset, False)
        self.message_user(request, f"{count} tasks disabled.")

    @admin.action(description="Toggle activity of selected tasks")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = self._set_enabled(queryset, None)
        self.message_user(request, f"{count} tasks toggled.")


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, AuditedPeriodicTaskAdmin)
