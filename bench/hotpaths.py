"""Profile the hot paths in-process (cProfile through the full WSGI handler and middleware).

Usage, against a database seeded with ``bench/seed.py`` (same environment)::

    DATABASE_URL=postgres://.../rsp_prof python bench/seed.py > seed.json
    DATABASE_URL=postgres://.../rsp_prof python bench/hotpaths.py seed.json [N]

Prints, per endpoint, the queries per request and the top lines of the profile by own time
and by cumulative time. BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import time
from typing import Any

from _django import setup

TOP = 18


def main(seed: dict[str, Any], count: int) -> None:
    from django.db import connection
    from django.test import Client

    slug = seed["slug"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {seed['token']}"}
    result = {
        "model": slug,
        "checkpoint": seed["checkpoint"],
        "metric": "cbrn.vct_accuracy",
        "value": 0.1,
        "stderr": 0.01,
        "n_samples": 200,
    }
    client = Client(HTTP_HOST="127.0.0.1")
    cases: list[tuple[str, Any]] = [
        ("healthz", lambda: client.get("/healthz")),
        ("gate", lambda: client.get(f"/api/v1/models/{slug}/gate/", **auth)),
        ("gate_compute", lambda: client.get(f"/api/v1/models/{slug}/gate/?compute=3e24", **auth)),
        ("policy", lambda: client.get("/api/v1/policy/", **auth)),
        ("results", lambda: client.get(f"/api/v1/results/?model={slug}", **auth)),
        (
            "result_post",
            lambda: client.post(
                "/api/v1/results/", data=json.dumps(result), content_type="application/json", **auth
            ),
        ),
    ]
    for name, call in cases:
        response = call()
        assert response.status_code in (200, 201), (name, response.status_code)
        queries: list[str] = []

        def capture(
            execute: Any, sql: str, params: Any, many: bool, context: Any, seen: list[str] = queries
        ) -> Any:
            seen.append(sql)
            return execute(sql, params, many, context)

        # A wrapper, not CaptureQueriesContext: request_started resets the captured log.
        with connection.execute_wrapper(capture):
            call()
        n = count if name != "result_post" else max(count // 4, 20)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(n):
            call()
        profiler.disable()
        elapsed = time.perf_counter() - started
        per_request = 1000 * elapsed / n
        print(f"\n## {name}: {len(queries)} queries, {per_request:.2f} ms/request (profiled)")
        for sort in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort)
            stats.print_stats(TOP)
            lines = out.getvalue().splitlines()
            start = next(i for i, line in enumerate(lines) if "ncalls" in line)
            print(f"\nby {sort}:")
            print("\n".join(lines[start : start + TOP + 1]))
        if "-v" in sys.argv:
            for sql in queries:
                print("   ", sql[:200])


if __name__ == "__main__":
    setup()
    with open(sys.argv[1]) as fh:
        seed_data = json.load(fh)
    main(seed_data, int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 200)
