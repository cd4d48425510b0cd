from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

from core.models import ApiToken, Role, TokenScope, User


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing a name longer than any username before authenticating.

    Django sets the field's ``max_length`` without its validator, so an over-long name reached
    authentication, whose failure log (django-axes) cannot store it: a 500 on PostgreSQL.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        max_length = getattr(field, "max_length", None)
        if max_length:
            field.validators.append(MaxLengthValidator(max_length))

    def confirm_login_allowed(self, user: User) -> None:
        """Refuse service accounts: they use API tokens, never the browser (issue 27)."""
        super().confirm_login_allowed(user)
        if user.role == Role.PIPELINE:
            raise forms.ValidationError(
                "This is a service account: it uses API tokens and cannot sign in to the "
                "browser. Sign in with your own account.",
                code="service_account",
            )


class TokenForm(forms.Form):
    """Issue a token for yourself, limited to scopes your role can use."""

    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'training-cluster-a'.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, choices=())

    def __init__(self, *args: Any, user: User, allowed_scopes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        labels = dict(TokenScope.choices)
        scopes_field = self.fields["scopes"]
        assert isinstance(scopes_field, forms.MultipleChoiceField)
        scopes_field.choices = [(s, f"{s} — {labels[s]}") for s in allowed_scopes]

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if ApiToken.objects.filter(user=self.user, name=name).exists():
            raise forms.ValidationError("You already have a token with this name.")
        return name


class TitleProposalForm(forms.Form):
    """Propose a sign-off title for a leadership user who holds none yet."""

    username = forms.ModelChoiceField(
        queryset=User.objects.none(), to_field_name="username", label="Person"
    )
    title = forms.CharField(max_length=32, help_text="e.g. CFO; a second title holder approves.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = User.objects.filter(
            role="leadership", is_active=True, signoff_titles__isnull=True
        ).order_by("username")


class TimeZoneForm(forms.Form):
    """The zone a person's pages show times in."""

    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=lambda: [(zone, zone) for zone in sorted(available_timezones())],
        help_text="Every date and time on the pages is shown in this zone, with its name.",
    )
