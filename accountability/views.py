"""Pages of accountability: reports (write, review, sign, publish, print), commitments, the
late-evaluation register."""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accountability import commitments, late, reports, reviews
from accountability.forms import (
    FulfilForm,
    GrantForm,
    PublishForm,
    ReportForm,
    ReportSignForm,
    ReviewForm,
    ReviseForm,
    join_sections,
    split_sections,
)
from accountability.markdown import render as render_markdown
from accountability.models import Report, ReportSignature, ReportStatus, ReviewerGrant
from core.models import Role, User
from evaluations.models import AIModel
from rsp_portal.authz import can, require


def _add_errors(form: object, exc: ValidationError) -> None:
    fields = getattr(form, "fields", {})
    for field, errors in exc.message_dict.items():
        name = field if field in fields else None
        if field.startswith("sections"):
            name = "sections" if "sections" in fields else None
        form.add_error(name, errors)  # type: ignore[attr-defined]


def report_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "report.view")
    rows = list(
        Report.objects.exclude(status=ReportStatus.SUPERSEDED)
        .select_related("model", "created_by")
        .order_by("-created_at", "-pk")[:200]
    )
    version = reports.active_version()
    return render(
        request,
        "accountability/report_list.html",
        {
            "reports": rows,
            "kinds": reports.report_kinds(version).values(),
            "can_write": can(request.user, "report.write"),
        },
    )


@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest) -> HttpResponse:
    require(request.user, "report.write")
    version = reports.active_version()
    kinds = [
        (code, str(k.get("name") or code)) for code, k in reports.report_kinds(version).items()
    ]
    models = [(m.slug, m.name) for m in AIModel.objects.order_by("name")]
    form = ReportForm(
        request.POST or None,
        kinds=kinds,
        models=models,
        initial={"kind": request.GET.get("kind"), "model": request.GET.get("model")},
    )
    if request.method == "POST" and form.is_valid():
        model = AIModel.objects.filter(slug=form.cleaned_data["model"]).first()
        try:
            report = reports.create_report(
                form.cleaned_data["kind"],
                model,
                form.cleaned_data["title"],
                split_sections(form.cleaned_data["sections"]),
                request.user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Draft #{report.pk} written; the record is frozen in it.")
            return redirect("report-detail", pk=report.pk)
    return render(
        request, "accountability/report_form.html", {"form": form, "kinds": kinds, "report": None}
    )


def _report(request: HttpRequest, pk: int) -> Report:
    """The report, if the user may read it (a reviewer: a grant in force names it), else 404."""
    require(request.user, "report.read")
    return get_object_or_404(
        reviews.visible_reports(request.user).select_related(
            "model", "created_by", "policy_version", "supersedes"
        ),
        pk=pk,
    )


def _grant_form(
    data: Mapping[str, object] | None = None, initial: dict[str, object] | None = None
) -> GrantForm:
    return GrantForm(
        data,
        reviewers=[
            (u.username, u.get_full_name() or u.username)
            for u in User.objects.filter(role=Role.REVIEWER, is_active=True).order_by("username")
        ],
        models=[(m.slug, m.name) for m in AIModel.objects.order_by("name")],
        initial=initial,
    )


@require_http_methods(["GET", "POST"])
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    signatures = list(report.signatures.select_related("signer"))
    title = reports.signing_title(report, request.user, signatures)
    sign_form = ReportSignForm(
        request.POST if "sign" in request.POST or "reject" in request.POST else None,
        initial={"snapshot_sha256": report.snapshot_sha256},
    )
    publish_form = PublishForm(
        request.POST if "publish" in request.POST else None, sections=report.sections
    )
    if request.method == "POST":
        try:
            if ("sign" in request.POST or "reject" in request.POST) and sign_form.is_valid():
                verdict = (
                    ReportSignature.Verdict.REJECT
                    if "reject" in request.POST
                    else ReportSignature.Verdict.APPROVE
                )
                reports.sign_report(
                    report,
                    verdict,
                    sign_form.cleaned_data["snapshot_sha256"],
                    sign_form.cleaned_data["comment"],
                    request.user,
                )
                messages.success(request, f"You {verdict}d report #{report.pk}.")
                return redirect("report-detail", pk=report.pk)
            if "publish" in request.POST and publish_form.is_valid():
                reports.publish_report(report, publish_form.redactions(), request.user)
                messages.success(request, f"Report #{report.pk} is published.")
                return redirect("report-detail", pk=report.pk)
        except ValidationError as exc:
            _add_errors(publish_form if "publish" in request.POST else sign_form, exc)
    return render(
        request,
        "accountability/report_detail.html",
        {
            "report": report,
            "sections": [{**s, "html": render_markdown(s["body"])} for s in report.sections],
            "public_sections": [
                {**s, "html": render_markdown(s.get("body", ""))} for s in report.public_sections
            ],
            "signatures": signatures,
            "redactions": list(report.redactions.select_related("redacted_by")),
            "signing_title": title,
            "sign_form": sign_form,
            "publish_form": publish_form,
            "can_publish": report.status == ReportStatus.SIGNED
            and can(request.user, "report.publish"),
            "can_revise": report.status == ReportStatus.DRAFT and can(request.user, "report.write"),
            "open_titles": [
                t for t in report.required_titles if t not in {s.title for s in signatures}
            ],
            "versions": _versions(report) if can(request.user, "report.view") else [],
            "reviews": _reviews(report),
            "review_form": ReviewForm(initial={"snapshot_sha256": report.snapshot_sha256})
            if reviews.grant_for(request.user, report)
            else None,
            "grant_form": _grant_form(initial={"report": report.pk})
            if can(request.user, "review.grant")
            else None,
            "grants": list(report.grants.select_related("reviewer"))
            if can(request.user, "report.view")
            else [],
            "now": timezone.now(),
        },
    )


def _reviews(report: Report) -> list[dict[str, object]]:
    """The report's external reviews, oldest first, with their sanitised HTML (advisory)."""
    return [
        {"review": r, "html": render_markdown(r.body)}
        for r in report.reviews.select_related("reviewer")
    ]


def _versions(report: Report) -> list[Report]:
    chain: list[Report] = []
    current = report.supersedes
    while current is not None and len(chain) < 100:
        chain.append(current)
        current = current.supersedes
    newer = getattr(report, "superseded_by", None)
    return ([newer] if newer else []) + chain


@require_http_methods(["GET", "POST"])
def report_revise(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "report.write")
    report = _report(request, pk)
    form = ReviseForm(
        request.POST or None,
        initial={"title": report.title, "sections": join_sections(report.sections)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            new = reports.revise_report(
                report,
                form.cleaned_data["title"],
                split_sections(form.cleaned_data["sections"]),
                request.user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Version {new.version} written; the record is frozen again.")
            return redirect("report-detail", pk=new.pk)
    return render(request, "accountability/report_form.html", {"form": form, "report": report})


def report_print(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    return render(
        request,
        "accountability/report_print.html",
        {
            "report": report,
            "sections": [{**s, "html": render_markdown(s["body"])} for s in report.sections],
            "signatures": list(report.signatures.select_related("signer")),
            "redactions": list(report.redactions.all()),
            "reviews": _reviews(report),
        },
    )


def commitment_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "commitment.view")
    version = reports.active_version()
    now = timezone.now()
    model = AIModel.objects.filter(slug=request.GET.get("model") or "").first()
    items = commitments.due_items(version, model=model, now=now) if version else []
    items = commitments.late_first(items, now)
    return render(
        request,
        "accountability/commitment_list.html",
        {
            "version": version,
            "declared": (version.commitments if version else []) or [],
            "items": [(i, i.status(now), round(i.days_late(now), 1)) for i in items],
            "model": model,
            "models": AIModel.objects.order_by("name"),
            "can_fulfil": can(request.user, "commitment.fulfil"),
        },
    )


@require_http_methods(["GET", "POST"])
def commitment_fulfil(request: HttpRequest, key: str) -> HttpResponse:
    require(request.user, "commitment.fulfil")
    try:
        item = commitments.find_item(key)
    except ValidationError:
        return render(request, "404.html", status=404)
    form = FulfilForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            commitments.fulfil(
                key, form.cleaned_data["evidence_url"], form.cleaned_data["notes"], request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Recorded: “{item.text}” kept.")
            return redirect("commitment-list")
    return render(
        request,
        "accountability/commitment_fulfil.html",
        {"item": item, "form": form, "status": item.status(timezone.now())},
    )


def late_evaluations(request: HttpRequest, slug: str) -> HttpResponse:
    require(request.user, "evidence.view")
    model = get_object_or_404(AIModel, slug=slug)
    now = timezone.now()
    rows = [(e, e.days_late(now)) for e in late.register([model])]
    return render(request, "accountability/late_evaluations.html", {"model": model, "rows": rows})


@require_http_methods(["POST"])
def report_review(request: HttpRequest, pk: int) -> HttpResponse:
    """An external reviewer records a review of a report a grant in force names."""
    require(request.user, "review.write")
    report = _report(request, pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            reviews.record_review(
                report,
                form.cleaned_data["body"],
                form.cleaned_data["snapshot_sha256"],
                request.user,
            )
        except ValidationError as exc:
            for errors in exc.message_dict.values():
                messages.error(request, " ".join(errors))
        else:
            messages.success(request, "Your review is recorded; it is shown as advisory.")
    else:
        messages.error(request, "Write your review before sending it.")
    return redirect("report-detail", pk=report.pk)


@require_http_methods(["GET", "POST"])
def reviewer_home(request: HttpRequest) -> HttpResponse:
    """Reviewers: the grants in force and what they cover. Leadership and the lab's readers:
    every grant, pending approvals, and the form to grant access."""
    require(request.user, "review.view")
    now = timezone.now()
    form = _grant_form(request.POST or None) if can(request.user, "review.grant") else None
    if request.method == "POST":
        require(request.user, "review.grant")
        assert form is not None
        if form.is_valid():
            data = form.cleaned_data
            report = Report.objects.filter(pk=data["report"]).first() if data["report"] else None
            try:
                grant = reviews.grant_access(
                    User.objects.filter(username=data["reviewer"], role=Role.REVIEWER).first(),
                    report=report,
                    model=AIModel.objects.filter(slug=data["model"]).first()
                    if data["model"]
                    else None,
                    organisation=data["organisation"],
                    days=data["days"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                if grant.status == "pending":
                    messages.success(
                        request,
                        f"Grant #{grant.pk} waits for a holder of the {grant.approval_title} "
                        "title to approve the reviewer.",
                    )
                else:
                    messages.success(
                        request, f"Access granted until {grant.ends_at:%Y-%m-%d %H:%M} UTC."
                    )
                return redirect("reviewer-home")
    if can(request.user, "report.view"):
        grants = list(
            ReviewerGrant.objects.select_related(
                "reviewer", "report", "model", "granted_by", "approved_by"
            )[:200]
        )
        readable: list[Report] = []
    else:
        grants = reviews.grants_in_force(request.user, now)
        readable = list(
            reviews.visible_reports(request.user).select_related("model").order_by("-pk")[:200]
        )
    return render(
        request,
        "accountability/reviews.html",
        {
            "grants": [(g, g.in_force_at(now)) for g in grants],
            "readable": readable,
            "form": form,
            "is_reviewer": can(request.user, "review.read"),
        },
    )


@require_http_methods(["POST"])
def grant_decide(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Approve or refuse a pending grant, or end one early."""
    require(request.user, "review.grant")
    act = {
        "approve": reviews.approve_grant,
        "refuse": reviews.refuse_grant,
        "end": reviews.end_grant,
    }.get(verb)
    if act is None:
        return render(request, "404.html", status=404)
    grant = get_object_or_404(ReviewerGrant, pk=pk)
    try:
        act(grant, request.user)
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            messages.error(request, " ".join(errors))
    else:
        messages.success(request, f"Grant #{grant.pk}: {verb} recorded.")
    return redirect("reviewer-home")
