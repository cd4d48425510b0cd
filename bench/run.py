"""``make bench``: the portal's speed as ratios against a bare Django baseline measured in the
same run, on the same machine, with the same load generator.

Timed assertions in tests are flaky on a shared VM; ratios to a baseline run side by side are
not. The baseline is ``bench/baseline_project/``; the target ratios are in ``endpoints()`` below.

What it does, all on loopback and cleaned up on exit (Ctrl-C and errors included):

1. A throwaway database: ``rsp_bench`` (+ ``rsp_bench_baseline``) on the PostgreSQL server of
   ``DATABASE_URL`` when it is set, else SQLite files under ``var/bench/``.
2. Migrates and seeds the portal through its own services (default policy, a model with
   checkpoints and results, verified baseline safeguards, an approved decision, a pipeline
   token) and the baseline project (10,000 rows).
3. Micro-benchmarks without HTTP (``bench/micro.py``): the gate engine and audit appends
   against the canonical-JSON + SHA-256 chain rate recomputed in-process.
4. Starts gunicorn (sync workers, 2 x cores + 1) for both projects, loads each endpoint with
   ``wrk`` (or a small threaded Python client when wrk is missing) and reports the median of
   the runs, p50/p99 latency and the ratio to the matching baseline endpoint.

Results: markdown on stdout and in ``var/bench/results-<timestamp>.md`` plus ``.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine  # bench/machine.py (the script's directory is on sys.path)
import report as issue_report  # bench/report.py
from load import (  # bench/load.py
    CONNECTIONS,
    THREADS,
    BenchError,
    Endpoint,
    Sample,
    log,
    request_once,
    run_python_load,
    run_wrk,
    summarise,
    wait_ready,
)
from servers import (  # bench/servers.py
    BASELINE_DIR,
    BENCH,
    BIN,
    ROOT,
    WORKERS,
    Databases,
    Processes,
    app_environment,
    baseline_environment,
    celery_worker,
    free_port,
    guarded,
    gunicorn,
    measured,
    prepare,
    run_step,
)

OUT_DIR = ROOT / "var" / "bench"


# --- Endpoints ----------------------------------------------------------------------------------


def endpoints(seed: dict[str, Any]) -> list[Endpoint]:
    slug = seed["slug"]
    auth = {"Authorization": f"Bearer {seed['token']}"}
    json_headers = {"Content-Type": "application/json"}
    item = {
        "name": "posted",
        "category": "bench",
        "description": "A row created by the benchmark's POST load; about a hundred characters of "
        "text.",
        "quantity": 7,
        "price": "12.50",
        "score": 0.5,
        "active": True,
        "created_at": "2026-11-23T12:00:00Z",
        "uid": "00000000-0000-0000-0000-00000000abcd",
        "code": "C-POSTED",
    }
    result = {
        "model": slug,
        "checkpoint": seed["checkpoint"],
        "metric": "cbrn.vct_accuracy",
        "value": 0.1,
        "stderr": 0.01,
        "n_samples": 200,
    }
    return [
        Endpoint("hello", "baseline", "/hello/"),
        Endpoint("pk", "baseline", "/pk/"),
        Endpoint("list", "baseline", "/api/items/"),
        Endpoint("healthz", "app", "/healthz", compare="pk", target="60-80 %"),
        Endpoint(
            "gate",
            "app",
            f"/api/v1/models/{slug}/gate/",
            headers=auth,
            compare="pk",
            target="40-60 %",
        ),
        Endpoint(
            "gate_compute",
            "app",
            f"/api/v1/models/{slug}/gate/?compute=3e24",
            headers=auth,
            compare="pk",
        ),
        Endpoint(
            "results",
            "app",
            f"/api/v1/results/?model={slug}",
            headers=auth,
            compare="list",
            target="70-90 %",
        ),
        Endpoint("policy", "app", "/api/v1/policy/", headers=auth, compare="pk"),
        # Writes last: they grow the tables the reads above look at.
        Endpoint(
            "create",
            "baseline",
            "/api/items/",
            method="POST",
            body=json.dumps(item),
            headers=json_headers,
            expect=201,
            write=True,
        ),
        Endpoint(
            "result_post",
            "app",
            "/api/v1/results/",
            method="POST",
            body=json.dumps(result),
            headers={**auth, **json_headers},
            expect=201,
            compare="create",
            target="25-55 %",
            write=True,
            idempotency_keys=True,
        ),
        Endpoint(
            "result_post_spread",
            "app",
            "/api/v1/results/",
            method="POST",
            bodies=[
                json.dumps({**result, "model": m["model"], "checkpoint": m["checkpoint"]})
                for m in seed["spread"]
            ],
            headers={**auth, **json_headers},
            expect=201,
            compare="create",
            target="35-55 %",
            write=True,
            idempotency_keys=True,
        ),
    ]


def pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def render(report: dict[str, Any]) -> str:
    m, cfg = report["machine"], report["config"]
    http_rows = report["http"]
    lines = [
        f"# RSP Portal benchmark, {report['started']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['os']}, kernel "
        f"{m['kernel']}; Python {m['python']}, Django {m['django']}, DRF "
        f"{m['djangorestframework']}, gunicorn {m['gunicorn']}; {m['database']}; "
        f"load: {m['load_tool']}.",
        f"Load average at start / end: {cfg['loadavg_start']} / {cfg['loadavg_end']} "
        "(other processes on this machine compete for the same cores; ratios absorb this, "
        "absolute numbers do not).",
        "",
        f"## HTTP: gunicorn sync x{cfg['workers']}, {cfg['connections']} connections, "
        f"{cfg['seconds']} s per run, median of {cfg['runs']} runs (a baseline: one closing run "
        "more)",
        "",
        "Ratios are app rps / baseline rps, both measured in this run: each app run is divided by "
        "its baseline's rate interpolated at the middle of the app run, between the baseline "
        "runs just before and after it (each round measures the baselines first, and a closing "
        "run of each follows the last round), and the median of those ratios is shown (min-max "
        "in brackets); the last column divides medians. Baselines: `/pk/` is one "
        "indexed-row SELECT in a plain JsonResponse view; `list` a DRF page of 50 ten-field rows "
        "(COUNT + LIMIT) out of 10,000; `create` a DRF ModelSerializer POST (one INSERT). "
        "Targets are the ratios a lean DRF app on this stack usually reaches.",
        "",
        "| endpoint | rps median (min-max) | p50 ms | p99 ms | errors | ratio to matching "
        "baseline | target | ratio to /pk/ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {row["key"]: row for row in http_rows if row["server"] == "baseline"}
    for row in http_rows:
        ratio = row.get("ratio")
        versus = "(baseline)"
        if ratio is not None:
            versus = (
                f"**{pct(ratio)}** ({pct(row['ratio_min'])}-{pct(row['ratio_max'])}) of "
                f"{row['compare']}"
            )
        vs_pk = pct(row["rps_median"] / base["pk"]["rps_median"]) if "pk" in base else "-"
        lines.append(
            f"| {row['label']} | {row['rps_median']:,.0f} ({row['rps_min']:,.0f}-"
            f"{row['rps_max']:,.0f}) | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['errors']} | {versus} | {row.get('target') or '-'} | {vs_pk} |"
        )
    lines += machine.render_cpu(http_rows)
    micro = report["micro"]
    bare = micro["bare"]
    denominator = bare["canonical_json_chain"]["median"]
    gate_in = micro["gate"]["input"]

    def mrow(label: str, figures: dict[str, float], ratio: bool = True) -> str:
        share = "-"
        if ratio:
            share = (
                f"{figures['ratio'] * 100:.2f} % ({figures['ratio_min'] * 100:.2f}-"
                f"{figures['ratio_max'] * 100:.2f})"
            )
        return (
            f"| {label} | {figures['median']:,.0f} | {figures['min']:,.0f}-{figures['max']:,.0f}"
            f" | {share} |"
        )

    reference = micro["reference_doc"]["canonical_json_chain"]
    lines += [
        "",
        f"## In-process ({micro['database']}), {micro['rounds']} interleaved rounds of "
        f"{micro['seconds']:g} s, median",
        "",
        "Ratio = rate / the canonical JSON + SHA-256 chain rate (bench/micro.py) "
        "(median of the ratios taken within each round; min-max in brackets) "
        f"recomputed now on ~{bare['record_bytes']:,}-byte records (this run: "
        f"{denominator:,.0f}/s, {denominator / reference * 100:.0f} % of the reference "
        f"document's {reference:,}/s). Gate input: {gate_in['checkpoints']} checkpoints, "
        f"{gate_in['results']} results, {gate_in['thresholds']} thresholds, "
        f"{gate_in['safeguards']} safeguards, verdict {gate_in['state']}. Audit entries "
        f"average {micro['audit']['entry_bytes']} bytes.",
        "",
        "| what | per second (median) | min-max | ratio to JSON + chain |",
        "|---|---|---|---|",
        mrow("bare: SHA-256 of a 1 KB record", bare["sha256"], ratio=False),
        mrow("bare: hash chain, pre-serialised", bare["hash_chain"], ratio=False),
        mrow("bare: canonical JSON + SHA-256 chain (denominator)", bare["canonical_json_chain"]),
        mrow("`governance.gate.evaluate` (stored-gate input)", micro["gate"]["evaluate"]),
        mrow("`evaluate(...).to_dict()`, compute=3e24", micro["gate"]["evaluate_to_dict"]),
        mrow(
            f"`adapter.build_input` (the gate's DB reads: {gate_in['build_queries']} queries)",
            micro["gate"]["build_input"],
        ),
        mrow(
            "`adapter.build_input` on the live inputs (the model and stamp: "
            f"{gate_in.get('live_build_queries', '?')} query; the reads cached under it)",
            micro["gate"]["build_input_live"],
        ),
        mrow(
            f"`adapter.build_input`, {gate_in.get('scale_results', 0):,} results on a child "
            f"model ({gate_in.get('scale_build_queries', '?')} queries)",
            micro["gate"]["build_input_scaled"],
        ),
        mrow("`audit.record`, one per transaction", micro["audit"]["one_per_transaction"]),
        mrow("`audit.record`, 100 per transaction", micro["audit"]["hundred_per_transaction"]),
        mrow("`audit.record`, 100 in one `audit.batch()`", micro["audit"]["hundred_batched"]),
        "",
    ]
    return "\n".join(lines)


# --- The run ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--runs", type=int, default=3, help="runs per endpoint (3)")
    parser.add_argument("--warmup", type=int, default=2, help="discarded warm-up, seconds (2)")
    parser.add_argument("--python-load", action="store_true", help="use the Python client")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, SQLite)")
    parser.add_argument("--no-scale", action="store_true", help="skip bench/scale.py")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick end-to-end check of the bench itself (3 s runs, 1 round, no warm-up, short "
        "micro-benchmarks, no scale); its figures mean nothing and bench/results.json is left "
        "alone",
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.runs, args.warmup, args.no_scale = 3, 1, 0, True
    return args


def baseline_at(runs: list[Sample], times: list[float], at: float) -> float:
    """A baseline's rate at the moment ``at``, interpolated between the runs measured just
    before and just after it (the nearest run's rate outside them).

    The machine's speed drifts during a run: a bench on a shared VM saw the bare create fall
    from 732 to 469 rps over its three write rounds. A round measures the baseline first and
    the app's endpoints after it, so dividing by the same round's baseline run credited the
    drift to the app, against it when the machine slows and for it when it speeds up. Each
    app run is instead divided by its baseline as interpolated at the app run's own middle,
    between two baseline runs around it (a closing run after the last round gives the last
    ones theirs)."""
    points = sorted(zip(times, (run.rps for run in runs), strict=True))
    if at <= points[0][0]:
        return points[0][1]
    for (t0, r0), (t1, r1) in itertools.pairwise(points):
        if at <= t1:
            return r0 + (r1 - r0) * (at - t0) / (t1 - t0)
    return points[-1][1]


def paired_ratios(
    runs: list[Sample], times: list[float], baseline: list[Sample], baseline_times: list[float]
) -> list[float]:
    """Each run's rate over its baseline's rate at the same moment (``baseline_at``)."""
    return [
        mine.rps / theirs
        for mine, at in zip(runs, times, strict=True)
        if (theirs := baseline_at(baseline, baseline_times, at)) > 0
    ]


def settle(app_env: dict[str, str]) -> None:
    """Before the servers are measured: the statistics a running database would have after
    the rows the seed and the scale figures wrote, and no backlog left for the worker."""
    python = str(BIN / "python")
    run_step([python, str(BENCH / "seed.py"), "--analyze"], env=app_env, cwd=ROOT, what="analyze")
    run_step([python, str(BENCH / "seed.py"), "--settle"], env=app_env, cwd=ROOT, what="settle")


def main() -> int:
    args = parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = OUT_DIR / f"run-{stamp}"
    workdir.mkdir(parents=True)
    procs = Processes()
    dbs = Databases(workdir)
    queue = f"rsp-bench-{os.getpid()}"
    started = time.monotonic()

    def body() -> None:
        report = bench(args, stamp, workdir, procs, dbs, queue)
        report["issue_table"] = issue_report.issue_table(report)
        markdown = render(report) + issue_report.render(report)
        (OUT_DIR / f"results-{stamp}.md").write_text(markdown)
        (OUT_DIR / f"results-{stamp}.json").write_text(json.dumps(report, indent=2))
        # The latest run's figures, committed beside BENCHMARKS.md (not a smoke run's).
        if not args.smoke:
            (BENCH / "results.json").write_text(json.dumps(report, indent=2) + "\n")
        print(markdown)
        log(
            f"done in {time.monotonic() - started:.0f} s; saved var/bench/results-{stamp}.md "
            "and .json"
        )

    return guarded(body, procs, dbs, workdir, queues=[queue], keep=args.keep)


def bench(
    args: argparse.Namespace,
    stamp: str,
    workdir: Path,
    procs: Processes,
    dbs: Databases,
    queue: str,
) -> dict[str, Any]:
    load_tool = "wrk" if shutil.which("wrk") and not args.python_load else "python"
    if load_tool == "python":
        log("wrk not found (apt-get install -y wrk); using the slower Python client")
    loadavg_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    secret = secrets.token_urlsafe(50)
    app_env = app_environment(dbs, workdir, secret, queue)
    baseline_env = baseline_environment(dbs, secret)
    python = str(BIN / "python")

    log(f"creating the {dbs.label} bench databases, migrating and seeding (the portal through")
    log("its own services, the baseline's 10,000 rows)")
    seed = prepare(dbs, app_env, baseline_env)
    if seed["gate_state"] != "approved":
        log(f"note: the seeded gate is {seed['gate_state']} ({', '.join(seed['gate_reasons'])})")

    log("micro-benchmarks (gate engine, audit appends, bare JSON + SHA-256 chain)")
    micro = json.loads(
        run_step(
            [python, str(BENCH / "micro.py"), seed["slug"]],
            env={**app_env, "RSP_BENCH_SMOKE": "1"} if args.smoke else app_env,
            cwd=ROOT,
            what="micro",
        )
    )

    scale = None
    if not args.no_scale:
        log("scale figures (bench/scale.py): 100-100,000 results, 1,000 models, bulk, writers")
        scale = json.loads(
            run_step([python, str(BENCH / "scale.py")], env=app_env, cwd=ROOT, what="scale")
        )

    settle(app_env)
    ports = {"app": free_port(0), "baseline": free_port(1)}
    servers = {
        "app": gunicorn(
            procs,
            "rsp_portal.wsgi:application",
            port=ports["app"],
            env=app_env,
            cwd=ROOT,
            logfile=workdir / "app.log",
        ),
        "baseline": gunicorn(
            procs,
            "baseline.wsgi:application",
            port=ports["baseline"],
            env=baseline_env,
            cwd=BASELINE_DIR,
            logfile=workdir / "baseline.log",
        ),
        "worker": celery_worker(
            procs,
            env=app_env,
            cwd=ROOT,
            logfile=workdir / "worker.log",
            name=f"bench-{secrets.token_hex(3)}",
        ),
    }
    wait_ready(ports["app"], "/healthz", servers["app"], workdir / "app.log")
    wait_ready(ports["baseline"], "/hello/", servers["baseline"], workdir / "baseline.log")

    eps = endpoints(seed)
    for ep in eps:  # every endpoint answers as expected before any load (no 3xx, no 4xx)
        extra = {"Idempotency-Key": f"probe-{secrets.token_hex(4)}"} if ep.idempotency_keys else {}
        got = request_once(ports[ep.server], ep, extra)
        if got != ep.expect:
            raise BenchError(f"{ep.label} answered {got}, expected {ep.expect}")

    loader = run_wrk if load_tool == "wrk" else run_python_load
    samples: dict[str, list[Sample]] = {ep.key: [] for ep in eps}
    # When each run was measured (the middle of its load, monotonic seconds).
    times: dict[str, list[float]] = {ep.key: [] for ep in eps}

    def measure(ep: Endpoint, run: str) -> None:
        sample, at = measured(
            dbs,
            lambda: loader(ports[ep.server], ep, args.seconds, workdir),
            {"web": servers[ep.server].pid, "worker": servers["worker"].pid},
        )
        times[ep.key].append(at)
        samples[ep.key].append(sample)
        log(
            f"{ep.label}: {sample.rps:,.0f} rps, p50 {sample.p50_ms:.2f} ms, "
            f"p99 {sample.p99_ms:.2f} ms, errors {sample.errors} ({run})"
        )

    # Reads are interleaved round by round so that a noisy minute hits app and baseline alike;
    # writes come after all reads because they grow the tables the reads look at.
    for group in ([ep for ep in eps if not ep.write], [ep for ep in eps if ep.write]):
        for round_no in range(args.runs):
            for ep in group:
                if round_no == 0 and args.warmup > 0:
                    loader(ports[ep.server], ep, args.warmup, workdir)
                measure(ep, f"run {round_no + 1}/{args.runs}")
        # A closing run of each baseline the group compares against, so that every app run
        # lies between two runs of its baseline (see ``baseline_at``).
        compared = {ep.compare for ep in group}
        for ep in group:
            if ep.key in compared:
                measure(ep, "closing run")

    # The worker kept up: every gate the writes left behind is stored again (ADR 0052).
    gates_settled = json.loads(
        run_step(
            [python, str(BENCH / "seed.py"), "--settled"], env=app_env, cwd=ROOT, what="settled"
        )
    )
    log(f"gates settled by the worker {gates_settled['seconds']} s after the writes")
    if gates_settled["behind"] or gates_settled["summaries"]:
        raise BenchError(
            f"{gates_settled['behind']} stored gates and {gates_settled['summaries']} evidence "
            "summaries still behind their results"
        )

    rows = []
    for ep in eps:
        row = {
            "key": ep.key,
            "server": ep.server,
            "label": ep.label,
            "compare": "",
            "target": ep.target,
            "compare_key": ep.compare,
            **summarise(samples[ep.key]),
            "cpu_ms": machine.median_cpu([s.cpu_ms for s in samples[ep.key]]),
        }
        rows.append(row)
    for ep, row in zip(eps, rows, strict=True):
        if ep.compare:
            other = next(e for e in eps if e.key == ep.compare)
            row["compare"] = f"{other.method} {other.path}"
            # Paired: each run against its baseline's rate at the same moment, then the median.
            paired = paired_ratios(
                samples[ep.key], times[ep.key], samples[ep.compare], times[ep.compare]
            )
            row["ratio"] = statistics.median(paired) if paired else 0.0
            row["ratio_min"] = min(paired, default=0.0)
            row["ratio_max"] = max(paired, default=0.0)

    return {
        "started": stamp,
        "machine": machine.machine_info(dbs.server_version(), load_tool),
        "config": {
            "workers": WORKERS,
            "worker_class": "sync",
            "connections": CONNECTIONS,
            "threads": THREADS,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "runs": args.runs,
            "loadavg_start": loadavg_start,
            "loadavg_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "seed": {k: v for k, v in seed.items() if k != "token"},
        },
        "http": rows,
        "gates_settled": gates_settled,
        "micro": micro,
        "scale": scale,
    }


if __name__ == "__main__":
    sys.exit(main())
