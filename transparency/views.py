"""Pages of transparency: the public view and its forms (no login), the recipients' pages for
noncompliance reports, incidents, and the publicity acts."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.forms import ChoiceField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from evaluations.models import AIModel
from rsp_portal.authz import can, require
from transparency import public, services
from transparency.forms import (
    CloseForm,
    IncidentForm,
    NoncomplianceForm,
    PublicityForm,
    ReceiptForm,
    StatusForm,
)
from transparency.limits import over_limit
from transparency.models import Incident, NoncomplianceReport


def _limited(request: HttpRequest) -> HttpResponse:
    return render(request, "transparency/limited.html", status=429)


def _add_errors(form: object, exc: ValidationError) -> None:
    fields = getattr(form, "fields", {})
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in fields else None, errors)  # type: ignore[attr-defined]


@login_not_required
def transparency(request: HttpRequest) -> HttpResponse:
    if over_limit(request, "transparency", settings.TRANSPARENCY_RATE):
        return _limited(request)
    return render(
        request,
        "transparency/public.html",
        {"view": public.view(), "can_manage": can(request.user, "publicity.manage")},
    )


@login_not_required
def how_to_check(request: HttpRequest) -> HttpResponse:
    return render(request, "transparency/verify.html", {"origin": settings.AUDIT_ORIGIN})


@login_not_required
@require_http_methods(["GET", "POST"])
def report_noncompliance(request: HttpRequest) -> HttpResponse:
    form = NoncomplianceForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "noncompliance", settings.NONCOMPLIANCE_RATE):
            return _limited(request)
        if form.is_valid():
            try:
                report, receipt = services.file_report(
                    form.cleaned_data["summary"], form.cleaned_data["details"], request.user
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                # The receipt is shown once; the text is never shown back on a public page.
                return render(
                    request,
                    "transparency/receipt.html",
                    {"receipt": receipt, "status": report.status},
                )
    return render(
        request,
        "transparency/report_form.html",
        {"form": form, "recipients": sorted(services.recipient_titles())},
    )


@login_not_required
def report_status(request: HttpRequest) -> HttpResponse:
    form = ReceiptForm(request.GET or None)
    found = None
    if request.GET:
        if over_limit(request, "noncompliance", settings.NONCOMPLIANCE_RATE):
            return _limited(request)
        if form.is_valid():
            found = services.status_of(form.cleaned_data["receipt"])
            if found is None:
                form.add_error("receipt", "No report has this receipt.")
    return render(request, "transparency/report_status.html", {"form": form, "report": found})


def noncompliance_list(request: HttpRequest) -> HttpResponse:
    services.require_recipient(request.user)
    rows = NoncomplianceReport.objects.select_related("reporter").order_by("-created_at")[:500]
    return render(request, "transparency/noncompliance_list.html", {"reports": rows})


@require_http_methods(["GET", "POST"])
def noncompliance_detail(request: HttpRequest, pk: int) -> HttpResponse:
    services.require_recipient(request.user)
    report = get_object_or_404(NoncomplianceReport.objects.select_related("reporter"), pk=pk)
    form = StatusForm(request.POST or None, initial={"status": report.status})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_status(
                report, form.cleaned_data["status"], form.cleaned_data["finding"], request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Report #{report.pk} is now {form.cleaned_data['status']}.")
            return redirect("noncompliance-detail", pk=report.pk)
    return render(
        request, "transparency/noncompliance_detail.html", {"report": report, "form": form}
    )


@require_http_methods(["GET", "POST"])
def incident_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "incident.view")
    form = IncidentForm(request.POST or None)
    cast(ChoiceField, form.fields["model"]).choices = [
        ("", "— no model —"),
        *[(m.slug, m.name) for m in AIModel.objects.order_by("name")],
    ]
    if request.method == "POST":
        require(request.user, "incident.record")
        if form.is_valid():
            model = AIModel.objects.filter(slug=form.cleaned_data["model"] or "").first()
            try:
                incident = services.open_incident(
                    model,
                    form.cleaned_data["title"],
                    form.cleaned_data["description"],
                    list(form.cleaned_data["measures"]),
                    request.user,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Incident #{incident.pk} recorded.")
                return redirect("incident-detail", pk=incident.pk)
    rows = Incident.objects.select_related("model", "opened_by").order_by("-opened_at")[:200]
    return render(
        request,
        "transparency/incident_list.html",
        {"incidents": rows, "form": form, "can_record": can(request.user, "incident.record")},
    )


@require_http_methods(["GET", "POST"])
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "incident.view")
    incident = get_object_or_404(Incident.objects.select_related("model", "opened_by"), pk=pk)
    form = CloseForm(request.POST if "close" in request.POST else None)
    if request.method == "POST":
        try:
            if "close" in request.POST and form.is_valid():
                services.close_incident(incident, form.cleaned_data["closure"], request.user)
                messages.success(request, f"Incident #{incident.pk} closed.")
                return redirect("incident-detail", pk=pk)
            if "publish" in request.POST or "unpublish" in request.POST:
                services.set_incident_public(incident, "publish" in request.POST, request.user)
                return redirect("incident-detail", pk=pk)
        except ValidationError as exc:
            _add_errors(form, exc)
    return render(
        request,
        "transparency/incident_detail.html",
        {
            "incident": incident,
            "form": form,
            "measures": [Incident.Measure(m).label for m in incident.measures],
            "can_record": can(request.user, "incident.record"),
            "can_publish": can(request.user, "publicity.manage"),
        },
    )


@require_http_methods(["GET", "POST"])
def publicity(request: HttpRequest) -> HttpResponse:
    """Leadership decides, as recorded acts, which models the public view shows."""
    require(request.user, "publicity.manage")
    acts = services.publicity()
    models = list(AIModel.objects.order_by("name"))
    form = PublicityForm(request.POST or None)
    if request.method == "POST":
        model = get_object_or_404(AIModel, slug=request.POST.get("model", ""))
        if form.is_valid():
            try:
                services.set_publicity(
                    model,
                    form.cleaned_data["public"],
                    form.cleaned_data["values_public"],
                    form.cleaned_data["reason"],
                    request.user,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Recorded: {model.name} publicity changed.")
                return redirect("transparency-publicity")
    rows = [(m, acts.get(m.pk)) for m in models]
    return render(request, "transparency/publicity.html", {"rows": rows, "form": form})
