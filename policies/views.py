"""Policy pages: the active policy, any version, the version history, diffs and activation."""

from __future__ import annotations

import csv
import json
from itertools import pairwise

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from policies import activation as signoff
from policies import services
from policies.diff import Change, PolicyDiff, diff_policies
from policies.framework_diff import all_loosenings, diff_frameworks, is_cross_framework
from policies.models import PolicyActivation, PolicyVersion
from policies.pack_format import PACK_CHOICE
from policies.packs import SHIPPED_PACKS, Pack, PackError, PackStandard, load_pack_file
from rsp_portal.authz import can, require


def _num(value: float | None) -> str:
    """A number as written in a pack: 0.5, 1000, 2.5e+25 (no padding zeros)."""
    return "" if value is None else f"{value:g}"


def _changes(result: PolicyDiff) -> list[dict[str, object]]:
    """Diff changes with their values as JSON text for display."""
    return _as_rows(result.changes)


def _as_rows(changes: list[Change]) -> list[dict[str, object]]:
    return [
        {
            **change.to_dict(),
            "old_text": json.dumps(change.old, ensure_ascii=False),
            "new_text": json.dumps(change.new, ensure_ascii=False),
        }
        for change in changes
    ]


def _framework_context(old: Pack, new: Pack) -> dict[str, object] | None:
    """The by-risk-domain comparison when two packs model different frameworks, else None.

    Codes do not match across frameworks, so the item-by-item diff would show everything as
    removed and added; this is the comparison (and the loosenings) that means something.
    """
    if not is_cross_framework(old, new):
        return None
    result = diff_frameworks(old, new)
    return {
        "old_framework": result.old_framework,
        "new_framework": result.new_framework,
        "domains": result.domains,
        "changes": _as_rows(result.changes),
        "loosenings": result.loosenings,
    }


def _outline(version: PolicyVersion) -> dict[str, object]:
    """The version as the page shows it: levels → standards → requirements, and
    domains → thresholds → indicators with their metric (no further query)."""
    pack = services.to_pack(version)
    metrics = {m["key"]: m for m in pack["metrics"]}
    standards_by_level: dict[str, list[PackStandard]] = {}
    for standard in pack["standards"]:
        standards_by_level.setdefault(standard["level"], []).append(standard)
    thresholds_by_domain: dict[str, list[dict[str, object]]] = {}
    for threshold in pack["thresholds"]:
        indicators = [
            {
                **indicator,
                "metric_info": metrics[indicator["metric"]],
                "range": f"[{_num(metrics[indicator['metric']]['min'])}, "
                f"{_num(metrics[indicator['metric']]['max'])}]",
                "higher_is_more_capable": metrics[indicator["metric"]]["higher_is_more_capable"],
            }
            for indicator in threshold["indicators"]
        ]
        thresholds_by_domain.setdefault(threshold["domain"], []).append(
            {**threshold, "indicators": indicators}
        )
    return {
        "pack": pack,
        "compute_multiple": _num(pack["settings"]["effective_compute_multiple"]),
        "uncertainty_z": _num(pack["settings"]["uncertainty_z"]),
        "levels": [
            {**level, "standards": standards_by_level.get(level["code"], [])}
            for level in pack["levels"]
        ],
        "domains": [
            {
                **domain,
                "thresholds": thresholds_by_domain.get(domain["code"], []),
                "metrics": [m for m in pack["metrics"] if m["domain"] == domain["code"]],
            }
            for domain in pack["domains"]
        ],
        "unassigned_metrics": [m for m in pack["metrics"] if m["domain"] is None],
    }


def _render_version(
    request: HttpRequest, version: PolicyVersion | None, *, is_active_page: bool
) -> HttpResponse:
    context: dict[str, object] = {"version": version, "is_active_page": is_active_page}
    if version is not None:
        context.update(_outline(version))
        context["can_activate"] = version.is_draft and can(request.user, "policy.activate")
    return render(request, "policies/version_detail.html", context)


@require_GET
def active(request: HttpRequest) -> HttpResponse:
    """The policy in force (or a notice that none is active)."""
    require(request.user, "policy.view")
    return _render_version(request, services.active_policy(), is_active_page=True)


@require_GET
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, "policy.view")
    version = services.version_with_children(pk)
    if version is None:
        raise Http404("No such policy version.")
    return _render_version(request, version, is_active_page=False)


@require_GET
def version_list(request: HttpRequest) -> HttpResponse:
    """Every version, newest first, with its hash and who activated it."""
    require(request.user, "policy.view")
    versions = list(PolicyVersion.objects.for_listing())
    active_version = next((v for v in versions if v.status == PolicyVersion.Status.ACTIVE), None)
    rows = []
    for index, version in enumerate(versions):
        previous = versions[index + 1] if index + 1 < len(versions) else None
        rows.append({"version": version, "previous": previous})
    return render(
        request,
        "policies/version_list.html",
        {"rows": rows, "active_version": active_version},
    )


def _version_param(request: HttpRequest, name: str) -> tuple[PolicyVersion | None, str | None]:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None, f"'{name}' is required: a policy version id."
    if not raw.isdigit():
        return None, f"'{name}' must be a policy version id, got {raw!r}."
    version = services.version_with_children(int(raw))
    if version is None:
        return None, f"'{name}': no policy version #{raw}."
    return version, None


@require_GET
def diff(request: HttpRequest) -> HttpResponse:
    """What changed between two versions, every loosening highlighted with its reason."""
    require(request.user, "policy.view")
    bare = not request.GET.get("from", "").strip() and not request.GET.get("to", "").strip()
    old, old_error = _version_param(request, "from")
    new, new_error = _version_param(request, "to")
    errors = [] if bare else [e for e in (old_error, new_error) if e]
    context: dict[str, object] = {
        "errors": errors,
        "old": old,
        "new": new,
        "pick": bare or bool(errors),
        "versions": list(PolicyVersion.objects.for_listing()) if bare or errors else [],
        "chosen_from": request.GET.get("from", ""),
        "chosen_to": request.GET.get("to", ""),
    }
    status = 400 if errors else 200
    if not bare and not errors and old is not None and new is not None:
        old_pack, new_pack = services.to_pack(old), services.to_pack(new)
        result = diff_policies(old_pack, new_pack)
        context["changes"] = _changes(result)
        context["summary"] = result.to_dict()["summary"]
        context["framework"] = _framework_context(old_pack, new_pack)
    return render(request, "policies/diff.html", context, status=status)


@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: confirmation page listing the loosenings against the active version; POST: activate."""
    require(request.user, "policy.activate")
    version = services.version_with_children(pk)
    if version is None:
        raise Http404("No such policy version.")
    if not version.is_draft:
        messages.error(request, f"Policy version #{version.pk} is {version.status}, not a draft.")
        return redirect("policy-version", pk=version.pk)
    if request.method == "POST":
        try:
            version = signoff.approve_activation(
                version, request.user, request.POST.get("dossier_sha256") or None
            )
        except services.ActivationError as exc:
            messages.error(request, exc.text)
            return redirect("policy-activate", pk=version.pk)
        if version.is_draft:
            pending = ", ".join(signoff.activation_status(version)["pending_titles"])
            messages.success(
                request, f"Your approval is recorded; activation still needs: {pending}."
            )
            return redirect("policy-activate", pk=version.pk)
        messages.success(request, f"Policy version #{version.pk} is now active.")
        return redirect("policy-active")
    current = services.active_policy()
    result = framework = None
    loosenings: list[Change] = []
    if current is not None:
        current_pack, draft_pack = services.to_pack(current), services.to_pack(version)
        result = diff_policies(current_pack, draft_pack)
        framework = _framework_context(current_pack, draft_pack)
        loosenings = all_loosenings(current_pack, draft_pack)
    return render(
        request,
        "policies/activate_confirm.html",
        {
            "version": version,
            "current": current,
            "loosenings": loosenings,
            "changes": _changes(result) if result is not None else [],
            "framework": framework,
            "signoff": signoff.activation_status(version, current),
        },
    )


@require_POST
def request_activation(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the sign-off titles in force to approve a loosening draft (you do not sign it)."""
    require(request.user, "policy.activate")
    version = PolicyVersion.objects.filter(pk=pk).first()
    if version is None:
        raise Http404("No such policy version.")
    try:
        opened = signoff.request_activation(version, request.user, via="session")
    except services.ActivationError as exc:
        messages.error(request, exc.text)
        return redirect("policy-activate", pk=version.pk)
    messages.success(request, "Activation requested; each sign-off title must now approve it.")
    return redirect("policy-activation", pk=opened.pk)


@require_GET
def activation_list(request: HttpRequest) -> HttpResponse:
    """Activations under the sign-off rule in force, newest first."""
    require(request.user, "policy.view")
    rows = PolicyActivation.objects.select_related("version", "previous", "requested_by")
    return render(request, "policies/activation_list.html", {"activations": rows[:100]})


@require_http_methods(["GET", "POST"])
def activation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A pending or past activation: its dossier (loosenings first), who signed, and for an
    eligible leader the form that signs the hash shown."""
    require(request.user, "policy.view")
    row = (
        PolicyActivation.objects.select_related("version", "previous", "requested_by")
        .filter(pk=pk)
        .first()
    )
    if row is None:
        raise Http404("No such activation.")
    if request.method == "POST":
        require(request.user, "policy.activate")
        verdict = "reject" if "reject" in request.POST else "approve"
        try:
            signoff.sign_activation(
                row.pk, request.user, verdict, request.POST.get("dossier_sha256", ""), via="session"
            )
        except services.ActivationError as exc:
            messages.error(request, exc.text)
        else:
            messages.success(request, f"Your {verdict} is recorded.")
        return redirect("policy-activation", pk=row.pk)
    signatures = list(row.signatures.select_related("signer"))
    changes = [
        {
            **change,
            "old_text": json.dumps(change.get("old"), ensure_ascii=False),
            "new_text": json.dumps(change.get("new"), ensure_ascii=False),
        }
        for change in row.dossier.get("diff", {}).get("changes", [])
    ]
    return render(
        request,
        "policies/activation_detail.html",
        {
            "activation": row,
            "signatures": signatures,
            "open_titles": row.open_titles(signatures),
            "signing_title": row.can_be_signed_by(request.user, signatures),
            "loosenings": row.loosenings,
            "changes": changes,
        },
    )


# ------------------------------------------------------------------------- comparison

_COMPARED_SETTINGS = PolicyVersion.SETTINGS_FIELDS


def _setting_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, float):
        return _num(value)
    return "" if value is None else str(value)


def _comparison_rows(active: Pack, other: Pack) -> list[list[str]]:
    """The comparison as CSV rows: settings, then each risk domain's thresholds per side."""
    result = diff_frameworks(active, other)
    names = (result.old_framework, result.new_framework)
    rows = [
        [
            "section",
            "risk domain",
            "policy",
            "item",
            "tier",
            "halt",
            "requires scaling",
            "requires deployment",
            "lines",
        ]
    ]
    for key in _COMPARED_SETTINGS:
        for name, pack in zip(names, (active, other), strict=True):
            value = _setting_text(pack["settings"].get(key))
            rows.append(["settings", "", name, key, "", "", "", "", value])
    for row in result.domains:
        for name, side in zip(names, (row.old, row.new), strict=True):
            if side is None:
                rows.append(["thresholds", row.label, name, "(not covered)", "", "", "", "", ""])
                continue
            if not side.thresholds:
                domains = ", ".join(side.domains)
                rows.append(
                    [
                        "thresholds",
                        row.label,
                        name,
                        f"({domains}: watched only)",
                        side.tier,
                        "",
                        "",
                        "",
                        "",
                    ]
                )
            for t in side.thresholds:
                lines = "; ".join(
                    f"{i['metric']} warning {_num(i['warning']) or '-'} critical "
                    f"{_num(i['critical'])}"
                    for i in t["indicators"]
                )
                rows.append(
                    [
                        "thresholds",
                        row.label,
                        name,
                        f"{t['code']} {t['name']}",
                        t["tier"],
                        "yes" if t["halt"] else "no",
                        ", ".join(t["requires"]["scaling"]),
                        ", ".join(t["requires"]["deployment"]),
                        lines,
                    ]
                )
    return rows


def _pack_choice_param(request: HttpRequest, name: str, default: str) -> str:
    return request.GET.get(name, "").strip() or default


def _resolve(choice: str, version: PolicyVersion | None) -> tuple[Pack | None, str | None]:
    """``active`` (``version``), ``version:<id>`` or a shipped pack name, as a pack (or an
    error)."""
    if choice == "active":
        if version is None:
            return None, "No policy version is active: pick two packs to compare."
        return services.to_pack(version), None
    if choice.startswith("version:"):
        pk = choice.removeprefix("version:")
        found = services.version_with_children(int(pk)) if pk.isdigit() else None
        if found is None:
            return None, f"No policy version {pk!r}."
        return services.to_pack(found), None
    if choice not in SHIPPED_PACKS:
        return None, f"Unknown pack {choice!r}: pick one of {', '.join(SHIPPED_PACKS)}."
    try:
        return load_pack_file(choice), None
    except PackError as exc:  # a shipped pack is validated by the tests; never expected
        return None, str(exc)


@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """Any two policies side by side, risk domain by risk domain: ``a`` and ``b`` are
    ``active``, ``version:<id>`` or a shipped pack (``pack`` is the old name of ``b``, compared
    with the active policy); ``format=csv`` downloads the same comparison."""
    require(request.user, "policy.view")
    active_version = services.active_policy()
    has_active = active_version is not None
    # ``pack`` alone (the older form) compares with the policy in force.
    first = "active" if has_active or "pack" in request.GET else SHIPPED_PACKS[0]
    a_name = _pack_choice_param(request, "a", first)
    b_name = _pack_choice_param(request, "b", request.GET.get("pack", "").strip())
    if not b_name:
        b_name = next((p for p in SHIPPED_PACKS if p != a_name), SHIPPED_PACKS[0])
    choices = (["active"] if has_active else []) + SHIPPED_PACKS
    context: dict[str, object] = {
        "packs": SHIPPED_PACKS,
        "choices": choices,
        "a_name": a_name,
        "b_name": b_name,
        "pack_name": b_name,
    }
    old, error = _resolve(a_name, active_version)
    new, error_b = _resolve(b_name, active_version) if error is None else (None, None)
    if old is None or new is None:
        context["error"] = error or error_b
        return render(request, "policies/compare.html", context, status=400)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="policy-comparison-{old["key"]}-vs-{new["key"]}.csv"'
        )
        csv.writer(response).writerows(_comparison_rows(old, new))
        return response
    result = diff_frameworks(old, new)
    context.update(
        {
            "framework": {
                "old_framework": result.old_framework,
                "new_framework": result.new_framework,
                "old_url": old["source"]["url"],
                "new_url": new["source"]["url"],
                "domains": result.domains,
                "changes": _as_rows(result.changes),
                "loosenings": result.lab_loosenings,
            },
            "settings": [
                {
                    "key": key,
                    "active": _setting_text(old["settings"].get(key)),
                    "other": _setting_text(new["settings"].get(key)),
                    "active_source": old["settings"]["sources"].get(key, PACK_CHOICE),
                    "other_source": new["settings"]["sources"].get(key, PACK_CHOICE),
                }
                for key in _COMPARED_SETTINGS
            ],
            "only_other": [row for row in result.domains if row.old is None],
            "other_notes": new["source"].get("notes", []),
            "active_notes": old["source"].get("notes", []),
        }
    )
    return render(request, "policies/compare.html", context)


@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """A framework's history: each consecutive pair of a family's shipped packs (by the date
    of the text), with the lab's loosenings and tightenings and the sections they cite."""
    require(request.user, "policy.view")
    packs = [load_pack_file(name) for name in SHIPPED_PACKS]
    families = sorted({str(p["family"]) for p in packs if p["family"]})
    family = request.GET.get("family", "").strip() or (
        "anthropic-rsp" if "anthropic-rsp" in families else (families[0] if families else "")
    )
    if family not in families:
        return render(
            request,
            "policies/history.html",
            {"families": families, "family": family, "error": f"Unknown family {family!r}."},
            status=400,
        )
    members = sorted(
        (p for p in packs if p["family"] == family), key=lambda p: (p["source"]["date"], p["key"])
    )
    steps = []
    for old, new in pairwise(members):
        changes = [c for c in all_history_changes(old, new) if not c.pack_choice]
        # What the text changed that no field of the data holds (a reworded threshold, a
        # governance power), as the newer pack reads it, each with its section.
        read = new["source"].get("changes", [])
        loosenings = [c for c in changes if c.loosening]
        text_loosenings = [c for c in read if c["direction"] == "loosening"]
        steps.append(
            {
                "old": old,
                "new": new,
                "loosenings": _as_rows(loosenings),
                "tightenings": _as_rows([c for c in changes if not c.loosening]),
                "text_loosenings": text_loosenings,
                "text_others": [c for c in read if c["direction"] != "loosening"],
                "loosening_count": len(loosenings) + len(text_loosenings),
                "other_count": len(changes) - len(loosenings) + len(read) - len(text_loosenings),
                "pack_choices": sum(1 for c in all_history_changes(old, new) if c.pack_choice),
            }
        )
    return render(
        request,
        "policies/history.html",
        {"families": families, "family": family, "members": members, "steps": steps},
    )


def all_history_changes(old: Pack, new: Pack) -> list[Change]:
    """The by-domain findings and the item changes between two versions of one framework."""
    by_domain = diff_frameworks(old, new).changes
    items = [c for c in diff_policies(old, new).changes if c.section != "settings"]
    return by_domain + items


# -------------------------------------------------------------------- self-assessment


@require_http_methods(["GET", "POST"])
def self_assessment(request: HttpRequest) -> HttpResponse:
    """The active policy against METR's common elements: computed where the data tells,
    recorded by leadership with evidence where it does not (POST records one mark)."""
    require(request.user, "policy.view")
    version = services.active_policy()
    if version is None:
        raise Http404("No policy version is active.")
    errors: dict[str, list[str]] = {}
    status_code = 200
    if request.method == "POST":
        require(request.user, "policy.activate")
        try:
            services.record_self_assessment(
                version,
                request.POST.get("element", ""),
                request.POST.get("status", ""),
                request.user,
                evidence_url=request.POST.get("evidence_url", "").strip(),
                note=request.POST.get("note", ""),
            )
        except services.SelfAssessmentError as exc:
            errors, status_code = exc.errors, 400
        else:
            messages.success(request, "Recorded.")
            return redirect("policy-self-assessment")
    return render(
        request,
        "policies/self_assessment.html",
        {
            "version": version,
            "rows": services.self_assessment(version),
            "errors": errors,
            "can_record": can(request.user, "policy.activate"),
        },
        status=status_code,
    )
