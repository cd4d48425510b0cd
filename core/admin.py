"""The admin edits accounts only through the audited account services (core.services).

Roles, activity, staff flags, permissions and sign-off titles are read-only fields here; the
change form offers one role field and the list offers actions, each calling a service with the
signed-in administrator as the actor. Sign-off titles are granted by title holders, never here.

Administrators administer and never act as signers: groups are not editable (roles are fixed
codes, the stock GroupAdmin is unregistered), a title holder's password is never set here (a
reset link goes to the holder instead), and changing a title holder's e-mail suspends their
signing for the cooling-off period (``core.services.credential_changed``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from core import events, outbox, password_reset, services
from core.models import ApiToken, OutboxMessage, OutboxStatus, Role, SignoffTitle, User

# Roles are fixed codes on the user; a group's name confers nothing and groups are not edited.
admin.site.unregister(Group)


class SignoffTitleInline(admin.TabularInline[SignoffTitle, User]):
    """Titles are shown, never edited here (granted by another title holder, audited)."""

    model = SignoffTitle
    extra = 0
    fields = ("title", "granted_at")
    readonly_fields = ("title", "granted_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False


class RoleForm(forms.ModelForm[User]):
    role = forms.ChoiceField(choices=Role.choices, help_text="Changed through the audited service.")

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["role"].initial = self.instance.role or None


@admin.register(User)
class PortalUserAdmin(UserAdmin[User]):
    form = RoleForm
    inlines = [SignoffTitleInline]
    list_display = ("username", "email", "is_active", "last_login")
    fieldsets = (
        (None, {"fields": ("username",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role", {"fields": ("role",)}),
        (
            "Status (read-only: use the actions)",
            {"fields": ("is_active", "is_staff", "is_superuser", "last_login", "date_joined")},
        ),
    )
    readonly_fields = (
        "username",
        "is_active",
        "is_staff",
        "is_superuser",
        "last_login",
        "date_joined",
    )
    actions = ["deactivate", "reactivate", "send_password_reset"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Accounts are created by `manage.py create_user` (core.services.create_user).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # deactivate instead: the trail keeps naming the account

    def save_model(self, request: HttpRequest, obj: User, form: RoleForm, change: bool) -> None:
        from django.db import transaction

        if change:  # the role changes only through the audited service below
            obj.role = User.objects.values_list("role", flat=True).get(pk=obj.pk)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and "email" in form.changed_data:
                services.credential_changed(obj, "email", actor=request.user)
        role = form.cleaned_data.get("role")
        if role:
            try:
                services.set_role(obj, role, actor=request.user)
            except (services.AccountError, PermissionDenied) as exc:
                self.message_user(request, str(exc), messages.ERROR)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Setting someone else's password is how an admin could sign in as a signer: refused
        for title holders (send them a reset link instead), audited for everyone else."""
        target = User.objects.filter(pk=id).first()
        if target is not None and services.holds_a_title(target):
            self.message_user(
                request,
                f"{target.username} holds a sign-off title: an administrator never sets a "
                "signer's password. Use the action 'Send a password reset link' instead.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:core_user_change", args=[target.pk]))
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            from django.db import transaction

            user = User.objects.get(pk=id)
            with transaction.atomic():
                events.record(
                    "user.password_set", user, {"username": user.username}, actor=request.user
                )
        return response

    @admin.action(description="Deactivate selected users")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            try:
                services.set_active(user, False, actor=request.user)
            except (services.AccountError, PermissionDenied) as exc:
                self.message_user(request, f"{user}: {exc}", messages.ERROR)

    @admin.action(description="Reactivate selected users")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.set_active(user, True, actor=request.user)

    @admin.action(description="Send a password reset link")
    def send_password_reset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            try:
                password_reset.send_link(user, request, actor=request.user)
            except password_reset.ResetError as exc:
                self.message_user(request, f"{user}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{user}: a reset link was sent to their e-mail.")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Tokens are issued by `manage.py issue_token` or the tokens page; here they are revoked."""

    list_display = ("name", "user", "key_id", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = (
        "user",
        "name",
        "key_id",
        "digest",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.revoke_token(token, actor=request.user)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The outbox is written by the services; a dead message can be sent again (audited)."""

    list_display = ("pk", "topic", "status", "attempts", "available_at", "created_at", "done_at")
    list_filter = ("status", "topic")
    readonly_fields = (
        "topic",
        "payload",
        "status",
        "attempts",
        "max_attempts",
        "available_at",
        "locked_until",
        "last_error",
        "created_at",
        "done_at",
    )
    actions = ["send_again"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Send selected dead messages again")
    def send_again(self, request, queryset):  # type: ignore[no-untyped-def]
        revived = sum(
            outbox.send_again(m, actor=request.user)
            for m in queryset.filter(status=OutboxStatus.DEAD)
        )
        self.message_user(request, f"{revived} dead message(s) will be sent again.")
