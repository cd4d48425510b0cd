"""Builders for suite tests: command suites, waiting for runs, a private Redis server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from evaluations.models import AIModel
from suites import services as suites
from suites.models import EvalSuite, SuiteRun

# What the test commands print, and how the suites map it.
METRICS = {
    "ctf/accuracy": "cyber.ctf_solve_rate",
    "swe/accuracy": "autonomy.swe_task_success",
}


#: The allow-listed command of the test deployment (``SUITE_COMMANDS`` in test settings).
TEST_COMMAND = "emit-metrics"


def command_config(values: dict[str, float], sleep: float = 0.0) -> dict[str, Any]:
    """A command that (after ``sleep`` seconds) prints ``values`` as a metrics JSON object."""
    return {"command": TEST_COMMAND, "args": [json.dumps(values), "--sleep", str(sleep)]}


def failing_config(message: str = "boom: the scorer crashed") -> dict[str, Any]:
    return {"command": TEST_COMMAND, "args": ["--fail", message]}


def make_suite(
    slug: str = "cmd-suite",
    *,
    targets: list[AIModel],
    config: dict[str, Any] | None = None,
    schedule: str = "",
    max_attempts: int = 3,
    timeout: int = 60,
    metrics: dict[str, str] | None = None,
    actor: Any = None,
) -> EvalSuite:
    return suites.save_suite(
        slug=slug,
        name=slug.replace("-", " ").title(),
        metrics=metrics or METRICS,
        runner="command",
        config={
            **(config or command_config({"ctf/accuracy": 0.2, "swe/accuracy": 0.1})),
            "timeout": timeout,
        },
        targets=targets,
        schedule=schedule,
        max_attempts=max_attempts,
        actor=actor,
    )


def wait_for(
    run_id: int,
    statuses: set[str],
    timeout: float = 40.0,
    tick: Any = None,
) -> SuiteRun:
    """Poll the run until its status is one of ``statuses``; ``tick`` runs each second."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = SuiteRun.objects.get(pk=run_id)
        if last.status in statuses:
            return last
        if tick is not None:
            tick()
        time.sleep(0.5)
    raise AssertionError(
        f"run {run_id} did not reach {statuses} in {timeout} s; it is {last and last.status}: "
        f"{last and last.error}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on loopback, which a test may stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as abrupt as a crash; its data (none kept) is gone
            self.proc.wait(timeout=10)
        self.proc = None


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the web side) at another broker for a block."""
    from kombu import pools as kombu_pools

    from rsp_portal.celery import app

    def reset() -> None:
        # kombu keeps connection pools in a global registry keyed by broker URL: closing one
        # without clearing the registry would hand the closed pool back on the next publish.
        kombu_pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    # Not app.conf.broker_url: Celery lets a CELERY_BROKER_URL environment variable (which a
    # test may have set for its worker) override it, and that must not outlive the block.
    previous = settings.CELERY_BROKER_URL
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = previous
