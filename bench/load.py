"""Load generation for ``make bench``: one endpoint under wrk (or a threaded Python client when
wrk is missing), its samples and their summary (median rate, p50/p99 latency, errors)."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONNECTIONS = 16
THREADS = 2


class BenchError(RuntimeError):
    """A step failed; the message says which."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Endpoint:
    """One URL to load. ``compare`` names the baseline endpoint its ratio is taken against."""

    key: str
    server: str  # "app" or "baseline"
    path: str
    method: str = "GET"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200
    compare: str = ""
    target: str = ""  # the expected ratio to the matching baseline endpoint
    write: bool = False
    idempotency_keys: bool = False
    #: Bodies taken in turn, request by request (each connection starts at its own), instead
    #: of ``body``: the POSTs spread over several models.
    bodies: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        spread = f" (over {len(self.bodies)} bodies)" if self.bodies else ""
        server = "baseline" if self.server == "baseline" else "app"
        return f"{server} {self.method} {self.path}{spread}"


def request_once(port: int, ep: Endpoint, extra: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = ep.bodies[0] if ep.bodies else ep.body
        conn.request(ep.method, ep.path, body=body or None, headers={**ep.headers, **(extra or {})})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_ready(port: int, path: str, proc: Any, logfile: Path) -> None:
    deadline = time.monotonic() + 60
    probe = Endpoint("probe", "", path)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited early; log:\n{tail(logfile)}")
        try:
            if request_once(port, probe) == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"server on port {port} not ready after 60 s; log:\n{tail(logfile)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- Load generation ----------------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx responses and socket errors
    # CPU per request by part (bench/machine.py), filled in by the caller around the run.
    cpu_ms: dict[str, float] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise BenchError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_script(ep: Endpoint, path: Path) -> Path:
    lines = [f"wrk.method = {json.dumps(ep.method)}"]
    if ep.body:
        lines.append(f"wrk.body = {json.dumps(ep.body)}")
    for name, value in ep.headers.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    if ep.idempotency_keys or ep.bodies:
        # A fresh key per request (each wrk thread has its own Lua state and counter), and
        # the bodies in turn.
        bodies = ", ".join(json.dumps(b) for b in ep.bodies)
        lines += [
            f'local prefix = "{secrets.token_hex(6)}"',
            f"local bodies = {{{bodies}}}",
            "local threads = 0",
            "function setup(thread)",
            "  threads = threads + 1",
            '  thread:set("tid", threads)',
            "end",
            "local counter = 0",
            "function request()",
            "  counter = counter + 1",
        ]
        if ep.idempotency_keys:
            lines.append(
                '  wrk.headers["Idempotency-Key"] = prefix .. "-" .. tid .. "-" .. counter'
            )
        if ep.bodies:
            lines.append("  wrk.body = bodies[((counter + tid) % #bodies) + 1]")
        lines += ["  return wrk.format()", "end"]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(port: int, ep: Endpoint, seconds: int, workdir: Path) -> Sample:
    script = wrk_script(ep, workdir / f"{ep.key}.lua")
    argv = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{ep.path}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out:
        raise BenchError(f"wrk failed on {ep.label}:\n{out}\n{done.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _latency_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _latency_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Sample(rps=rps, p50_ms=p50, p99_ms=p99, requests=total, errors=errors)


def run_python_load(port: int, ep: Endpoint, seconds: int, workdir: Path) -> Sample:
    """Fallback when wrk is missing: CONNECTIONS threads with keep-alive where the server
    allows it. Slower than wrk (the GIL), so compare only ratios within one run."""
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]
    errors = [0] * CONNECTIONS
    prefix = secrets.token_hex(6)
    stop_at = time.perf_counter() + seconds

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        counter = 0
        while time.perf_counter() < stop_at:
            counter += 1
            headers = dict(ep.headers)
            if ep.idempotency_keys:
                headers["Idempotency-Key"] = f"{prefix}-{index}-{counter}"
            body = ep.bodies[(counter + index) % len(ep.bodies)] if ep.bodies else ep.body
            started = time.perf_counter()
            try:
                conn.request(ep.method, ep.path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            latencies[index].append(time.perf_counter() - started)
            if not ok:
                errors[index] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    merged = sorted(x for per in latencies for x in per)
    if not merged:
        raise BenchError(f"no request completed on {ep.label}")

    def pct(q: float) -> float:
        return merged[min(len(merged) - 1, int(q * len(merged)))] * 1000

    return Sample(
        rps=len(merged) / elapsed,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        requests=len(merged),
        errors=sum(errors),
    )


# --- Reporting ----------------------------------------------------------------------------------


def summarise(samples: list[Sample]) -> dict[str, Any]:
    rps = [s.rps for s in samples]
    return {
        "rps_median": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms": statistics.median(s.p50_ms for s in samples),
        "p99_ms": statistics.median(s.p99_ms for s in samples),
        "requests": sum(s.requests for s in samples),
        "errors": sum(s.errors for s in samples),
        "runs": [s.__dict__ for s in samples],
    }
