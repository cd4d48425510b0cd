"""Seed the throwaway benchmark database through the portal's own services.

Run by ``run.py`` in a subprocess with the benchmark's environment. Prints one JSON object:
the model slug, the checkpoint to post results to, the pipeline token and the gate state.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _django import setup

SLUG = "bench-model"
CHECKPOINTS = 8  # x 8 metrics = 64 results, so the results list returns a full page of 50
LATEST_COMPUTE = 2e24
APPROVED_COMPUTE = 5e24
SPREAD_MODELS = 8  # the result POSTs spread over this many models

# Short of every warning line of the default pack (direction-aware), so the gate can approve.
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


def seed() -> dict[str, Any]:
    from core.models import ApiToken
    from core.services import create_user
    from evaluations import services as evidence
    from governance import adapter
    from governance import services as governance
    from policies import services as policies
    from policies.packs import load_pack_file

    policies.load_pack(load_pack_file("default"), actor="bench", activate=True)
    safety = create_user("bench-safety", "safety")
    rso = create_user("bench-rso", "leadership", titles=["RSO"])
    ceo = create_user("bench-ceo", "leadership", titles=["CEO"])
    pipeline = create_user("bench-pipeline", "pipeline")

    model = evidence.create_model(slug=SLUG, name="Bench model", family="bench", actor=pipeline)
    names = []
    for index in range(CHECKPOINTS):
        compute = LATEST_COMPUTE / 2 ** (CHECKPOINTS - 1 - index)
        checkpoint = evidence.report_checkpoint(
            model,
            name=f"ckpt-{index + 1}",
            effective_compute=compute,
            step=1000 * (index + 1),
            actor=pipeline,
        )
        names.append(checkpoint.name)
        evidence.record_results(
            [
                {
                    "model": SLUG,
                    "checkpoint": checkpoint.name,
                    "metric": metric,
                    "value": value,
                    "stderr": 0.01,
                    "n_samples": 200,
                }
                for metric, value in BELOW.items()
            ],
            pipeline,
            "api",
        )

    # Verify every safeguard the ASL-2 baseline standards need (with their includes).
    version = adapter.active_version()
    for row in adapter.requirements(version):
        if set(row["standards"]) & {"ASL-2-D", "ASL-2-S"}:
            governance.record_safeguard(
                model, row["code"], "verified", safety, evidence_url="https://evidence.example/b"
            )

    decision = governance.request_decision(
        model, APPROVED_COMPUTE, "Benchmark: scale within the approved limit.", safety
    )
    for signer in (rso, ceo):
        governance.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)

    # Seven more models, one checkpoint each, for the POSTs spread over eight models.
    spread = [{"model": SLUG, "checkpoint": names[-1]}]
    for index in range(1, SPREAD_MODELS):
        slug = f"{SLUG}-{index + 1}"
        other = evidence.create_model(
            slug=slug, name=f"Bench model {index + 1}", family="bench", actor=pipeline
        )
        evidence.report_checkpoint(
            other, name="ckpt-1", effective_compute=LATEST_COMPUTE, step=1000, actor=pipeline
        )
        spread.append({"model": slug, "checkpoint": "ckpt-1"})

    _, token = ApiToken.issue(pipeline, "bench", ["read", "gate:read", "evidence:write"])
    gate = governance.gate_for(model)
    return {
        "slug": SLUG,
        "checkpoint": names[-1],
        "spread": spread,
        "token": token,
        "gate_state": gate["state"],
        "gate_reasons": [reason["code"] for reason in gate["reasons"]],
    }


def analyze() -> None:
    """Give the planner the statistics a running database has (autovacuum keeps them): a
    database measured straight after seeding still plans with an empty table's guesses."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def settled(limit: float = 60.0) -> dict[str, float | int]:
    """After the write rounds: how long until the worker had folded every result the writes
    left above a summary's watermark (ADR 0055) and stored every gate they left behind (ADR
    0052), and how many gates and summaries were still behind at the end of ``limit`` seconds."""
    import time

    from evaluations import summary
    from evaluations.models import EvidenceSummaryState
    from governance.models import GateState

    started = time.monotonic()
    while True:
        behind = sum(
            GateState.objects.filter(
                model_id=state.model_id, evidence_seq__lt=state.evidence_seq
            ).count()
            for state in EvidenceSummaryState.objects.all()
        )
        summaries = len(summary.behind())
        waited = time.monotonic() - started
        if (behind == 0 and summaries == 0) or waited > limit:
            return {"seconds": round(waited, 2), "behind": behind, "summaries": summaries}
        time.sleep(0.2)


def settle_now() -> int:
    """Before the servers are measured: run the gate recomputations that the seed's and the
    scale figures' writes asked for (ADR 0052) and empty the bench's queue, so that the worker
    starts on a steady database rather than on a backlog of a thousand models' gates."""
    from django.conf import settings

    from governance.tasks import settle_pending
    from rsp_portal.celery import app

    ran = settle_pending()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    return ran


if __name__ == "__main__":
    setup()
    if sys.argv[1:] == ["--analyze"]:  # again before the HTTP runs, after the scale figures
        analyze()
        sys.exit(0)
    if sys.argv[1:] == ["--settle"]:  # before the HTTP runs: no backlog for the worker
        json.dump({"settled": settle_now()}, sys.stdout)
        sys.exit(0)
    if sys.argv[1:] == ["--settled"]:  # after the write rounds: the worker's stored gates
        json.dump(settled(), sys.stdout)
        sys.exit(0)
    seeded = seed()
    analyze()
    json.dump(seeded, sys.stdout)
    sys.stdout.write("\n")
