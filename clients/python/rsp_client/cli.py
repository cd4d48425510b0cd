"""``rsp-gate``: ask the RSP gate from a training pipeline, failing closed.

    rsp-gate check --model SLUG [--compute 3e25] [--scope scaling]
        exit 0  approved for that compute (and only then)
        exit 1  paused: every reason is printed, one per line
        exit 2  anything else: no answer, timeout, bad token, an answer that is not a gate
    rsp-gate report-checkpoint --model SLUG --name NAME --compute 3e25 [--step N] [--stage S]
    rsp-gate push-results FILE [--model SLUG --checkpoint NAME] [--mapping JSON]
        FILE is a log of any format the server imports (Inspect AI .eval/.json, lm-eval
        results_*.json, ...: the server says which), or the generic format: a JSON list of
        results, or {"results": [...]} (model/checkpoint default to the options)

Configured by RSP_URL and RSP_TOKEN (or --url and --token).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from rsp_client.client import DEFAULT_TIMEOUT, APIError, Client, Gate, RSPError

APPROVED, PAUSED, FAILED = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2 like every other failure (argparse's default is 2 as well)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"rsp-gate: error: {message}", file=sys.stderr)
        raise SystemExit(FAILED)


def _compute(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of FLOP: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rsp-gate", description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--url", help="portal URL (default: $RSP_URL)")
    parser.add_argument("--token", help="API token (default: $RSP_TOKEN)")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per attempt (10)"
    )
    parser.add_argument("--retries", type=int, default=2, help="retries of transient failures (2)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="exit 0 only if the gate is approved")
    check.add_argument("--model", required=True, help="model slug")
    check.add_argument("--compute", type=_compute, help="planned effective compute in FLOP")
    check.add_argument("--scope", default="scaling", choices=["scaling", "deployment"])
    check.add_argument("--json", action="store_true", help="print the gate answer as JSON")

    report = commands.add_parser("report-checkpoint", help="report a checkpoint")
    report.add_argument("--model", required=True)
    report.add_argument("--name", required=True)
    report.add_argument("--compute", required=True, type=_compute, help="effective FLOP")
    report.add_argument("--step", type=int)
    report.add_argument("--stage")

    push = commands.add_parser("push-results", help="push a results file")
    push.add_argument("file", type=Path)
    push.add_argument("--model", help="model slug (required for log files)")
    push.add_argument("--checkpoint", help="checkpoint name (required for log files)")
    push.add_argument("--mapping", help='JSON {"<scorer>/<metric>": "<metric key>"}')
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    err = sys.stderr
    try:
        client = _client(args)
        if args.command == "check":
            return _check(client, args, out)
        if args.command == "report-checkpoint":
            return _report(client, args, out)
        return _push(client, args, out)
    except RSPError as exc:
        print(f"rsp-gate: {_explain(exc)}", file=err)
        if args.command == "check":
            print("rsp-gate: failing closed: treat the gate as paused.", file=err)
        return FAILED
    except (OSError, ValueError) as exc:
        print(f"rsp-gate: {exc}", file=err)
        return FAILED
    except Exception as exc:  # fail closed on anything unforeseen, too
        print(f"rsp-gate: unexpected error: {exc!r}", file=err)
        return FAILED


def _client(args: argparse.Namespace) -> Client:
    import os

    return Client(
        args.url or os.environ.get("RSP_URL", ""),
        args.token or os.environ.get("RSP_TOKEN", ""),
        timeout=args.timeout,
        retries=args.retries,
    )


def _explain(exc: RSPError) -> str:
    if isinstance(exc, APIError) and exc.status == 401:
        return f"the token was refused ({exc})"
    if isinstance(exc, APIError) and exc.status == 403:
        return f"the token may not do this ({exc})"
    return str(exc)


def _check(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    gate = client.gate(args.model, scope=args.scope, compute=args.compute)
    if args.json:
        print(json.dumps(gate.raw, indent=2, sort_keys=True), file=out)
    if gate.approved:
        limit = gate.approved_compute_limit
        if args.compute is not None and limit is not None and args.compute > limit:
            # The server said approved for a compute above its own limit: do not trust it.
            raise RSPError(
                f"the gate answered approved for {args.compute:g} FLOP, above its approved "
                f"limit of {limit:g}"
            )
        print(f"approved: {_describe(gate, args.compute)}", file=out)
        return APPROVED
    print(f"paused: {_describe(gate, args.compute)}", file=out)
    for reason in gate.reasons or []:
        print(f"  - {reason.code}: {reason.message}", file=out)
    if not gate.reasons:
        print("  - (no reason given)", file=out)
    return PAUSED


def _describe(gate: Gate, compute: float | None) -> str:
    parts = [f"{gate.model} ({gate.scope})"]
    planned = compute if compute is not None else gate.planned_compute
    if planned is not None:
        parts.append(f"at {planned:g} FLOP")
    if gate.approved_compute_limit is not None:
        parts.append(f"approved up to {gate.approved_compute_limit:g} FLOP")
    if gate.policy_version:
        parts.append(f"policy {gate.policy_version}")
    return ", ".join(parts)


def _report(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    checkpoint = client.report_checkpoint(
        args.model, args.name, args.compute, step=args.step, stage=args.stage
    )
    print(
        f"reported: {checkpoint.model}/{checkpoint.name} at {checkpoint.effective_compute:g} FLOP",
        file=out,
    )
    if checkpoint.gate is not None:
        state = checkpoint.gate.state
        print(f"gate: {state}", file=out)
        for reason in checkpoint.gate.reasons:
            print(f"  - {reason.code}: {reason.message}", file=out)
    return 0


def _push(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.file
    # The server says what the file is (its format registry decides, not this client).
    if client.detect(path)["kind"] == "results":
        results = []
        for item in _generic_results(path):
            if not isinstance(item, dict):
                raise RSPError(f"{path}: every result must be a JSON object")
            filled = dict(item)
            if args.model and "model" not in filled:
                filled["model"] = args.model
            if args.checkpoint and "checkpoint" not in filled:
                filled["checkpoint"] = args.checkpoint
            results.append(filled)
        stored = client.push_results(results)
        print(f"stored {len(stored)} result(s) from {path.name}", file=out)
        return 0
    if not (args.model and args.checkpoint):
        raise RSPError(f"{path.name} is a log file: give --model and --checkpoint")
    mapping = json.loads(args.mapping) if args.mapping else None
    answer = client.import_log(path, args.model, args.checkpoint, mapping=mapping)
    print(str(answer.get("detail") or "imported"), file=out)
    return 0


def _generic_results(path: Path) -> list[object]:
    """The results of a file the server called the generic format: a JSON list of results,
    or an object whose ``results`` is one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RSPError(f"{path}: not JSON text ({exc})") from None
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        raise RSPError(f"{path}: expected a list of results")
    return list(data)


if __name__ == "__main__":
    raise SystemExit(main())
