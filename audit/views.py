"""Auditors' pages: the timeline, one entry, and the verification status."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.api.views import VerifyThrottle
from audit.checkpoints import key_description
from audit.filters import AuditEntryFilter
from audit.models import AuditCheckpoint, AuditEntry, LogHead
from audit.verification import latest_run, run_verification
from audit.verify_bundle import leaf_hash
from core import words
from rsp_portal.authz import require

PAGE_SIZE = 50

#: How the timeline names an object: (label, URL name, argument) per object type.
OBJECT_LABELS: dict[str, tuple[str, str | None, str]] = {
    "evaluations.evalresult": ("result #{id}", None, ""),
    "evaluations.aimodel": ("model {model}", "model-detail", "model"),
    "evaluations.checkpoint": ("checkpoint #{id}", None, ""),
    "evaluations.evalsuite": ("suite #{id}", None, ""),
    "evaluations.importrecord": ("import #{id}", None, ""),
    "governance.scalingdecision": ("decision #{id}", "decision-detail", "id"),
    "governance.safeguardrecord": ("safeguard record #{id}", "safeguards", "model"),
    "governance.pause": ("pause #{id}", None, ""),
    "governance.precaution": ("precaution #{id}", "precautions", "model"),
    "policies.policyversion": ("policy version #{id}", "policy-version", "id"),
    "core.user": ("user #{id}", None, ""),
    "core.apitoken": ("API token #{id}", None, ""),
}


def describe_object(entry: AuditEntry) -> tuple[str, str]:
    """``("result #18 on atlas", link)`` for a timeline row; the link may be empty."""
    label, url_name, arg = OBJECT_LABELS.get(
        entry.object_type, (words.object_words(entry.object_type) + " #{id}", None, "")
    )
    text = label.format(id=entry.object_id, model=entry.model_slug or "?")
    if entry.model_slug and "{model}" not in label:
        text += f" on {entry.model_slug}"
    link = ""
    if url_name:
        value = entry.model_slug if arg == "model" else entry.object_id
        if value:
            try:
                link = reverse(url_name, args=[value])
            except NoReverseMatch:
                link = ""
        if url_name == "model-detail" and link and entry.action == "gate.transition":
            link += "#gate-panel"
    return text, link


def _pickers(filters: AuditEntryFilter) -> None:
    """Selects of the values the log holds (one DISTINCT query each, on indexed columns) and
    date-time pickers, instead of free text. The filter's semantics stay exact matches."""
    form = filters.form
    for name, column in (("actor", "actor"), ("action", "action"), ("model", "model_slug")):
        values = (
            AuditEntry.objects.exclude(**{column: ""})
            .order_by(column)
            .values_list(column, flat=True)
            .distinct()
        )
        shown = words.action_words if name == "action" else str
        form.fields[name].widget = forms.Select(
            choices=[("", "any")] + [(v, shown(v)) for v in values]
        )
    types = AuditEntry.objects.order_by("object_type").values_list("object_type", flat=True)
    form.fields["object_type"].widget = forms.Select(
        choices=[("", "any")] + [(t, words.object_words(t)) for t in types.distinct()]
    )
    zone = timezone.get_current_timezone_name()
    for name in ("since", "until"):
        form.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local"})
        # The pickers read the person's zone (activated per request) and say so; the bound
        # field keeps its own copy of the label once the filters validated.
        form.fields[name].label = f"{form.fields[name].label} ({zone})"
        form[name].label = form.fields[name].label


def _int_param(request: HttpRequest, name: str) -> int | None:
    try:
        value = int(request.GET.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


@require_GET
def timeline(request: HttpRequest) -> HttpResponse:
    """Newest first, filtered, paged by seq (``before``/``after``) so pages never drift."""
    require(request.user, "audit.view")
    params = request.GET.copy()
    for key in ("before", "after"):
        params.pop(key, None)
    filters = AuditEntryFilter(params, queryset=AuditEntry.objects.defer("body"))
    entries: list[AuditEntry] = []
    has_older = has_newer = False
    if filters.is_valid():
        qs = filters.qs
        before, after = _int_param(request, "before"), _int_param(request, "after")
        if after is not None:
            # Query 1: the page just newer than `after`, read upwards, then shown newest first.
            rows = list(qs.filter(seq__gt=after).order_by("seq")[: PAGE_SIZE + 1])
            has_newer = len(rows) > PAGE_SIZE
            entries = rows[:PAGE_SIZE][::-1]
            has_older = True
        else:
            if before is not None:
                qs = qs.filter(seq__lt=before)
            # Query 1: one page (plus one row to know whether an older page exists).
            rows = list(qs.order_by("-seq")[: PAGE_SIZE + 1])
            has_older = len(rows) > PAGE_SIZE
            entries = rows[:PAGE_SIZE]
            has_newer = before is not None
    query = params.urlencode()
    _pickers(filters)
    for entry in entries:
        entry.label, entry.link = describe_object(entry)  # type: ignore[attr-defined]
    return render(
        request,
        "audit/timeline.html",
        {
            "filters": filters,
            "entries": entries,
            "query": query,
            "older": entries[-1].seq if entries and has_older else None,
            "newer": entries[0].seq if entries and has_newer else None,
        },
    )


@require_GET
def entry_detail(request: HttpRequest, seq: int) -> HttpResponse:
    require(request.user, "audit.view")
    entry = AuditEntry.objects.filter(seq=seq).first()
    if entry is None:
        raise Http404("No audit entry with that sequence number.")
    body = entry.body_bytes
    try:
        pretty = json.dumps(json.loads(body), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        pretty = body.decode("utf-8", errors="replace")
    has_next = AuditEntry.objects.filter(seq=seq + 1).exists()
    return render(
        request,
        "audit/entry.html",
        {
            "entry": entry,
            "pretty": pretty,
            "recomputes": leaf_hash(body).hex() == entry.leaf_hash,
            "previous_seq": seq - 1 if seq > 0 else None,
            "next_seq": seq + 1 if has_next else None,
        },
    )


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    require(request.user, "audit.view")
    return render(
        request,
        "audit/status.html",
        {
            "last_run": latest_run(),
            "checkpoint": AuditCheckpoint.objects.order_by("-size").first(),
            "head": LogHead.objects.filter(pk=1).first(),
            "key": key_description(),
        },
    )


@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    require(request.user, "audit.view")

    if not VerifyThrottle().allow_request(request, None):  # type: ignore[arg-type]
        messages.error(request, "Too many full verifications; the status below is current.")
        return redirect("audit-status")
    outcome, _ = run_verification(request.user.get_username())
    if outcome.ok:
        messages.success(request, f"Verified. {outcome.message}")
    else:
        messages.error(request, f"Verification FAILED: {outcome.message}")
    return redirect("audit-status")


@require_GET
def public_key(request: HttpRequest) -> HttpResponse:
    """The checkpoint-signing public key as a PEM file, to pin beside the export."""
    require(request.user, "audit.view")
    key = key_description()
    if key is None:
        raise Http404("No public key is configured.")
    response = HttpResponse(key["public_key_pem"], content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="rsp-audit-public-key.pem"'
    return response
