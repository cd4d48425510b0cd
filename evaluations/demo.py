"""Demo evidence: two models with a few checkpoints and results below every threshold.

Called by ``manage.py seed_demo`` after the policy is loaded; idempotent (an existing demo
model is left as it is) and a no-op without an active policy.
"""

from __future__ import annotations

from typing import TextIO

from django.db import transaction

from core.words import count
from evaluations import services
from evaluations.models import AIModel, EvalResult
from evaluations.policy import PolicyView, active_policy_view

DEMO_MODELS = [
    # slug, name, family, parent, checkpoints (name, effective compute FLOP, step)
    ("atlas-1", "Atlas 1", "atlas", None, [("pt-10k", 2.0e24, 10_000), ("pt-20k", 4.5e24, 20_000)]),
    ("atlas-1-mini", "Atlas 1 mini", "atlas", "atlas-1", [("pt-5k", 3.0e23, 5_000)]),
]


def _below(policy: PolicyView, key: str, fraction: float) -> float:
    """A value ``fraction`` of the way to the metric's lowest line, on the safe side."""
    info = policy.metrics[key]
    lines = [i for i in policy.indicators if i.metric_key == key]
    if info.higher_is_more_capable:
        line = min(
            [i.warning if i.warning is not None else i.critical for i in lines] or [info.max]
        )
        return info.min + (line - info.min) * fraction
    line = max([i.warning if i.warning is not None else i.critical for i in lines] or [info.min])
    return info.max - (info.max - line) * fraction


def seed_demo(stdout: TextIO, actor: object = None) -> None:
    policy = active_policy_view()
    if policy is None:
        stdout.write("evaluations: no active policy, demo evidence skipped")
        return
    for slug, name, family, parent, checkpoints in DEMO_MODELS:
        if AIModel.objects.filter(slug=slug).exists():
            continue
        with transaction.atomic():
            model = services.create_model(
                slug=slug,
                name=name,
                family=family,
                parent=parent,
                owner_team="pretraining",
                actor="seed_demo",
            )
            for ckpt_name, compute, step in checkpoints:
                services.report_checkpoint(
                    model,
                    name=ckpt_name,
                    effective_compute=compute,
                    step=step,
                    actor="seed_demo",
                )
            # Every indicator metric on the first checkpoint, well below its lines.
            first = checkpoints[0][0]
            items = [
                {
                    "model": slug,
                    "checkpoint": first,
                    "metric": key,
                    "value": round(_below(policy, key, 0.5), 4),
                    "n_samples": 200,
                    "elicitation": {"scaffold": "demo-agent", "attempts": 5, "pass_at_k": 1},
                    "notes": "Demo data: illustrative only.",
                }
                for key in sorted(policy.indicator_metric_keys)
            ]
            if items:
                services.record_results(items, "seed_demo", EvalResult.Source.SUITE)
        stdout.write(f"evaluations: demo model {slug} with {count(len(checkpoints), 'checkpoint')}")
