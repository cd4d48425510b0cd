"""Password resets by link: how an administrator helps someone without learning their password.

An administrator never sets a title holder's password (``core.admin``); they send a reset link
instead. The link is made by Django's password-reset machinery (a one-time token bound to the
current password hash and the last login) and mailed straight to the account's address through
the configured e-mail backend. It is deliberately not queued as a notification: a queued
message is a database row, and whoever reads the table would hold the link.

Sending is audited (``user.password_reset_sent``); using the link is a credential change
(``core.services.credential_changed``): a title holder's signing is suspended for the
cooling-off period and the other title holders are told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.views import PasswordResetCompleteView, PasswordResetConfirmView
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from core import authority, events, services

if TYPE_CHECKING:
    from django.contrib.auth.forms import SetPasswordForm
    from django.http import HttpRequest, HttpResponse

    from core.models import User
    from rsp_portal.types import Actor


class ResetError(ValueError):
    """A reset link that cannot be sent (shown as-is)."""


def send_link(user: User, request: HttpRequest, *, actor: Actor) -> None:
    """Mail ``user`` a one-time link to choose a new password; audited as ``actor``."""

    services._require_manager(actor)
    if not user.email:
        raise ResetError("the account has no e-mail address; set one first.")
    if not user.is_active:
        raise ResetError("the account is deactivated.")
    if not authority.address_matches(user):
        # Changed outside the application: the link would go to whoever wrote the column.
        raise ResetError(
            "the account's e-mail address does not match the audit trail (it was changed "
            "outside the application); nothing was sent. Verification names the account."
        )
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    text = render_to_string(
        "registration/password_reset_email.txt",
        {"user": user, "link": request.build_absolute_uri(path)},
    )
    with transaction.atomic():
        events.record(
            "user.password_reset_sent",
            user,
            {"username": user.username, "holds_title": services.holds_a_title(user)},
            actor=actor,
        )
        transaction.on_commit(
            lambda: send_mail("[RSP Portal] Choose a new password", text, None, [user.email])
        )


class ResetConfirmView(PasswordResetConfirmView):
    """Django's reset page; a successful reset is recorded as a credential change."""

    template_name = "registration/password_reset_confirm.html"

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:

        with transaction.atomic():
            response = super().form_valid(form)
            user = form.user
            events.record("user.password_reset", user, {"username": user.username}, actor=user)
            services.credential_changed(user, "password", actor=user)
        return response


class ResetCompleteView(PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"
