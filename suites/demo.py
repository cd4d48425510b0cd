"""Demo suite: the shipped Inspect task, run offline on mockllm against the demo models.

Called by ``manage.py seed_demo`` after the demo evidence; idempotent. In demo mode
(``RSP_DEMO=1``, as ``make run`` sets) it runs every 5 minutes, so a newcomer sees runs arrive
on the suites page.
"""

from __future__ import annotations

from typing import TextIO

from django.conf import settings

from evaluations.models import AIModel
from evaluations.policy import active_policy_view
from suites import services
from suites.models import EvalSuite

DEMO_SUITE = "demo-capabilities"
DEMO_TARGETS = ("atlas-1", "atlas-1-mini")
DEMO_METRICS = {
    "ctf_flag/accuracy": "cyber.ctf_solve_rate",
    "swe_tests/accuracy": "autonomy.swe_task_success",
}


def seed_demo(stdout: TextIO, actor: object = None) -> None:
    if EvalSuite.objects.filter(slug=DEMO_SUITE).exists():
        return
    policy = active_policy_view()
    if policy is None:
        stdout.write("suites: no active policy, demo suite skipped")
        return
    missing = set(DEMO_METRICS.values()) - set(policy.metrics)
    if missing:
        stdout.write(f"suites: the active policy lacks {sorted(missing)}, demo suite skipped")
        return
    schedule = "*/5 * * * *" if settings.DEMO_MODE else ""
    services.save_suite(
        slug=DEMO_SUITE,
        name="Demo capabilities (offline Inspect task)",
        description="Ten scripted capture-the-flag and software-engineering challenges, run "
        "with Inspect AI against mockllm/model. Demo data: illustrative only.",
        metrics=DEMO_METRICS,
        runner=EvalSuite.Runner.INSPECT,
        config={"task": "demo_capabilities", "model": "mockllm/model"},
        targets=list(AIModel.objects.filter(slug__in=DEMO_TARGETS)),
        schedule=schedule,
        actor="seed_demo",
    )
    when = f"every 5 minutes ({schedule})" if schedule else "on request"
    stdout.write(f"suites: demo suite {DEMO_SUITE}, runs {when}")
