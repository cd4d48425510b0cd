"""Demo governance: one model walked all the way to an approved gate, so a newcomer sees both
states. Idempotent: does nothing once the demo model has any decision."""

from __future__ import annotations

from typing import TextIO

from core.models import User
from evaluations.models import AIModel
from governance import adapter, services
from governance.models import ApprovalVerdict, ScalingDecision

DEMO_MODEL = "atlas-1-mini"


def seed_demo(stdout: TextIO, actor: object = None) -> None:
    model = AIModel.objects.filter(slug=DEMO_MODEL).first()
    users = {u.username: u for u in User.objects.filter(username__in=["safety", "rso", "ceo"])}
    version = adapter.active_version()
    if model is None or version is None or len(users) < 3:
        stdout.write("governance: demo skipped (needs the demo model, users and a policy)")
        return
    if ScalingDecision.objects.filter(model=model).exists():
        return
    baseline = set(version.baseline_standards)
    for row in adapter.requirements(version):
        if set(row["standards"]) & baseline:
            services.record_safeguard(
                model,
                row["code"],
                "verified",
                users["safety"],
                evidence_url="https://example.org/demo-evidence",
                notes="Demo data: illustrative only.",
            )
    checkpoint = model.largest_checkpoint()
    limit = (checkpoint.effective_compute if checkpoint else 1e23) * 2
    decision = services.request_decision(
        model,
        limit,
        "Demo: evaluations below every line, baseline safeguards verified.",
        users["safety"],
    )
    for signer in ("rso", "ceo"):
        services.sign_decision(
            decision.pk,
            users[signer],
            ApprovalVerdict.APPROVE,
            decision.dossier_sha256,
            "Demo approval.",
        )
    state = services.gate_for(model)["state"]
    stdout.write(f"governance: demo decision #{decision.pk} approved; {DEMO_MODEL} gate is {state}")
