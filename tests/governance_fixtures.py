"""Builders for gate and sign-off tests: an active default policy, a model with evidence."""

from __future__ import annotations

from typing import Any

from django.db import transaction

import audit
from evaluations.models import AIModel, Checkpoint, EvalResult
from evaluations.services import result_audit_data as result_audit_data
from governance import adapter, services
from policies import services as policy_services
from policies.packs import load_pack_file

# Values safely short of every warning line of the default pack (direction-aware).
BELOW = {
    "aird.effective_compute_growth": 2.0,
    "aird.entry_researcher_task_rate": 0.1,
    "aird.re_bench_score": 0.1,
    "autonomy.swe_task_success": 0.05,
    "cbrn.protocol_error_rate": 0.9,  # lower is more capable
    "cbrn.uplift_ratio": 1.0,
    "cbrn.vct_accuracy": 0.1,
    "cyber.ctf_solve_rate": 0.1,
}


def activate_default_policy() -> Any:
    return policy_services.load_pack(load_pack_file("default"), actor=None, activate=True)


def make_model(slug: str = "atlas", compute: float | None = 1e24, actor: Any = None) -> AIModel:
    with transaction.atomic():
        model = AIModel.objects.create(slug=slug, name=slug.title(), family="atlas")
        services.recompute(model, "test.setup")
    if compute is not None:
        add_checkpoint(model, "ckpt-1", compute)
    return model


def add_checkpoint(model: AIModel, name: str, compute: float) -> Checkpoint:
    with transaction.atomic():
        checkpoint = Checkpoint.objects.create(model=model, name=name, effective_compute=compute)
        # Recorded as the real service does: verification reconciles every row with the trail.
        audit.record(
            "checkpoint.report",
            checkpoint,
            {"model": model.slug, "name": name, "effective_compute": compute},
        )
        services.on_evidence_changed(model, "checkpoint.create")
    return checkpoint


def add_result(
    model: AIModel,
    metric: str,
    value: float,
    checkpoint: Checkpoint | None = None,
    n_samples: int | None = 100,
) -> EvalResult:
    """A strong result (100 samples, above any pack's minimum) unless told otherwise."""
    checkpoint = checkpoint or model.checkpoints.order_by("-reported_at", "-pk").first()
    with transaction.atomic():
        result = EvalResult.objects.create(
            model=model,
            checkpoint=checkpoint,
            metric_key=metric,
            value=value,
            n_samples=n_samples,
            source="api",
        )
        audit.record("result.create", result, result_audit_data(result))
        services.on_evidence_changed(model, "result.create")
    return result


def evaluate_all_below(model: AIModel, checkpoint: Checkpoint | None = None) -> None:
    for metric, value in BELOW.items():
        add_result(model, metric, value, checkpoint)


def verify_standards(model: AIModel, standards: set[str], actor: Any) -> None:
    """Verify every requirement needed by ``standards`` (with their includes)."""
    version = adapter.active_version()
    for row in adapter.requirements(version):
        if set(row["standards"]) & standards:
            services.record_safeguard(
                model, row["code"], "verified", actor, evidence_url="https://evidence.example/x"
            )


def baseline(model: AIModel, actor: Any) -> None:
    verify_standards(model, {"ASL-2-D", "ASL-2-S"}, actor)


def codes(gate: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in gate["reasons"]}


def sign_required_reports(
    model: AIModel, author: Any, *signers: Any, scope: str = "scaling"
) -> None:
    """Write and sign the reports the active policy requires before a decision of ``scope``
    on a model past a threshold (docs/accountability.md), as the safety team and leadership
    would: ``author`` drafts, each of ``signers`` signs with their title."""
    from accountability import reports

    missing = reports.decision_reports((model, scope))["missing"]
    kinds = reports.report_kinds(reports.active_version())
    for code, kind in kinds.items():
        if str(kind.get("name") or code) not in missing:
            continue
        report = reports.create_report(
            code,
            model,
            f"{kind.get('name')} for {model.slug}",
            [{"heading": "Summary", "body": "."}],
            author,
        )
        for signer in signers:
            if reports.signing_title(report, signer) is not None:
                reports.sign_report(report, "approve", report.snapshot_sha256, "", signer)
            report.refresh_from_db()


def settle_gates() -> int:
    """Run, as the worker would, every gate recomputation that result writes asked for and
    that is still pending (ADR 0052: in a test's transaction no message is ever sent)."""
    from governance.tasks import settle_pending

    return settle_pending()
