"""Pages of evaluation suites: the list, a suite with its run history, a run with live progress.

Views parse, call one service and render; the services in :mod:`suites.services` write.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from evaluations.models import AIModel
from rsp_portal.authz import can, require
from rsp_portal.errors import ServiceError
from suites import services
from suites.api.views import suite_list_queryset
from suites.models import EvalSuite, SuiteRun, SuiteRunResult

RUN_HISTORY = 50


def _messages(exc: ServiceError) -> str:
    return " ".join(m for msgs in exc.message_dict.values() for m in msgs)


def suite_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "evidence.view")
    return render(request, "suites/suite_list.html", {"suites": suite_list_queryset()})


def suite_detail(request: HttpRequest, slug: str) -> HttpResponse:
    require(request.user, "evidence.view")
    suite = get_object_or_404(
        EvalSuite.objects.prefetch_related(
            Prefetch("targets", queryset=AIModel.objects.order_by("slug"))
        ),
        slug=slug,
    )
    runs = SuiteRun.objects.for_display().filter(suite=suite)[:RUN_HISTORY]
    return render(
        request,
        "suites/suite_detail.html",
        {
            "suite": suite,
            "runs": runs,
            "metrics": sorted(suite.metrics.items()),
            "show_config": can(request.user, "suite.manage"),
        },
    )


@require_POST
def suite_run_now(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue a run of the suite on one target model (``model`` in the form)."""
    require(request.user, "suite.run")
    suite = get_object_or_404(EvalSuite, slug=slug)
    model = get_object_or_404(AIModel, slug=request.POST.get("model", ""))
    try:
        run = services.request_run(suite, model, actor=request.user, via="session")
    except ServiceError as exc:
        messages.error(request, _messages(exc))
        return redirect("suite-detail", slug=suite.slug)
    messages.success(request, f"Run #{run.pk} of {suite.name} on {model.slug} is queued.")
    return redirect("suite-run-detail", pk=run.pk)


def _run(pk: int) -> SuiteRun:
    return get_object_or_404(
        SuiteRun.objects.for_display().prefetch_related(
            Prefetch("run_results", queryset=SuiteRunResult.objects.select_related("result"))
        ),
        pk=pk,
    )


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "evidence.view")
    return render(request, "suites/suite_run.html", {"run": _run(pk)})


def run_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live fragment of the run page (polled every 2 s while the run is active)."""
    require(request.user, "evidence.view")
    return render(request, "suites/_suite_run_status.html", {"run": _run(pk)})


@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "suite.run")
    run = get_object_or_404(SuiteRun, pk=pk)
    try:
        services.cancel_run(run, request.user, via="session")
    except ServiceError as exc:
        messages.error(request, _messages(exc))
    else:
        messages.success(request, f"Run #{run.pk} was cancelled.")
    return redirect("suite-run-detail", pk=run.pk)
