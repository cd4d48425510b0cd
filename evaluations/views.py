"""Browser pages for the evidence: model list, model page, logging, importing, correcting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.events import Query, ask
from evaluations import charts, corrections, import_service, lineage, services, triggers
from evaluations.forms import (
    CheckpointForm,
    CorrectionForm,
    ImportUploadForm,
    ResultForm,
    add_service_errors,
)
from evaluations.importers import accepted_files
from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
    ImportRecord,
    MetricMapping,
    PendingCorrection,
)
from evaluations.policy import PolicyView, active_policy_view
from policies.models import PolicyVersion
from rsp_portal.authz import require
from rsp_portal.errors import ServiceError

#: The gate panel the model page includes (governance's template and context; ADR 0021), and
#: the gate's history, shown below the details.
GATE_PANEL_TEMPLATE = "governance/_gate_panel.html"
GATE_HISTORY_TEMPLATE = "governance/_gate_history.html"
GATE_PANEL: Query[tuple[HttpRequest, AIModel], dict[str, object]] = Query(
    "gate.panel", "the context of the gate panel on the model page"
)
#: Results shown on the model page (newest first); older ones are in the API.
HISTORY_LIMIT = 50


def _gate_panel(request: HttpRequest, model: AIModel) -> dict[str, Any]:
    """The gate panel's template and context (governance answers ``GATE_PANEL``)."""
    context: dict[str, object] = ask(GATE_PANEL, (request, model))
    return {
        **context,
        "gate_panel_template": GATE_PANEL_TEMPLATE,
        "gate_history_template": GATE_HISTORY_TEMPLATE,
    }


def model_list(request: HttpRequest) -> HttpResponse:
    """Every model with its latest checkpoint and whether an evaluation is due."""
    require(request.user, "evidence.view")
    policy = active_policy_view()
    models = list(AIModel.objects.select_related("parent").order_by("slug"))
    due = triggers.triggers_for_models(models, policy)
    rows = [(m, due[m.pk]) for m in models]
    return render(request, "evaluations/model_list.html", {"rows": rows, "policy": policy})


def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A model's checkpoints, indicator values against the policy's lines, history, triggers."""
    require(request.user, "evidence.view")
    model = get_object_or_404(
        AIModel.objects.select_related("parent", "created_by", "lineage_confirmed_by"), slug=slug
    )
    policy = active_policy_view()
    checkpoints = list(
        Checkpoint.objects.filter(model=model)
        .select_related("reported_by")
        .order_by("-reported_at", "-id")
    )
    results = list(
        EvalResult.objects.filter(model=model)
        .select_related("checkpoint", "submitted_by")
        .with_is_current()
        .order_by("-recorded_at", "-id")[:HISTORY_LIMIT]
    )
    imports = list(
        ImportRecord.objects.filter(model=model)
        .select_related("checkpoint", "imported_by")
        .order_by("-imported_at")[:20]
    )
    context: dict[str, Any] = {
        "model": model,
        "policy": policy,
        "checkpoints": checkpoints,
        "results": results,
        "history_limit": HISTORY_LIMIT,
        "imports": imports,
        "triggers": triggers.triggers_for(model, policy),
    }
    context.update(_gate_panel(request, model))
    # The standing against each line is the gate's own determination, never recomputed here.
    gate: dict[str, Any] = context.get("gate") or {}
    context["standing"] = [
        {**indicator, "threshold": d["threshold"], "name": d["name"], "tier": d.get("tier")}
        for d in gate.get("determinations", [])
        for indicator in d.get("indicators", [])
    ]
    context["threshold_cards"] = _threshold_cards(model, policy, gate)
    return render(request, "evaluations/model_detail.html", context)


def _threshold_cards(
    model: AIModel, policy: PolicyView | None, gate: dict[str, Any]
) -> list[dict[str, object]]:
    """One card per threshold: the gate's determination, its standards and a chart per
    indicator of every current result across checkpoints (two queries)."""
    determinations = gate.get("determinations", [])
    if not determinations or policy is None:
        return []

    version = PolicyVersion.objects.get(pk=policy.version_id)
    standards: dict[str, dict[str, Any]] = {
        row["code"]: dict(row)
        for row in version.thresholds.values("code", "requires_scaling", "requires_deployment")
    }
    metric_keys = {i["metric"] for d in determinations for i in d.get("indicators", [])}
    rows = (
        EvalResult.objects.filter(model_id__in=model.lineage_ids(), metric_key__in=metric_keys)
        .current()
        .values_list(
            "pk",
            "metric_key",
            "mitigation",
            "value",
            "stderr",
            "checkpoint__name",
            "checkpoint__effective_compute",
        )
    )
    # The most capable result per (metric, checkpoint, mitigation): one point each.
    best: dict[tuple[str, str, str], list[Any]] = {}
    for pk, metric, mitigation, value, stderr, checkpoint, compute in rows:
        info = policy.metrics.get(metric)
        higher = info.higher_is_more_capable if info else True
        key = (metric, checkpoint, mitigation)
        current = best.get(key)
        if current is None:
            best[key] = [pk, value, stderr, compute, 1]
            continue
        current[4] += 1
        if (value > current[1]) if higher else (value < current[1]):
            current[:4] = [pk, value, stderr, compute]
    points: dict[str, list[charts.Point]] = {}
    for (metric, checkpoint, mitigation), (pk, value, stderr, compute, n) in best.items():
        points.setdefault(metric, []).append(
            charts.Point(
                compute=float(compute or 0),
                value=float(value),
                checkpoint=checkpoint,
                mitigation=mitigation,
                result_id=pk,
                results=n,
                stderr=stderr,
            )
        )
    cards = []
    # What is at or past a line first: people look for it.
    for d in sorted(
        determinations, key=lambda d: (_CARD_ORDER.get(d["status"], 0), d["threshold"])
    ):
        row = standards.get(d["threshold"], {})
        indicators = []
        for indicator in d.get("indicators", []):
            info = policy.metrics.get(indicator["metric"])
            chart = charts.metric_chart(
                points.get(indicator["metric"], []),
                warning=indicator.get("warning"),
                critical=indicator["critical"],
                higher_is_more_capable=indicator.get("higher_is_more_capable", True),
                metric_min=info.min if info else None,
                metric_max=info.max if info else None,
            )
            indicators.append(
                {**indicator, "metric_name": info.name if info else "", "chart": chart}
            )
        cards.append(
            {
                **d,
                "indicators": indicators,
                "requires_scaling": row.get("requires_scaling") or [],
                "requires_deployment": row.get("requires_deployment") or [],
            }
        )
    return cards


#: The order of the threshold cards: crossings first, then warnings, then the rest.
_CARD_ORDER = {"crossed": 0, "presumed": 0, "warning": 1, "below": 2}


def checkpoint_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Register a checkpoint in the browser (safety team), through the API's evidence service."""
    require(request.user, "evidence.report")
    model = get_object_or_404(AIModel, slug=slug)
    form = CheckpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_checkpoint(
                model,
                name=form.cleaned_data["name"],
                effective_compute=form.cleaned_data["effective_compute"],
                step=form.cleaned_data["step"],
                stage=form.cleaned_data["stage"],
                actor=request.user,
                via="session",
            )
        except ServiceError as exc:
            add_service_errors(form, exc, {})
        else:
            messages.success(request, f"Checkpoint {form.cleaned_data['name']} registered.")
            return redirect("model-detail", slug=model.slug)
    return render(request, "evaluations/checkpoint_form.html", {"model": model, "form": form})


def result_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Log a result in the browser (safety team)."""
    require(request.user, "evidence.report")
    model = get_object_or_404(AIModel, slug=slug)
    policy = active_policy_view()
    form = ResultForm(request.POST or None, model=model, policy=policy)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_results(
                [form.item()], request.user, EvalResult.Source.BROWSER, via="session"
            )
        except ServiceError as exc:
            add_service_errors(form, exc, {})
        else:
            messages.success(request, "Result recorded.")
            return redirect("model-detail", slug=model.slug)
    return render(
        request,
        "evaluations/result_form.html",
        {"model": model, "form": form, "policy": policy, "lines": _metric_lines(model, policy)},
    )


def _metric_lines(model: AIModel, policy: PolicyView | None) -> list[dict[str, object]]:
    """Per policy metric: its range, direction, the lines it is held to and where the gate
    stands on it now (the gate's own determination, from governance when installed)."""
    if policy is None:
        return []
    standing: dict[tuple[str, str], dict[str, Any]] = {}
    gate = ask(services.GATE_OF, model)
    for d in gate.get("determinations", []):
        for indicator in d.get("indicators", []):
            standing[(d["threshold"], indicator["metric"])] = indicator
    rows = []
    for key, info in sorted(policy.metrics.items()):
        indicators = [
            {
                "threshold": i.threshold_code,
                "warning": i.warning,
                "critical": i.critical,
                "higher_is_more_capable": info.higher_is_more_capable,
                "now": standing.get((i.threshold_code, key), {}),
            }
            for i in policy.indicators
            if i.metric_key == key
        ]
        rows.append({"info": info, "indicators": indicators})
    return rows


def result_correct(request: HttpRequest, pk: int) -> HttpResponse:
    """Supersede a result with a corrected one, saying why."""
    require(request.user, "evidence.correct")
    old = get_object_or_404(EvalResult.objects.select_related("model", "checkpoint"), pk=pk)
    initial = {"value": old.value, "stderr": old.stderr, "n_samples": old.n_samples}
    form = CorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = corrections.propose(
                old,
                form.values(),
                form.cleaned_data["correction_reason"],
                request.user,
                via="session",
            )
        except ServiceError as exc:
            add_service_errors(form, exc, {})
        else:
            if isinstance(outcome, PendingCorrection):
                messages.warning(
                    request,
                    f"The correction of result #{old.pk} would lower a determination "
                    f"({'; '.join(outcome.changes)}): it takes effect once a second person "
                    "(safety or leadership) confirms it on the Corrections page. Until then "
                    "the result stands.",
                )
            else:
                messages.success(request, f"Result #{old.pk} corrected.")
            return redirect("model-detail", slug=old.model.slug)
    pending = old.pending_corrections.filter(status=PendingCorrection.Status.PENDING).first()
    return render(
        request,
        "evaluations/result_correct.html",
        {"old": old, "form": form, "pending": pending},
    )


def correction_list(request: HttpRequest) -> HttpResponse:
    """Corrections that lower a determination: open ones to confirm or reject, then the rest."""
    require(request.user, "governance.view")
    rows = PendingCorrection.objects.select_related(
        "result__model", "result__checkpoint", "requested_by", "decided_by"
    ).order_by("status", "-requested_at", "-id")[:200]
    return render(request, "evaluations/corrections.html", {"rows": rows})


@require_POST
def correction_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm (a second person) or reject a pending correction."""
    require(request.user, "evidence.confirm_correction")
    verdict = request.POST.get("verdict")
    try:
        if verdict == "confirm":
            new = corrections.confirm(pk, request.user, via="session")
            messages.success(request, f"Correction confirmed: result #{new.pk} now stands.")
        elif verdict == "reject":
            corrections.reject(pk, request.user, request.POST.get("note", ""), via="session")
            messages.success(request, "Correction rejected; the result stands.")
        else:
            messages.error(request, "Choose confirm or reject.")
    except ServiceError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    return redirect("correction-list")


@require_POST
def lineage_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    """A second person confirms the parent claimed at the model's registration."""
    require(request.user, "lineage.confirm")
    model = get_object_or_404(AIModel, slug=slug)
    try:
        lineage.confirm(model, request.POST.get("reason", ""), request.user, via="session")
        messages.success(
            request, f"Lineage confirmed: {model.slug} now counts its parent's evidence."
        )
    except ServiceError as exc:
        messages.error(request, exc.text)
    return redirect("model-detail", slug=model.slug)


def result_import(request: HttpRequest, slug: str) -> HttpResponse:
    """Import a log in two steps: upload and preview, then confirm the mapping."""
    require(request.user, "evidence.report")
    model = get_object_or_404(AIModel, slug=slug)
    policy = active_policy_view()
    if request.method == "POST" and request.POST.get("step") == "confirm":
        return _import_confirm(request, model, policy)
    form = ImportUploadForm(request.POST or None, request.FILES or None, model=model)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = import_service.import_log(
                form.cleaned_data["file"],
                model=model,
                checkpoint=form.cleaned_data["checkpoint"],
                mapping=form.cleaned_data["mapping"] or None,
                actor=request.user,
                preview=True,
                via="session",
            )
        except ServiceError as exc:
            add_service_errors(form, exc, {})
        else:
            if outcome.already_imported:
                messages.info(request, outcome.message)
                return redirect("model-detail", slug=model.slug)
            return _preview(request, model, policy, outcome, form.cleaned_data["checkpoint"])
    return render(
        request,
        "evaluations/import_form.html",
        {"model": model, "form": form, "accepted_files": accepted_files()},
    )


def _preview(
    request: HttpRequest,
    model: AIModel,
    policy: PolicyView | None,
    outcome: import_service.ImportOutcome,
    checkpoint: str,
    errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    rows = [(i, row) for i, row in enumerate(outcome.rows)]
    context: dict[str, object] = {
        "model": model,
        "policy": policy,
        "outcome": outcome,
        "parsed": outcome.parsed,
        "rows": rows,
        "checkpoint": checkpoint,
        "metric_keys": sorted(policy.metrics) if policy else [],
        # The tool states a direction for some metric, so a mapping may contradict it.
        "shows_direction": any(row.higher_is_better is not None for row in outcome.rows),
        # On first open, "nothing mapped yet" is the next step, not an error: say it as a hint.
        "errors": errors
        if errors is not None
        else {k: v for k, v in outcome.errors.items() if k != "mapping"},
        "needs_mapping": errors is None and "mapping" in outcome.errors,
    }
    return render(request, "evaluations/import_preview.html", context)


def _import_confirm(
    request: HttpRequest, model: AIModel, policy: PolicyView | None
) -> HttpResponse:
    post = request.POST
    mapping: dict[str, str] = {}
    for key, value in post.items():
        if key.startswith("map-name-"):
            index = key.removeprefix("map-name-")
            mapping[str(value)] = str(post.get(f"map-key-{index}", ""))
    checkpoint = post.get("checkpoint", "")
    confirm_direction = post.get("confirm_direction") == "on"
    try:
        upload = import_service.stored_upload(post.get("sha256"), post.get("original_name"))
        outcome = import_service.import_log(
            upload,
            model=model,
            checkpoint=checkpoint,
            mapping=mapping,  # every row was shown: "not imported" opts it out
            actor=request.user,
            via="session",
            confirm_direction=confirm_direction,
        )
    except ServiceError as exc:
        try:
            upload = import_service.stored_upload(post.get("sha256"), post.get("original_name"))
            preview = import_service.import_log(
                upload,
                model=model,
                checkpoint=checkpoint,
                mapping=mapping,
                actor=request.user,
                preview=True,
                confirm_direction=confirm_direction,
            )
        except ServiceError:
            messages.error(request, "; ".join(m for ms in exc.message_dict.values() for m in ms))
            return redirect("result-import", slug=model.slug)
        return _preview(request, model, policy, preview, checkpoint, exc.message_dict)
    if outcome.failed:
        messages.warning(request, outcome.message)
    elif outcome.already_imported:
        messages.info(request, outcome.message)
    else:
        messages.success(request, outcome.message)
    return redirect("model-detail", slug=model.slug)


def metric_mappings(request: HttpRequest, key: str) -> HttpResponse:
    """The remembered mappings onto one metric: which task's source feeds it, set by whom."""
    require(request.user, "evidence.view")
    policy = active_policy_view()
    mappings = list(
        MetricMapping.objects.filter(metric_key=key)
        .select_related("updated_by")
        .order_by("format", "task", "source_name")
    )
    metric = policy.metrics.get(key) if policy is not None else None
    if metric is None and not mappings:
        raise Http404("No such metric.")
    context = {"key": key, "metric": metric, "mappings": mappings}
    return render(request, "evaluations/metric_mappings.html", context)
