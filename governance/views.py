"""Pages of the verdict: decisions, the approval page, safeguards checklist, pause."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import VerificationRun
from evaluations.charts import gate_timeline
from evaluations.models import AIModel, EvidenceSummaryState
from governance import adapter, emails, notifications, reasons, safeguards, services
from governance.forms import (
    DecisionForm,
    GateAsOfForm,
    PauseForm,
    PrecautionForm,
    SafeguardBulkForm,
    SafeguardForm,
    SignForm,
    SubscriptionForm,
)
from governance.gate.codes import DECISION_OUTDATED, RANK, REASON, codes_of
from governance.models import (
    ApprovalVerdict,
    DecisionStatus,
    GateState,
    GateStatus,
    GateTransition,
    Notification,
    Precaution,
    ScalingDecision,
    Scope,
    Subscription,
)
from governance.transports import TRANSPORTS, transport_for
from rsp_portal.authz import can, require
from rsp_portal.errors import ServiceError

if TYPE_CHECKING:
    from evaluations.charts import Timeline
    from governance.models import GateTransition


def _form_errors(form: forms.BaseForm, exc: ServiceError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: every model's gate, decisions waiting for the user, recent changes."""

    states = {}
    if can(request.user, "gate.view"):
        # Results written since a row was computed (ADR 0052): the worker is recomputing it,
        # and the model's page recomputes it on the spot.
        owed = EvidenceSummaryState.objects.filter(model_id=OuterRef("model_id"))
        for state in (
            GateState.objects.filter(scope=Scope.SCALING)
            .select_related("model")
            .annotate(owed=Subquery(owed.values("evidence_seq")[:1]))
        ):
            state.behind = state.owed is not None and state.owed > state.evidence_seq  # type: ignore[attr-defined]
            states[state.model_id] = state
    models = sorted(states.values(), key=lambda s: (s.state != GateStatus.PAUSED, s.model.name))
    near: list[dict[str, object]] = []
    due: list[GateState] = []
    for state in models:
        state.reason_groups = reasons.group_reasons(  # type: ignore[attr-defined]
            state.reasons, state.model.slug, (state.verdict or {}).get("determinations")
        )
        for d in (state.verdict or {}).get("determinations", []):
            if d.get("status") in ("warning", "crossed"):
                near.append({"model": state.model, "threshold": d["threshold"], **d})
        if any(r["code"] in codes_of("due") for r in state.reasons):
            due.append(state)
    verification = None
    if can(request.user, "audit.view"):
        verification = VerificationRun.objects.order_by("-started_at").first()
    awaiting = []
    if can(request.user, "decision.sign"):  # skips the query for those who never sign
        awaiting = [
            decision
            for decision in ScalingDecision.objects.filter(status=DecisionStatus.PENDING)
            .select_related("model")
            .prefetch_related("approvals")
            if decision.can_be_signed_by(request.user, list(decision.approvals.all()))
        ]
    # Real changes only (the state moved), one row for both scopes moving together.
    transitions = (
        _changes(
            GateTransition.objects.exclude(from_state=F("to_state"))
            .select_related("model")
            .order_by("-created_at", "-id")[:40]
        )[:10]
        if can(request.user, "gate.view")
        else []
    )
    return render(
        request,
        "governance/dashboard.html",
        {
            "gates": models,
            "awaiting": awaiting,
            "transitions": transitions,
            "near": near,
            "due": due,
            "verification": verification,
        },
    )


def decision_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "governance.view")
    status = request.GET.get("status", "")
    decisions = (
        ScalingDecision.objects.visible_to(request.user)
        .select_related("model", "requested_by")
        .prefetch_related("approvals__approver")
    )
    if status in DecisionStatus.values:
        decisions = decisions.filter(status=status)
    return render(
        request,
        "governance/decision_list.html",
        {"decisions": decisions[:200], "statuses": DecisionStatus.choices, "status": status},
    )


@require_http_methods(["GET", "POST"])
def decision_request(request: HttpRequest, slug: str) -> HttpResponse:
    """Request a scaling decision; shows the dossier it would freeze before submitting."""
    require(request.user, "decision.request")
    model = get_object_or_404(AIModel, slug=slug)
    scope = request.POST.get("scope") or request.GET.get("scope") or Scope.SCALING
    precautions = adapter.precautions_in_force(
        model, scope if scope in Scope.values else Scope.SCALING
    )
    form = DecisionForm(
        request.POST or None,
        precautions=precautions,
        checkpoints=list(
            model.checkpoints.order_by("-effective_compute").values_list("name", flat=True)
        ),
        initial={"scope": request.GET.get("scope", Scope.SCALING)},
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "confirm" in request.POST:
            try:
                decision = services.request_decision(
                    model,
                    data["compute_limit"],
                    data["rationale"],
                    request.user,
                    scope=data["scope"],
                    lifts_precautions=data["lifts_precautions"],
                    checkpoints=list(data.get("checkpoints") or []) or None,
                )
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Decision #{decision.pk} requested.")
                return redirect("decision-detail", pk=decision.pk)
        else:
            from django.utils import timezone

            try:
                preview, _ = services.build_dossier(
                    model,
                    data["compute_limit"],
                    timezone.now(),
                    scope=data["scope"],
                    lifts_precautions=data["lifts_precautions"],
                    checkpoints=list(data.get("checkpoints") or []),
                )
            except ServiceError as exc:
                _form_errors(form, exc)
    return render(
        request,
        "governance/decision_request.html",
        {
            "model": model,
            "form": form,
            "preview": preview,
            **_dossier_context(preview),
        },
    )


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True) if value is not None else ""


def _dossier_context(dossier: dict[str, Any] | None) -> dict[str, object]:
    """What ``governance/_dossier.html`` needs beside the dossier: its JSON, what approval
    does, and its safeguards with each requirement's title (from the version it names)."""
    if dossier is None:
        return {"dossier_json": "", "effects": None, "safeguard_rows": []}
    version = (dossier.get("policy_version") or {}).get("id")
    titles = adapter.requirement_titles(version) if version is not None else {}
    rows = [
        {"code": code, "title": titles.get(code, ""), **record}
        for code, record in sorted((dossier.get("safeguards") or {}).items())
    ]
    return {
        "dossier_json": _pretty(dossier),
        "effects": reasons.approval_effects(dossier),
        "safeguard_rows": rows,
    }


@require_http_methods(["GET", "POST"])
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The approval page: the dossier and its hash, approve / reject with a comment."""
    require(request.user, "governance.view")
    decision = get_object_or_404(
        ScalingDecision.objects.visible_to(request.user).select_related(
            "model", "requested_by", "policy_version"
        ),
        pk=pk,
    )
    form = SignForm(request.POST or None, initial={"dossier_sha256": decision.dossier_sha256})
    if request.method == "POST":
        if not can(request.user, "decision.sign"):
            raise PermissionDenied("Only leadership signs decisions.")
        if form.is_valid():
            verdict = (
                ApprovalVerdict.REJECT if "reject" in request.POST else ApprovalVerdict.APPROVE
            )
            try:
                services.sign_decision(
                    decision.pk,
                    request.user,
                    verdict,
                    form.cleaned_data["dossier_sha256"],
                    form.cleaned_data["comment"],
                )
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"You {verdict}d decision #{decision.pk}.")
                return redirect("decision-detail", pk=decision.pk)
        decision.refresh_from_db()
    approvals = list(decision.approvals.select_related("approver"))
    signing_title = decision.can_be_signed_by(request.user, approvals)
    standing = None
    if decision.status == DecisionStatus.APPROVED:
        gate = services.gate_for(decision.model, decision.scope)
        outdated = [
            r
            for r in gate["reasons"]
            if r["code"] == DECISION_OUTDATED and r.get("decision") == decision.pk
        ]
        if outdated:
            standing = outdated[0]["message"]
        elif gate.get("approved_decision") != decision.pk:
            standing = "A later approved decision of this scope has replaced it."
    return render(
        request,
        "governance/decision_detail.html",
        {
            "decision": decision,
            "standing": standing,
            "approvals": approvals,
            "missing_titles": decision.open_titles(approvals),
            "form": form,
            "can_sign": signing_title is not None,
            "signing_title": signing_title,
            **_dossier_context(decision.dossier),
        },
    )


def decision_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The frozen dossier alone, laid out for printing."""
    require(request.user, "governance.view")
    decision = get_object_or_404(
        ScalingDecision.objects.visible_to(request.user).select_related("model", "requested_by"),
        pk=pk,
    )
    return render(
        request,
        "governance/decision_print.html",
        {
            "decision": decision,
            "approvals": list(decision.approvals.select_related("approver")),
            **_dossier_context(decision.dossier),
        },
    )


@require_http_methods(["GET", "POST"])
def safeguard_checklist(request: HttpRequest, slug: str) -> HttpResponse:
    require(request.user, "governance.view")
    model = get_object_or_404(AIModel, slug=slug)
    rows = safeguards.checklist(model)
    codes = [r["requirement_code"] for r in rows]
    bulk = SafeguardBulkForm(request.POST if "bulk" in request.POST else None, requirements=codes)
    form = SafeguardForm(
        request.POST if "bulk" not in request.POST and request.POST else None,
        requirements=codes,
        initial={"requirement_code": request.GET.get("requirement", "")},
    )
    if request.method == "POST" and "bulk" in request.POST:
        require(request.user, "safeguard.update")
        if bulk.is_valid():
            data = bulk.cleaned_data
            try:
                with transaction.atomic():  # all of them or none
                    for code in data["requirements"]:
                        services.record_safeguard(
                            model,
                            code,
                            data["status"],
                            request.user,
                            evidence_url=data["evidence_url"],
                            notes=data["notes"],
                        )
            except ServiceError as exc:
                _form_errors(bulk, exc)
            else:
                messages.success(
                    request,
                    f"Recorded {len(data['requirements'])} requirement(s) as {data['status']}.",
                )
                return redirect("safeguards", slug=model.slug)
    elif request.method == "POST":
        require(request.user, "safeguard.update")
        if form.is_valid():
            try:
                services.record_safeguard(
                    model,
                    form.cleaned_data["requirement_code"],
                    form.cleaned_data["status"],
                    request.user,
                    evidence_url=form.cleaned_data["evidence_url"],
                    notes=form.cleaned_data["notes"],
                )
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                data = form.cleaned_data
                messages.success(
                    request, f"Recorded {data['requirement_code']} as {data['status']}."
                )
                return redirect("safeguards", slug=model.slug)
    return render(
        request,
        "governance/safeguards.html",
        {"model": model, "rows": rows, "form": form, "bulk": bulk},
    )


@require_POST
def pause_model(request: HttpRequest, slug: str) -> HttpResponse:
    require(request.user, "model.pause")
    model = get_object_or_404(AIModel, slug=slug)
    form = PauseForm(request.POST)
    if form.is_valid():
        services.pause(model, form.cleaned_data["reason"], request.user)
        messages.success(
            request, f"{model.name} is paused. Resuming needs a new approved decision."
        )
    else:
        messages.error(request, "Give a reason for the pause.")
    return redirect("model-detail", slug=model.slug)


@require_http_methods(["GET", "POST"])
def precautions(request: HttpRequest, slug: str) -> HttpResponse:
    """Precautionary determinations of a model; leadership records one here."""
    require(request.user, "governance.view")
    model = get_object_or_404(AIModel, slug=slug)
    version = adapter.active_version()
    thresholds = (
        [(t.code, f"{t.code}: {t.name}") for t in version.thresholds.all()] if version else []
    )
    form = PrecautionForm(request.POST or None, thresholds=thresholds)
    if request.method == "POST":
        require(request.user, "precaution.record")
        if form.is_valid():
            try:
                record = services.record_precaution(
                    model, form.cleaned_data["threshold"], form.cleaned_data["reason"], request.user
                )
            except ServiceError as exc:
                _form_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"{record.threshold_code} is now treated as crossed for {model.name}; "
                    "lifting it needs an approved decision.",
                )
                return redirect("precautions", slug=model.slug)
    in_force = {p.pk for p in adapter.precautions_in_force(model)}
    rows = [
        (p, p.pk in in_force)
        for p in Precaution.objects.filter(model=model).select_related("created_by")
    ]
    return render(
        request,
        "governance/precautions.html",
        {"model": model, "rows": rows, "form": form},
    )


def gate_as_of_any(request: HttpRequest) -> HttpResponse:
    """Pick a model, then show its gate as of a moment (the auditors' entry point)."""
    require(request.user, "gate.view")
    slug = request.GET.get("model", "")
    if slug and AIModel.objects.filter(slug=slug).exists():
        query = request.GET.copy()
        query.pop("model")
        return redirect(f"{reverse('gate-as-of', args=[slug])}?{query.urlencode()}")
    return render(
        request,
        "governance/gate_as_of.html",
        {
            "model": None,
            "models": AIModel.objects.order_by("slug").values_list("slug", "name"),
            "form": GateAsOfForm(),
        },
    )


def gate_as_of(request: HttpRequest, slug: str) -> HttpResponse:
    """The gate as it stood at a past moment, from the stored transitions (auditors)."""
    require(request.user, "gate.view")
    model = get_object_or_404(AIModel, slug=slug)
    form = GateAsOfForm(request.GET or None)
    gate = None
    groups: list[reasons.ReasonGroup] = []
    transition = None
    if form.is_valid():
        as_of = form.cleaned_data["as_of"]
        scope = form.cleaned_data["scope"]
        gate = services.gate_as_of(model, scope, as_of)
        if gate is not None:
            groups = reasons.group_reasons(
                gate.get("reasons", []), model.slug, gate.get("determinations")
            )
            transition = (
                GateTransition.objects.filter(model=model, scope=scope, created_at__lte=as_of)
                .order_by("-created_at", "-pk")
                .first()
            )
    return render(
        request,
        "governance/gate_as_of.html",
        {
            "model": model,
            "form": form,
            "gate": gate,
            "groups": groups,
            "transition": transition,
            "asked": form.is_bound and form.is_valid(),
        },
    )


def gate_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The gate panel fragment (htmx refresh on the model page)."""
    require(request.user, "gate.view")
    model = get_object_or_404(AIModel, slug=slug)
    return render(request, "governance/_gate_panel.html", gate_context(request, model))


def gate_panel_context(asked: tuple[HttpRequest, AIModel]) -> dict[str, object]:
    """The answer to ``evaluations.views.GATE_PANEL``."""
    return gate_context(*asked)


def gate_context(request: HttpRequest, model: AIModel) -> dict[str, object]:
    """Context for ``governance/_gate_panel.html``, shared with the model page."""

    gate = services.gate_for(model)
    deployment = services.gate_for(model, Scope.DEPLOYMENT)
    warnings = [
        d
        for d in gate.get("determinations", [])
        if d.get("status") == "warning"
        or (d.get("tier") == "early_warning" and d.get("status") == "crossed")
    ]
    # Say "notified" only about notifications that were actually queued.
    notified = (
        Notification.objects.filter(event="warning.crossed", payload__model=model.slug)
        .order_by("-created_at", "-pk")
        .first()
        if warnings
        else None
    )
    return {
        "gate_model": model,
        "gate": gate,
        "deployment_gate": deployment,
        "reason_groups": reasons.group_reasons(
            gate.get("reasons", []), model.slug, gate.get("determinations")
        ),
        "crossings": reasons.crossings(gate),
        "deployment_groups": reasons.group_reasons(
            deployment.get("reasons", []), model.slug, deployment.get("determinations")
        ),
        "early_warnings": warnings,
        "warning_notification": notified,
        "next_steps": next_steps(gate),
        "timeline": _timeline(model),
        "pause_form": PauseForm(),
        "history": _changes(model.gate_transitions.order_by("-created_at", "-id")[:40])[:10],
    }


def _timeline(model: AIModel) -> Timeline:
    """The scaling gate's approved / paused spans (the last 200 state changes)."""
    from django.utils import timezone

    rows = list(
        model.gate_transitions.filter(scope=Scope.SCALING)
        .exclude(from_state=F("to_state"))
        .order_by("-created_at", "-id")
        .values_list("created_at", "to_state", "cause")[:200]
    )
    return gate_timeline(rows[::-1], timezone.now())


def _changes(transitions: Iterable[GateTransition]) -> list[GateTransition]:
    """One row per change, newest first, even when both scopes moved together (same model,
    cause, second and states): ``scopes`` lists them."""
    rows: list[GateTransition] = []
    # The ``scopes`` list of the row still open for a (model, cause, second, states) key.
    index: dict[tuple[object, ...], list[str]] = {}
    for t in transitions:
        key = (t.model_id, t.cause, t.created_at.replace(microsecond=0), t.from_state, t.to_state)
        if key in index and t.scope not in index[key]:
            index[key].append(t.scope)
            del index[key]  # a pair is complete: a later same-second change gets its own row
            continue
        scopes = [t.scope]
        t.scopes = scopes  # type: ignore[attr-defined]
        index[key] = scopes
        rows.append(t)
    return rows


def next_steps(gate: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    ranked = sorted(gate.get("reasons", []), key=lambda r: RANK.get(r["code"], len(RANK)))
    for reason in ranked:
        row = REASON.get(reason["code"])
        step = row.next_step if row is not None else None
        if step and step not in seen:
            seen.append(step)
    return seen


RECENT_NOTIFICATIONS = 50


def subscriptions(request: HttpRequest) -> HttpResponse:
    """Where notifications go besides the role e-mails, and what was sent lately."""
    require(request.user, "governance.view")
    rows = list(Subscription.objects.order_by("name"))
    recent = list(
        Notification.objects.select_related("subscription", "message").order_by("-created_at")[
            :RECENT_NOTIFICATIONS
        ]
    )
    return render(
        request,
        "governance/subscriptions.html",
        {
            "rows": [
                (s, notifications.shown_target(s), [emails.event_name(e) for e in s.events])
                for s in rows
            ],
            "recent": _deliveries(recent),
            "limit": RECENT_NOTIFICATIONS,
            "digest_seconds": settings.NOTIFY_DIGEST_SECONDS,
        },
    )


class Delivery(NamedTuple):
    """One send as "Sent lately" lists it: a notification, or the digest of a burst."""

    first: Notification
    what: str
    size: int
    models: list[str]
    channel: str


def _deliveries(recent: list[Notification]) -> list[Delivery]:
    """Notifications grouped by the message that carried them (a digest is one send), newest
    first, each in words with the models it concerns."""
    groups: dict[object, list[Notification]] = {}
    for n in recent:
        groups.setdefault(n.message_id or f"n{n.pk}", []).append(n)
    rows = []
    for carried in groups.values():
        carried.sort(key=lambda n: (n.created_at, n.pk))
        subjects = [emails.subject_of(n.event, n.payload) for n in carried]
        models = sorted({str(n.payload.get("model")) for n in carried if n.payload.get("model")})
        label = transport_for(carried[0].channel).label if carried[0].channel in TRANSPORTS else ""
        rows.append(
            Delivery(carried[-1], emails.digest_summary(subjects), len(carried), models, label)
        )
    return rows


@require_http_methods(["GET", "POST"])
def subscription_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add or change a subscription (administrators); the kind's transport checks the target."""
    require(request.user, "notifications.manage")
    instance = get_object_or_404(Subscription, pk=pk) if pk is not None else Subscription()
    form = SubscriptionForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = notifications.save_subscription(form.save(commit=False), actor=request.user)
        messages.success(request, f"Subscription “{saved.name}” saved.")
        return redirect("subscriptions")
    return render(
        request, "governance/subscription_form.html", {"form": form, "subscription": instance}
    )


@require_POST
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a subscription that never sent anything; one that did is switched off instead."""
    require(request.user, "notifications.manage")
    subscription = get_object_or_404(Subscription, pk=pk)
    if subscription.deliveries.exists():
        messages.error(
            request,
            f"“{subscription.name}” has sent notifications, which stay on record with it; "
            "untick “active” to stop it instead.",
        )
        return redirect("subscription-edit", pk=subscription.pk)
    notifications.delete_subscription(subscription, actor=request.user)
    messages.success(request, f"Subscription “{subscription.name}” removed.")
    return redirect("subscriptions")
