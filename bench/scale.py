"""Scale figures (issue 16), each as a ratio to a baseline measured in the same run.

- ``results_per_model``: ``adapter.build_input`` for models with 100 to 100,000 results
  (20 checkpoints each), against the 100-result model; and the ranking reader (every
  current result ranked in SQL, the reader before the evidence summary) at the same sizes.
- ``models``: ``build_input`` of one model with 10, then 1,000 models in the tables.
- ``bulk``: 10,000 results in one validated, audited, all-or-nothing ``record_results`` call
  (what ``POST /api/v1/results/bulk/`` and the importers run) against a bare ``bulk_create``
  of the same rows in one transaction.
- ``audit_writers``: entries/s appended by 8 writer processes at once against 1 writer.
- ``verification``: the verifier's entries/s over the stored bodies against bare SHA-256
  chaining of the same bodies.

Run by ``run.py`` after the micro-benchmarks, against the seeded bench database; prints one
JSON object. Rows are bulk-inserted and folded into the summary, as a write and then the
worker's fold do (seeding is not measured).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _django import setup
from seed import analyze

ROUNDS = 3
SECONDS = 0.5
SIZES = (100, 1_000, 10_000, 100_000)
WRITERS = 8
WRITER_SECONDS = 4.0


def rate(run: Callable[[], Any], seconds: float = SECONDS) -> float:
    """Operations per second of ``run`` for ``seconds``."""
    done = 0
    started = time.perf_counter()
    while True:
        run()
        done += 1
        now = time.perf_counter()
        if now - started >= seconds:
            return done / (now - started)


def paired(subject: Callable[[], Any], baseline: Callable[[], Any]) -> dict[str, float]:
    """Rates of both, interleaved round by round; the ratio is the median of the per-round
    ratios."""
    subject()
    baseline()
    mine, theirs = [], []
    for _ in range(ROUNDS):
        mine.append(rate(subject))
        theirs.append(rate(baseline))
    ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
    return {
        "rate": statistics.median(mine),
        "baseline_rate": statistics.median(theirs),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def _grow(
    slug: str, results: int, keys: list[str], rng: random.Random, checkpoints: int = 20
) -> Any:
    """A model with ``checkpoints`` checkpoints and ``results`` results, summarised as the
    services do."""
    from django.db import transaction

    from evaluations import summary
    from evaluations.models import AIModel, Checkpoint, EvalResult
    from evaluations.policy import active_policy_view

    policy = active_policy_view()
    assert policy is not None
    with transaction.atomic():
        model = AIModel.objects.create(slug=slug, name=slug, family="scale")
        made = Checkpoint.objects.bulk_create(
            Checkpoint(model=model, name=f"s-{n}", effective_compute=1e24 * (1 + n))
            for n in range(checkpoints)
        )
        states = summary.lock([model.pk])
        EvalResult.objects.bulk_create(
            (
                EvalResult(
                    model=model,
                    checkpoint=rng.choice(made),
                    metric_key=rng.choice(keys),
                    value=rng.uniform(0.0, 0.2),
                    stderr=0.01,
                    n_samples=rng.choice([20, 200]),
                    partial=rng.random() < 0.1,
                    source="api",
                )
                for _ in range(results)
            ),
            batch_size=5000,
        )
        summary.sync(states, summary.lens_of_view(policy))
    return model


def results_per_model(keys: list[str]) -> dict[str, Any]:
    from django.utils import timezone

    from governance import adapter
    from governance.evidence_sql import read_ranked

    rng = random.Random(16)  # noqa: S311 (reproducible bench data)
    now = timezone.now()
    models = {n: _grow(f"scale-{n}", n, keys, rng) for n in SIZES}
    analyze()  # as autovacuum would have: plans for the tables' new sizes
    base = models[SIZES[0]]
    policy = adapter.active_snapshot()
    out: dict[str, Any] = {}
    for n, model in models.items():
        out[str(n)] = {
            "build_input": paired(
                lambda m=model: adapter.build_input(m, "scaling", 3e24, now),
                lambda: adapter.build_input(base, "scaling", 3e24, now),
            ),
            "ranking_reader": paired(
                lambda m=model: read_ranked(m, policy),
                lambda: read_ranked(base, policy),
            ),
        }
    return out


def many_models(keys: list[str]) -> dict[str, Any]:
    from django.utils import timezone

    from evaluations.models import AIModel
    from governance import adapter

    rng = random.Random(17)  # noqa: S311 (reproducible bench data)
    now = timezone.now()
    probe = _grow("fleet-0", 80, keys, rng, checkpoints=4)
    made = 1
    while AIModel.objects.count() < 10:
        _grow(f"fleet-{made}", 80, keys, rng, checkpoints=4)
        made += 1
    at_10 = AIModel.objects.count()
    analyze()
    rounds_small = [rate(lambda: adapter.build_input(probe, "scaling", 3e24, now))]
    rounds_small += [rate(lambda: adapter.build_input(probe, "scaling", 3e24, now))]
    while AIModel.objects.count() < 1_000:
        _grow(f"fleet-{made}", 80, keys, rng, checkpoints=4)
        made += 1
    at_1000 = AIModel.objects.count()
    # As autovacuum would have: without statistics for the 990 models' rows, the reads were
    # planned as for the 10 models' (sequential scans), 59/s against 432/s analysed.
    analyze()
    rounds_large = [
        rate(lambda: adapter.build_input(probe, "scaling", 3e24, now)) for _ in range(ROUNDS)
    ]
    large = statistics.median(rounds_large)
    return {
        "models_before": at_10,
        "models_after": at_1000,
        "build_input_at_10": statistics.median(rounds_small),
        "build_input_at_1000": large,
        "ratio": large / statistics.median(rounds_small),
        "note": "the 10-model rate was measured before the 990 models were added (not paired)",
    }


def bulk(keys: list[str]) -> dict[str, Any]:
    from django.db import transaction

    from evaluations import services as evidence
    from evaluations.models import AIModel, Checkpoint, EvalResult

    model = AIModel.objects.create(slug="bulk-target", name="Bulk", family="scale")
    Checkpoint.objects.create(model=model, name="ckpt-1", effective_compute=1e24)
    checkpoint = Checkpoint.objects.get(model=model, name="ckpt-1")
    count = 10_000
    items = [
        {
            "model": model.slug,
            "checkpoint": "ckpt-1",
            "metric": keys[i % len(keys)],
            "value": (i % 90) / 100,
            "stderr": 0.01,
            "n_samples": 200,
        }
        for i in range(count)
    ]

    def service() -> None:
        evidence.record_results(items, "bench", EvalResult.Source.API)

    def bare() -> None:
        with transaction.atomic():
            EvalResult.objects.bulk_create(
                EvalResult(
                    model=model,
                    checkpoint=checkpoint,
                    metric_key=item["metric"],
                    value=item["value"],
                    stderr=item["stderr"],
                    n_samples=item["n_samples"],
                    source="api",
                )
                for item in items
            )

    mine, theirs = [], []
    for _ in range(2):
        started = time.perf_counter()
        service()
        mine.append(count / (time.perf_counter() - started))
        started = time.perf_counter()
        bare()
        theirs.append(count / (time.perf_counter() - started))
    ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
    return {
        "rows": count,
        "record_results_rows_per_s": statistics.median(mine),
        "bulk_create_rows_per_s": statistics.median(theirs),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def writer(seconds: float) -> int:
    """One writer process: audit entries appended, one per transaction, for ``seconds``."""
    from django.db import transaction

    import audit

    data = {"model": "bench-model", "metric": "cbrn.vct_accuracy", "value": 0.1}
    pid = os.getpid()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with transaction.atomic():
            audit.record("bench.writer", ("bench", f"{pid}-{done}"), data, "bench")
        done += 1
    return done


def audit_writers() -> dict[str, Any]:
    def run(processes: int) -> float:
        argv = [sys.executable, str(Path(__file__)), "--writer", str(WRITER_SECONDS)]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(processes)
        ]
        total = sum(int(p.communicate()[0].strip() or 0) for p in procs)
        return total / (time.perf_counter() - started)

    single = [run(1)]
    many = [run(WRITERS)]
    single.append(run(1))
    return {
        "writers": WRITERS,
        "single_entries_per_s": statistics.median(single),
        "concurrent_entries_per_s": many[0],
        "ratio": many[0] / statistics.median(single),
        "note": "wall-clock rate including process start-up; appends serialise on the log head",
    }


def verification() -> dict[str, Any]:
    from django.conf import settings

    from audit.models import AuditEntry
    from audit.verify_bundle import verify_entries

    rows = [
        (seq, bytes(body), bytes.fromhex(leaf))
        for seq, body, leaf in AuditEntry.objects.order_by("seq").values_list(
            "seq", "body", "leaf_hash"
        )
    ]
    bodies = [body for _, body, _ in rows]

    def verifier() -> None:
        verify_entries(iter(rows), settings.AUDIT_ORIGIN)

    def bare() -> None:
        prev = b"\x00" * 32
        for body in bodies:
            prev = hashlib.sha256(b"\x00" + prev + body).digest()

    figures = paired(verifier, bare)
    return {
        "entries": len(rows),
        "verifier_entries_per_s": figures["rate"] * len(rows),
        "sha256_chain_entries_per_s": figures["baseline_rate"] * len(rows),
        "ratio": figures["ratio"],
        "ratio_min": figures["ratio_min"],
        "ratio_max": figures["ratio_max"],
    }


def main() -> dict[str, Any]:
    from policies.models import Indicator, PolicyVersion

    version = PolicyVersion.objects.active().get()
    keys = sorted(
        set(Indicator.objects.filter(version=version).values_list("metric__key", flat=True))
    )
    started = time.perf_counter()
    out = {
        "results_per_model": results_per_model(keys),
        "models": many_models(keys),
        "bulk": bulk(keys),
        "audit_writers": audit_writers(),
        "verification": verification(),
    }
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return out


if __name__ == "__main__":
    setup()
    if len(sys.argv) > 2 and sys.argv[1] == "--writer":
        print(writer(float(sys.argv[2])))
    else:
        json.dump(main(), sys.stdout)
        sys.stdout.write("\n")
