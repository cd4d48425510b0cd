"""A training loop wired to the RSP gate (uses only ``rsp_client`` from clients/python).

Before each step it asks the gate whether training may continue to the step's effective
compute, and stops when the gate is paused or cannot be asked (fail closed). After each step
it reports the checkpoint and pushes the step's evaluation results. Configured by RSP_URL and
RSP_TOKEN (a token with the evidence:write and gate:read scopes)::

    python examples/training_loop.py --model atlas --steps 10 --flop-per-step 5e23 \
        --evals evals.json      # {"<metric key>": value, ...}: stands in for an eval harness

Exit status: 0 when every step ran, 1 when the gate paused training, 2 when the portal could
not be asked or refused the evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rsp_client import Client, RSPError


def evaluate(evals: dict[str, float], model: str, checkpoint: str) -> list[dict[str, Any]]:
    """The step's evaluation results; a real loop runs its eval harness here."""
    return [
        {"model": model, "checkpoint": checkpoint, "metric": metric, "value": value}
        for metric, value in evals.items()
    ]


def train(
    client: Client, model: str, steps: int, flop_per_step: float, evals: dict[str, float]
) -> int:
    client.register_model(model, exist_ok=True)
    for step in range(1, steps + 1):
        compute = step * flop_per_step
        gate = client.gate(model, compute=compute)  # raises RSPError when it cannot be asked
        if not gate.approved:
            print(f"step {step}: the gate paused training at {compute:g} FLOP")
            for reason in gate.reasons:
                print(f"  - {reason.code}: {reason.message}")
            return 1
        # ... one step of training would run here ...
        name = f"step-{step}"
        client.report_checkpoint(model, name, compute, step=step)
        if evals:
            client.push_results(evaluate(evals, model, name))
        print(f"step {step}: trained to {compute:g} FLOP, reported {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--model", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--flop-per-step", type=float, default=1e24)
    parser.add_argument("--evals", type=Path, help="JSON object of metric key to value")
    args = parser.parse_args(argv)
    evals = json.loads(args.evals.read_text()) if args.evals else {}
    try:
        return train(Client.from_env(), args.model, args.steps, args.flop_per_step, evals)
    except RSPError as exc:
        print(f"stopping: cannot rely on the gate ({exc})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
