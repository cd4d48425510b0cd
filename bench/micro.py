"""In-process micro-benchmarks (no HTTP): the gate engine and audit appends against the bare
canonical-JSON + SHA-256 chain rate of perf-baseline.md §7, recomputed here.

Run by ``run.py`` after seeding, in a subprocess with the benchmark's environment; prints one
JSON object. Each figure is the median of ``RUNS`` time-bounded runs after a warm-up.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from _django import setup

RUNS = 3
SECONDS = 1.0


def rate(step: Callable[[int], Any], seconds: float = SECONDS, batch: int = 1) -> dict[str, Any]:
    """Operations per second of ``step(i)`` (each call does ``batch`` operations)."""
    step(0)  # warm-up: caches, prepared connections
    rates = []
    counter = 1
    for _ in range(RUNS):
        done = 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            step(counter)
            counter += 1
            done += batch
            now = time.perf_counter()
            if now >= deadline:
                break
        rates.append(done / (now - started))
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


# --- The bare baselines of perf-baseline.md §7 ------------------------------------------------


def sample_records(count: int = 1000) -> list[dict[str, Any]]:
    """Audit-like records of about 1 KB canonical JSON, as in perf-baseline.md §7."""
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


def bare_baselines() -> dict[str, Any]:
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

    return {
        "record_bytes": round(size),
        "sha256": rate(sha, batch=count),
        "hash_chain": rate(chain, batch=count),
        "canonical_json_chain": rate(json_chain, batch=count),
    }


# --- The portal's own code --------------------------------------------------------------------


def gate_engine(slug: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from evaluations.models import AIModel
    from governance import adapter
    from governance.gate import evaluate

    model = AIModel.objects.get(slug=slug)
    now = timezone.now()
    inp, _ = adapter.build_input(model, "scaling", None, now)
    verdict = evaluate(inp)
    if verdict.reasons and verdict.reasons[0].code == "internal_error":
        raise SystemExit(f"the gate engine failed on the bench input: {verdict.to_dict()}")
    with CaptureQueriesContext(connection) as queries:
        live, _ = adapter.build_input(model, "scaling", 3e24, now)
    return {
        "input": {
            "checkpoints": len(inp.evidence.checkpoints),
            "results": len(inp.evidence.results),
            "thresholds": len(inp.policy.thresholds) if inp.policy else 0,
            "safeguards": len(inp.safeguards),
            "state": verdict.state,
            "build_queries": len(queries),
        },
        "evaluate": rate(lambda i: evaluate(inp)),
        "evaluate_to_dict": rate(lambda i: evaluate(live).to_dict()),
        "build_input": rate(lambda i: adapter.build_input(model, "scaling", 3e24, now)),
    }


def audit_appends() -> dict[str, Any]:
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

    single = rate(one_per_transaction)
    batched = rate(hundred_per_transaction, batch=100)
    sizes = [
        len(body)
        for body in AuditEntry.objects.order_by("-seq").values_list("body", flat=True)[:200]
    ]
    return {
        "entry_bytes": round(sum(sizes) / len(sizes)),
        "one_per_transaction": single,
        "hundred_per_transaction": batched,
    }


def main(slug: str) -> dict[str, Any]:
    from django.db import connection

    bare = bare_baselines()
    result = {
        "database": connection.vendor,
        "bare": bare,
        "gate": gate_engine(slug),
        "audit": audit_appends(),
        "reference_doc": {"canonical_json_chain": 133_707, "hash_chain": 964_099},
        "at": datetime.now(UTC).isoformat(),
    }
    return result


if __name__ == "__main__":
    setup()
    json.dump(main(sys.argv[1] if len(sys.argv) > 1 else "bench-model"), sys.stdout)
    sys.stdout.write("\n")
