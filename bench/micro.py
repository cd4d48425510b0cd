"""In-process micro-benchmarks (no HTTP): the gate engine and audit appends against the bare
canonical-JSON + SHA-256 chain rate (about 1 KB records, each hash chained to the previous),
recomputed here.

Run by ``run.py`` after seeding, in a subprocess with the benchmark's environment; prints one
JSON object. Each figure is the median of ``ROUNDS`` time-bounded runs after a warm-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from _django import setup

SMOKE = os.environ.get("RSP_BENCH_SMOKE") == "1"  # ``run.py --smoke``: the figures mean nothing
ROUNDS = 1 if SMOKE else 5
SECONDS = 0.05 if SMOKE else 0.5
DENOMINATOR = "canonical_json_chain"


@dataclass
class Step:
    """One thing to time: ``run(i)`` does ``batch`` operations."""

    name: str
    run: Callable[[int], Any]
    batch: int = 1


def measure(steps: list[Step]) -> dict[str, dict[str, Any]]:
    """Rates of every step, interleaved round by round so that a noisy moment on a shared
    machine hits numerator and denominator alike; each ratio is the median of the ratios
    taken within one round."""
    for step in steps:
        step.run(0)  # warm-up: caches, prepared connections
    rates: dict[str, list[float]] = {step.name: [] for step in steps}
    counter = 1
    for _ in range(ROUNDS):
        for step in steps:
            done = 0
            started = time.perf_counter()
            deadline = started + SECONDS
            while True:
                step.run(counter)
                counter += 1
                done += step.batch
                now = time.perf_counter()
                if now >= deadline:
                    break
            rates[step.name].append(done / (now - started))
    out = {}
    for name, values in rates.items():
        paired = [v / d for v, d in zip(values, rates[DENOMINATOR], strict=True)]
        out[name] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "ratio": statistics.median(paired),
            "ratio_min": min(paired),
            "ratio_max": max(paired),
        }
    return out


# --- The bare baselines: canonical JSON + SHA-256 chain over ~1 KB records ---------------------


def sample_records(count: int = 1000) -> list[dict[str, Any]]:
    """Audit-like records of about 1 KB canonical JSON."""
    records = []
    for n in range(count):
        records.append(
            {
                "seq": n,
                "ts": f"2026-11-23T12:{n % 60:02d}:{n % 59:02d}.{n % 1000:03d}000Z",
                "actor": {"type": "user", "id": 1000 + n % 17, "username": f"user-{n % 17}"},
                "action": "result.create",
                "object": {"type": "evaluations.evalresult", "id": str(100_000 + n)},
                "ip": f"10.0.{n % 250}.{n % 200}",
                "changes": {
                    f"field_{k:02d}": {"old": f"value-{n}-{k}-before", "new": f"value-{n}-{k}-af"}
                    for k in range(14)
                },
                "prev_hash": "",
            }
        )
    return records


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bare_baselines() -> tuple[dict[str, Any], list[Step]]:
    records = sample_records()
    serialised = [canonical(r) for r in records]
    size = sum(len(b) for b in serialised) / len(serialised)
    count = len(records)

    def sha(i: int) -> None:
        for body in serialised:
            hashlib.sha256(body).digest()

    heads = {"raw": b"\x00" * 32}
    hex_heads = {"json": "0" * 64}

    def chain(i: int) -> None:
        prev = heads["raw"]
        for body in serialised:
            prev = hashlib.sha256(prev + body).digest()
        heads["raw"] = prev

    def json_chain(i: int) -> None:
        prev = hex_heads["json"]
        for record in records:
            record["prev_hash"] = prev
            prev = hashlib.sha256(canonical(record)).hexdigest()
        hex_heads["json"] = prev

    steps = [
        Step("sha256", sha, count),
        Step("hash_chain", chain, count),
        Step(DENOMINATOR, json_chain, count),
    ]
    return {"record_bytes": round(size)}, steps


# --- The portal's own code --------------------------------------------------------------------


def gate_engine(slug: str) -> tuple[dict[str, Any], list[Step]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from evaluations.models import AIModel
    from governance import adapter
    from governance.gate import INTERNAL_ERROR, evaluate

    model = AIModel.objects.get(slug=slug)
    now = timezone.now()
    inp, _ = adapter.build_input(model, "scaling", None, now)
    verdict = evaluate(inp)
    if verdict.reasons and verdict.reasons[0].code == INTERNAL_ERROR:
        raise SystemExit(f"the gate engine failed on the bench input: {verdict.to_dict()}")
    with CaptureQueriesContext(connection) as queries:
        live, _ = adapter.build_input(model, "scaling", 3e24, now)
    info = {
        "checkpoints": len(inp.evidence.checkpoints),
        "results": len(inp.evidence.results),
        "thresholds": len(inp.policy.thresholds) if inp.policy else 0,
        "safeguards": len(inp.safeguards),
        "state": verdict.state,
        "build_queries": len(queries),
    }
    scale, scale_results = _scale_model(model)
    with CaptureQueriesContext(connection) as scale_queries:
        adapter.build_input(scale, "scaling", 3e24, now)
    info["scale_results"] = scale_results
    info["scale_build_queries"] = len(scale_queries)

    def live_input(i: int) -> Any:
        # As the live gate reads: the model with the stamp of its inputs (one statement),
        # the inputs from this process's cache while the stamp holds.
        found = adapter.live_model(slug)
        assert found is not None
        live_model, stamp = found
        reads = adapter.live_inputs(live_model, stamp)
        return adapter.build_input(live_model, "scaling", 3e24, now, reads=reads)

    live_input(0)
    with CaptureQueriesContext(connection) as live_queries:
        live_input(0)
    info["live_build_queries"] = len(live_queries)
    steps = [
        Step("evaluate", lambda i: evaluate(inp)),
        Step("build_input_live", live_input),
        Step("evaluate_to_dict", lambda i: evaluate(live).to_dict()),
        Step("build_input", lambda i: adapter.build_input(model, "scaling", 3e24, now)),
        # The same with 100 times the results (and a parent): the rate should stay flat.
        Step("build_input_scaled", lambda i: adapter.build_input(scale, "scaling", 3e24, now)),
    ]
    return info, steps


SCALE_RESULTS = 20_000


def _scale_model(parent: Any) -> tuple[Any, int]:
    """A child of the bench model with ``SCALE_RESULTS`` results (bulk-inserted: the seed
    for a scale figure, not a measured path)."""
    import random

    from evaluations.models import AIModel, Checkpoint, EvalResult

    rng = random.Random(16)  # noqa: S311 (reproducible bench data)
    model = AIModel.objects.create(slug="bench-scale", name="Scale", family="bench", parent=parent)
    checkpoints = [
        Checkpoint.objects.create(model=model, name=f"s-{n}", effective_compute=1e24 * (1 + n))
        for n in range(20)
    ]
    keys = sorted({r.metric_key for r in EvalResult.objects.filter(model=parent)})
    rows = [
        EvalResult(
            model=model,
            checkpoint=rng.choice(checkpoints),
            metric_key=rng.choice(keys),
            value=rng.uniform(0.0, 0.2),
            stderr=0.01,
            n_samples=rng.choice([20, 200]),
            partial=rng.random() < 0.1,
            source="api",
        )
        for _ in range(SCALE_RESULTS)
    ]
    from django.db import transaction

    from evaluations import summary
    from evaluations.policy import active_policy_view

    with transaction.atomic():  # as a write and then the worker do: lock, insert, fold
        states = summary.lock([model.pk])
        EvalResult.objects.bulk_create(rows, batch_size=2000)
        summary.sync(states, summary.lens_of_view(active_policy_view()))
    return model, SCALE_RESULTS


def audit_appends() -> tuple[Callable[[], dict[str, Any]], list[Step]]:
    from django.db import transaction

    import audit
    from audit.models import AuditEntry

    data = {
        "model": "bench-model",
        "checkpoint": "ckpt-8",
        "metric": "cbrn.vct_accuracy",
        "value": 0.1,
        "stderr": 0.01,
        "n_samples": 200,
        "mitigation": "pre",
        "source": "api",
    }

    def one_per_transaction(i: int) -> None:
        with transaction.atomic():
            audit.record("bench.append", ("bench", str(i)), data, "bench", via="token:bench")

    def hundred_per_transaction(i: int) -> None:
        with transaction.atomic():
            for k in range(100):
                audit.record("bench.append", ("bench", f"{i}-{k}"), data, "bench")

    def hundred_batched(i: int) -> None:
        # As the result writes do: prepared on record, appended together under the head lock.
        with transaction.atomic(), audit.batch():
            for k in range(100):
                audit.record("bench.append", ("bench", f"b{i}-{k}"), data, "bench")

    def info() -> dict[str, Any]:
        bodies = AuditEntry.objects.order_by("-seq").values_list("body", flat=True)[:200]
        sizes = [len(body) for body in bodies]
        return {"entry_bytes": round(sum(sizes) / len(sizes))}

    steps = [
        Step("one_per_transaction", one_per_transaction),
        Step("hundred_per_transaction", hundred_per_transaction, 100),
        Step("hundred_batched", hundred_batched, 100),
    ]
    return info, steps


def main(slug: str) -> dict[str, Any]:
    from django.db import connection

    bare_info, bare_steps = bare_baselines()
    gate_info, gate_steps = gate_engine(slug)
    audit_info, audit_steps = audit_appends()
    rates = measure(bare_steps + gate_steps + audit_steps)
    return {
        "database": connection.vendor,
        "rounds": ROUNDS,
        "seconds": SECONDS,
        "bare": {**bare_info, **{s.name: rates[s.name] for s in bare_steps}},
        "gate": {"input": gate_info, **{s.name: rates[s.name] for s in gate_steps}},
        "audit": {**audit_info(), **{s.name: rates[s.name] for s in audit_steps}},
        # Rates measured once on the 2-vCPU development VM, to show how fast this machine is now.
        "reference_doc": {"canonical_json_chain": 133_707, "hash_chain": 964_099},
        "at": datetime.now(UTC).isoformat(),
    }


if __name__ == "__main__":
    setup()
    json.dump(main(sys.argv[1] if len(sys.argv) > 1 else "bench-model"), sys.stdout)
    sys.stdout.write("\n")
