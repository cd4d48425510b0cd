"""Sign-in pages, the dashboard, personal API tokens and the health endpoint."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core import services
from core.forms import TimeZoneForm, TitleProposalForm, TokenForm
from core.models import ApiToken, SignoffTitle, TitleGrant, TitleGrantStatus, User
from rsp_portal.authz import allowed_scopes, require


@login_not_required
@never_cache
@require_safe  # GET and HEAD: probes often send HEAD
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and worker status for probes; no secrets, no login.

    ``?wait=N`` (at most 10 s) waits for a worker to answer this probe's ping.
    """
    try:
        wait = min(max(float(request.GET.get("wait", "0")), 0.0), 10.0)
    except ValueError:
        wait = 0.0
    report = services.health(wait_seconds=wait)
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List, issue and revoke your own API tokens. The token text is shown once."""
    user = cast(User, request.user)  # LoginRequiredMiddleware guarantees a signed-in user
    scopes = allowed_scopes(user)
    form = TokenForm(request.POST or None, user=user, allowed_scopes=scopes)
    issued = None
    if request.method == "POST" and form.is_valid():
        _, issued = services.issue_token(
            user, form.cleaned_data["name"], form.cleaned_data["scopes"], actor=user
        )
        form = TokenForm(user=user, allowed_scopes=scopes)
    user_tokens = ApiToken.objects.filter(user=user).order_by("-created_at")
    return render(
        request, "core/tokens.html", {"form": form, "issued": issued, "tokens": user_tokens}
    )


@require_POST
def revoke_token(request: HttpRequest, key_id: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, key_id=key_id, user=cast(User, request.user))
    services.revoke_token(token, actor=request.user)
    messages.success(request, f"Token '{token.name}' revoked; it no longer works.")
    return redirect("tokens")


@require_http_methods(["GET", "POST"])
def titles(request: HttpRequest) -> HttpResponse:
    """Who holds which sign-off title, the grants waiting for a second holder, and a proposal
    form: two holders of other titles grant a title, in turn (the console bootstraps)."""
    user = require(request.user, "title.grant")
    form = TitleProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.grant_title(
                form.cleaned_data["username"], form.cleaned_data["title"], actor=user
            )
        except services.AccountError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Proposed; a holder of another title must approve it.")
            return redirect("titles")
    return render(
        request,
        "core/titles.html",
        {
            "form": form,
            "holders": SignoffTitle.objects.select_related("user").order_by("title", "user"),
            "pending": TitleGrant.objects.filter(status=TitleGrantStatus.PENDING)
            .select_related("user", "proposed_by")
            .order_by("proposed_at"),
            "me": user,
        },
    )


@require_POST
def decide_title_grant(request: HttpRequest, pk: int, verdict: str) -> HttpResponse:
    """Approve (the second holder) or refuse a pending title grant."""
    user = require(request.user, "title.grant")
    grant = get_object_or_404(
        TitleGrant.objects.select_related("user"), pk=pk, status=TitleGrantStatus.PENDING
    )
    try:
        if verdict == "approve":
            services.grant_title(grant.user, grant.title, actor=user)
            messages.success(request, f"{grant.user} now holds {grant.title}.")
        else:
            services.refuse_title_grant(grant, actor=user)
            messages.success(request, f"The grant of {grant.title} to {grant.user} was refused.")
    except services.AccountError as exc:
        messages.error(request, str(exc))
    return redirect("titles")


@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Your account: who you are in the portal and the time zone your pages use."""
    user = cast(User, request.user)  # LoginRequiredMiddleware guarantees a signed-in user
    form = TimeZoneForm(request.POST or None, initial={"time_zone": user.time_zone})
    if request.method == "POST" and form.is_valid():
        services.set_time_zone(user, form.cleaned_data["time_zone"], actor=user)
        messages.success(request, f"Times are now shown in {user.time_zone}.")
        return redirect("account")
    return render(request, "core/account.html", {"form": form})
