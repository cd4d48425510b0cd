"""Server time of the model page with 50 checkpoints and 10,000 results (the risk picture's
budget: under 300 ms server time; a benchmark, not a timed test).

Migrates a throwaway SQLite database under ``var/bench/``, loads the default policy, creates a
model with ``--checkpoints`` checkpoints and ``--results`` results spread over the policy's
indicator metrics, then renders ``/models/<slug>/`` through the whole Django stack in-process
(Django test client, a signed-in safety user). Times the same request's bare counterpart, the
login page, in interleaved rounds, and prints one JSON object: the median server time of each
and their ratio.

    .venv/bin/python bench/model_page.py [--checkpoints 50] [--results 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=50)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="model-page-bench-", dir=OUT))
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ["RSP_VAR_DIR"] = str(work)
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsp_portal.settings")
    sys.path.insert(0, str(ROOT))
    try:
        print(json.dumps(run(args.checkpoints, args.results, args.rounds), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(checkpoints: int, results: int, rounds: int) -> dict[str, object]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client

    from core.services import create_user
    from evaluations.models import AIModel, Checkpoint, EvalResult
    from governance import services as gate
    from policies import services as policy_services
    from policies.packs import load_pack_file

    call_command("migrate", verbosity=0)
    call_command("audit_keys", "--if-missing", verbosity=0)
    policy_services.load_pack(load_pack_file("default"), actor=None, activate=True)
    version = policy_services.active_policy()
    assert version is not None
    metrics = [(m.key, m.min, m.max) for m in version.metrics.all()]
    with transaction.atomic():
        model = AIModel.objects.create(slug="atlas", name="Atlas", family="atlas")
        points = [
            Checkpoint.objects.create(
                model=model, name=f"ckpt-{i:03d}", effective_compute=1e23 * (i + 1)
            )
            for i in range(checkpoints)
        ]
        EvalResult.objects.bulk_create(
            EvalResult(
                model=model,
                checkpoint=points[i % len(points)],
                metric_key=metrics[i % len(metrics)][0],
                value=metrics[i % len(metrics)][1]
                + (metrics[i % len(metrics)][2] - metrics[i % len(metrics)][1]) * 0.01,
                n_samples=100,
                source="api",
            )
            for i in range(results)
        )
        gate.recompute(model, "bench.setup")
    user = create_user("safety", role="safety")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def timed(url: str) -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        return elapsed

    timed("/models/atlas/")  # warm-up: caches, template compilation
    page: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        page.append(timed("/models/atlas/"))
        bare.append(timed("/healthz"))
    page_ms = statistics.median(page) * 1000
    bare_ms = statistics.median(bare) * 1000
    return {
        "checkpoints": checkpoints,
        "results": results,
        "rounds": rounds,
        "model_page_ms_median": round(page_ms, 1),
        "healthz_ms_median": round(bare_ms, 1),
        "ratio_page_to_healthz": round(page_ms / bare_ms, 1) if bare_ms else None,
        "target_ms": 300,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    main()
