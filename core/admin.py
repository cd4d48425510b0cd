from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.models import ApiToken, SignoffTitle, User


class SignoffTitleInline(admin.TabularInline):
    model = SignoffTitle
    extra = 0


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    inlines = [SignoffTitleInline]
    list_display = ("username", "email", "is_active", "last_login")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by `manage.py issue_token` or the tokens page; here they are revoked."""

    list_display = ("name", "user", "key_id", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "name", "key_id", "digest", "scopes", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for token in queryset:
            token.revoke()
