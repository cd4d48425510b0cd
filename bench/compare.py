"""``make bench-compare REF=<commit>``: this tree's code and another commit's, side by side.

``make bench`` measures one code at a time, and this machine's speed drifts by up to half
between runs, so two runs of ``make bench`` on two commits cannot tell a 5 % change from the
drift. Here both codes serve at once, from one database, beside the bare baseline, and their
runs alternate round by round:

1. REF is checked out in a git worktree under ``var/bench/``. Its migrations must be this
   tree's: both codes run on the one schema this tree migrates (a REF whose migrations differ
   is refused). It runs on this tree's virtualenv.
2. A throwaway database (``<RSP_BENCH_DB>_compare``, SQLite files when ``DATABASE_URL`` is not
   PostgreSQL), seeded as ``make bench`` seeds it.
3. Gunicorn (as ``make bench`` runs it) and a Celery worker on a queue of its own for each code,
   and gunicorn for the baseline.
4. Each round loads the baseline, then both codes, the order of the codes swapped every round;
   a closing baseline run follows. Each code's run is divided by the baseline's rate at the
   same moment (``run.baseline_at``), as in ``make bench``, and the CPU each request cost is
   read from ``/proc`` (``machine.py``).

Prints a markdown table and saves it as ``var/bench/compare-<timestamp>.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import machine  # bench/machine.py (the script's directory is on sys.path)
import servers  # bench/servers.py
from load import BenchError, Endpoint, Sample, log, request_once, run_wrk, wait_ready
from run import endpoints, paired_ratios, settle

OUT_DIR = servers.ROOT / "var" / "bench"
DEFAULT_ENDPOINTS = "result_post,result_post_spread"
#: The paths whose difference makes two codes unable to share one database.
SCHEMA = ":(glob)**/migrations/**"
CODES = ("this", "ref")


@dataclass
class Runs:
    """One endpoint's runs on one server: the samples and when each was measured."""

    samples: list[Sample] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def same_schema(ref: str, root: Path = servers.ROOT) -> None:
    """Refuse a REF whose migrations differ from this tree's (committed, staged, changed or
    new and not yet added)."""
    done = subprocess.run(
        ["git", "-C", str(root), "diff", "--quiet", ref, "--", SCHEMA],
        capture_output=True,
        text=True,
        check=False,
    )
    untracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "--", SCHEMA],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if done.returncode == 1 or (done.returncode == 0 and untracked):
        raise BenchError(
            f"{ref}'s migrations differ from this tree's (git diff {ref} -- '{SCHEMA}'): "
            "both codes must run on one schema; compare with a commit that has the same "
            "migrations"
        )
    if done.returncode != 0:
        raise BenchError(f"git cannot read {ref!r}: {done.stderr.strip()}")


def code_order(round_no: int) -> tuple[str, str]:
    """Which code goes first in a round: this tree in even rounds, REF in odd ones, so that
    neither always runs on the tables the other has just grown."""
    return ("this", "ref") if round_no % 2 == 0 else ("ref", "this")


def render(ref: str, eps: list[Endpoint], runs: dict[tuple[str, str], Runs]) -> str:
    """The table: per endpoint, each code's rate, p99, ratio to its baseline and CPU."""
    lines = [
        "| endpoint | code | rate, median (min-max) | p99 ms, median | ratio to the baseline "
        "(min-max) | CPU ms per request: web / worker / PostgreSQL / all |",
        "|---|---|---|---|---|---|",
    ]
    for ep in eps:
        base = runs[(ep.compare, "baseline")]
        for code in CODES:
            mine = runs[(ep.key, code)]
            rates = [s.rps for s in mine.samples]
            ratios = paired_ratios(mine.samples, mine.times, base.samples, base.times)
            cpu = machine.median_cpu([s.cpu_ms for s in mine.samples])
            spent = " / ".join(f"{cpu[part]:.2f}" for part in machine.PARTS) if cpu else "-"
            total = f" / {sum(cpu.values()):.2f}" if cpu else ""
            errors = sum(s.errors for s in mine.samples)
            label = "this tree" if code == "this" else ref
            lines.append(
                f"| {ep.key} | {label} | {statistics.median(rates):,.0f} ({min(rates):,.0f}-"
                f"{max(rates):,.0f}){f', {errors} errors' if errors else ''} | "
                f"{statistics.median(s.p99_ms for s in mine.samples):.1f} | "
                f"{statistics.median(ratios) * 100:.1f} % ({min(ratios) * 100:.1f}-"
                f"{max(ratios) * 100:.1f} %) | {spent}{total} |"
            )
    return "\n".join(lines) + "\n"


def compare(
    args: argparse.Namespace, workdir: Path, procs: servers.Processes, dbs: servers.Databases
) -> str:
    same_schema(args.ref)
    tree = workdir / "ref"
    subprocess.run(
        [
            "git",
            "-C",
            str(servers.ROOT),
            "worktree",
            "add",
            "--detach",
            "--quiet",
            str(tree),
            args.ref,
        ],
        check=True,
    )
    secret = secrets.token_urlsafe(50)
    queue = _queue()
    # One var directory (its signing key) and one secret, as two releases of one deployment
    # would share; a queue each, so that each code's worker recomputes its own writes' gates.
    envs = {
        code: servers.app_environment(dbs, workdir, secret, f"{queue}-{code}") for code in CODES
    }
    baseline_env = servers.baseline_environment(dbs, secret)
    log(f"creating the {dbs.label} databases, migrating and seeding")
    seed = servers.prepare(dbs, envs["this"], baseline_env)
    settle(envs["this"])

    roots = {"this": servers.ROOT, "ref": tree}
    ports = {
        "baseline": servers.free_port(0),
        "this": servers.free_port(1),
        "ref": servers.free_port(2),
    }
    web = {
        "baseline": servers.gunicorn(
            procs,
            "baseline.wsgi:application",
            port=ports["baseline"],
            env=baseline_env,
            cwd=servers.BASELINE_DIR,
            logfile=workdir / "baseline.log",
        )
    }
    workers = {}
    for code in CODES[::-1] if os.environ.get("SWAP") else CODES:
        web[code] = servers.gunicorn(
            procs,
            "rsp_portal.wsgi:application",
            port=ports[code],
            env=envs[code],
            cwd=roots[code],
            logfile=workdir / f"{code}.log",
        )
        workers[code] = servers.celery_worker(
            procs,
            env=envs[code],
            cwd=roots[code],
            logfile=workdir / f"{code}-worker.log",
            name=f"compare-{code}-{secrets.token_hex(3)}",
        )
    wait_ready(ports["baseline"], "/hello/", web["baseline"], workdir / "baseline.log")
    for code in CODES:
        wait_ready(ports[code], "/healthz", web[code], workdir / f"{code}.log")

    by_key = {ep.key: ep for ep in endpoints(seed)}
    measurable = sorted(key for key, ep in by_key.items() if ep.compare)
    unknown = [key for key in args.endpoints if key not in measurable]
    if unknown:
        raise BenchError(f"unknown endpoints {unknown}: choose among {measurable}")
    chosen = [by_key[key] for key in args.endpoints]
    bases = [by_key[key] for key in dict.fromkeys(ep.compare for ep in chosen)]
    for ep, server in [(ep, "baseline") for ep in bases] + [
        (ep, code) for ep in chosen for code in CODES
    ]:
        extra = {"Idempotency-Key": f"probe-{secrets.token_hex(4)}"} if ep.idempotency_keys else {}
        got = request_once(ports[server], ep, extra)
        if got != ep.expect:
            raise BenchError(f"{server}: {ep.label} answered {got}, expected {ep.expect}")

    runs: dict[tuple[str, str], Runs] = {}

    def measure(ep: Endpoint, server: str) -> None:
        groups = {"web": web[server].pid}
        if server in workers:
            groups["worker"] = workers[server].pid
        sample, at = servers.measured(
            dbs, lambda: run_wrk(ports[server], ep, args.seconds, workdir), groups
        )
        got = runs.setdefault((ep.key, server), Runs())
        got.samples.append(sample)
        got.times.append(at)
        spent = ", ".join(f"{part} {ms:.2f}" for part, ms in sample.cpu_ms.items())
        log(
            f"{server}: {ep.label}: {sample.rps:,.0f} rps, p99 {sample.p99_ms:.1f} ms; "
            f"CPU ms {spent}"
        )

    for round_no in range(args.rounds):
        for ep in bases:
            measure(ep, "baseline")
        for ep, code in itertools.product(chosen, code_order(round_no)):
            if round_no == 0 and args.warmup:
                run_wrk(ports[code], ep, args.warmup, workdir)
            measure(ep, code)
    for ep in bases:
        measure(ep, "baseline")
    return render(args.ref, chosen, runs)


def _queue() -> str:
    return f"rsp-compare-{os.getpid()}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("ref", help="the commit to compare this tree's code with")
    parser.add_argument(
        "--endpoints",
        default=DEFAULT_ENDPOINTS,
        type=lambda text: [key.strip() for key in text.split(",") if key.strip()],
        help=f"the app endpoints of bench/run.py to load, comma-separated ({DEFAULT_ENDPOINTS})",
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds (4)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=int, default=2, help="discarded warm-up, seconds (2)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk"):
        log("wrk is needed: apt-get install -y wrk")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = OUT_DIR / f"compare-{stamp}"
    workdir.mkdir(parents=True)
    procs = servers.Processes()
    dbs = servers.Databases(workdir, name=f"{servers.BENCH_DB}_compare")

    def body() -> None:
        table = compare(args, workdir, procs, dbs)
        heading = f"# This tree against {args.ref}, {stamp}\n\n"
        (OUT_DIR / f"compare-{stamp}.md").write_text(heading + table)
        print(heading + table)

    def remove_worktree() -> None:
        tree = workdir / "ref"
        if tree.exists():
            git = ["git", "-C", str(servers.ROOT)]
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)

    queues = [f"{_queue()}-{code}" for code in CODES]
    return servers.guarded(
        body, procs, dbs, workdir, queues=queues, keep=args.keep, also=remove_worktree
    )


if __name__ == "__main__":
    sys.exit(main())
