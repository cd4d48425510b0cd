"""Django admin of the suites app.

Evaluation suites are defined here by administrators only (``suite.manage``): a runner's
configuration decides what a worker executes. Saving goes through
:func:`suites.services.save_suite`, which validates, writes the audit entry and keeps the
django-celery-beat schedule in step. Suite runs are read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from rsp_portal.authz import can
from rsp_portal.errors import ServiceError
from suites import services
from suites.models import EvalSuite, SuiteRun


class EvalSuiteForm(forms.ModelForm[EvalSuite]):
    class Meta:
        model = EvalSuite
        fields = [
            "slug",
            "name",
            "description",
            "runner",
            "config",
            "metrics",
            "targets",
            "schedule",
            "enabled",
            "max_attempts",
        ]
        help_texts = {
            "config": 'inspect: {"task": "demo_capabilities", "model": "mockllm/model", '
            '"limit": 10, "epochs": 1}; command: {"command": "<a name from the deployment\'s '
            'allow-list, SUITE_COMMANDS_FILE>", "args": [], "timeout": 600}',
            "metrics": '{"<scorer>/<metric>": "<policy metric key>"}',
            "schedule": "five cron fields in UTC, e.g. */5 * * * *; empty = on request only",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            services.check_suite_input(
                slug=data.get("slug") if self.instance.pk is None else None,
                name=data.get("name"),
                metrics=data.get("metrics"),
                runner=data.get("runner"),
                config=data.get("config"),
                schedule=data.get("schedule") or "",
                max_attempts=data.get("max_attempts"),
            )
        except ServiceError as exc:
            for field_name, messages in exc.message_dict.items():
                base = field_name.split(".")[0]
                self.add_error(base if base in self.fields else None, messages)
        return data


@admin.register(EvalSuite)
class EvalSuiteAdmin(admin.ModelAdmin[EvalSuite]):
    form = EvalSuiteForm
    list_display = ("slug", "name", "runner", "schedule", "enabled")
    list_filter = ("runner", "enabled")
    filter_horizontal = ("targets",)

    def get_readonly_fields(
        self, request: HttpRequest, obj: EvalSuite | None = None
    ) -> tuple[str, ...]:
        return ("slug",) if obj is not None else ()

    def _manager(self, request: HttpRequest) -> bool:
        return can(request.user, "suite.manage")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._manager(request)

    def has_view_permission(self, request: HttpRequest, obj: EvalSuite | None = None) -> bool:
        return self._manager(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._manager(request)

    def has_change_permission(self, request: HttpRequest, obj: EvalSuite | None = None) -> bool:
        return self._manager(request)

    def has_delete_permission(self, request: HttpRequest, obj: EvalSuite | None = None) -> bool:
        return self._manager(request) and (obj is None or not obj.runs.exists())

    def save_model(
        self, request: HttpRequest, obj: EvalSuite, form: EvalSuiteForm, change: bool
    ) -> None:
        data = form.cleaned_data
        saved = services.save_suite(
            EvalSuite.objects.get(pk=obj.pk) if change else None,
            slug=data.get("slug"),
            name=data["name"],
            description=data.get("description", ""),
            metrics=data["metrics"],
            runner=data["runner"],
            config=data["config"],
            targets=list(data.get("targets") or []),
            schedule=data.get("schedule") or "",
            enabled=data.get("enabled", False),
            max_attempts=data["max_attempts"],
            actor=request.user,
            via="session",
        )
        obj.pk = saved.pk
        obj.periodic_task = saved.periodic_task

    def save_related(
        self, request: HttpRequest, form: EvalSuiteForm, formsets: Any, change: bool
    ) -> None:
        """The targets were set by the service (with the audit entry)."""

    def delete_model(self, request: HttpRequest, obj: EvalSuite) -> None:
        services.delete_suite(obj, request.user, via="session")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EvalSuite]) -> None:
        for suite in queryset:
            services.delete_suite(suite, request.user, via="session")


@admin.register(SuiteRun)
class SuiteRunAdmin(admin.ModelAdmin[SuiteRun]):
    list_display = ("id", "suite", "model", "status", "attempts", "triggered_by", "created_at")
    list_filter = ("status", "triggered_by", "suite")
    list_select_related = ("suite", "model")
    readonly_fields = [f.name for f in SuiteRun._meta.fields]

    def has_view_permission(self, request: HttpRequest, obj: SuiteRun | None = None) -> bool:
        return can(request.user, "suite.manage")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can(request.user, "suite.manage")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SuiteRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SuiteRun | None = None) -> bool:
        return False
