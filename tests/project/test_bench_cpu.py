"""``make bench`` reads the CPU each part spends per request (``bench/machine.py``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench_support import bench_module

# Waits for "go", spends 0.3 s of CPU (not a wait: the count must move), says so, and stays
# alive until its input closes.
BURN = """
import sys, time
sys.stdin.readline()
spent = time.process_time()
while time.process_time() - spent < 0.3:
    sum(range(10_000))
print("done", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def machine() -> Any:
    with bench_module("machine") as module:
        yield module


@contextmanager
def _started(script: str) -> Iterator[tuple[int, Callable[[], None]]]:
    """``script`` in a process group of its own: yields its pid (the group's id) and a
    function that says "go" and waits for "done"."""
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def go() -> None:
        stdin.write("go\n")
        stdin.flush()
        assert stdout.readline() == "done\n"

    try:
        yield process.pid, go
    finally:
        stdin.close()
        process.wait(10)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_a_groups_cpu_grows_by_what_its_processes_spend(machine: ModuleType) -> None:
    """A process group of its own: in the test run's group, a process that ended between the
    two readings took its CPU out of the count (CI saw the count fall)."""
    with _started(BURN) as (pid, go):
        before = machine.cpu_seconds({"web": pid})
        go()
        after = machine.cpu_seconds({"web": pid})  # the burner still runs: its time counts
    assert after["web"] - before["web"] >= 0.2
    assert set(after) == {"web", "worker", "postgres"}
    assert after["worker"] == 0.0  # no process of that group is named


# A leader that, on "go", runs BURN in a child of its own and waits for it to end (as the
# postmaster reaps a backend that CONN_MAX_AGE closed, or gunicorn's master a worker).
REAPER = f"""
import subprocess, sys
sys.stdin.readline()
child = subprocess.Popen(
    [sys.executable, "-c", {BURN!r}], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
)
child.stdin.write("go\\n")
child.stdin.close()
child.wait()
print("done", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_a_process_that_ended_between_the_readings_still_counts(machine: ModuleType) -> None:
    """A PostgreSQL backend closed by CONN_MAX_AGE during a run took its CPU out of the sum:
    the bench read negative CPU per request (-7 ms). The time of a child that ended and was
    reaped is its parent's (cutime, cstime), and is counted there."""
    with _started(REAPER) as (pid, go):
        before = machine.cpu_seconds({"web": pid})
        go()  # the child burned, ended and was reaped
        after = machine.cpu_seconds({"web": pid})
    assert after["web"] - before["web"] >= 0.2


def test_per_request_and_the_median(machine: ModuleType) -> None:
    before = {"web": 1.0, "worker": 0.5, "postgres": 2.0}
    after = {"web": 2.0, "worker": 0.6, "postgres": 2.5}
    assert machine.per_request(before, after, 500) == pytest.approx(
        {"web": 2.0, "worker": 0.2, "postgres": 1.0}
    )
    assert machine.per_request(before, after, 0) == {}
    runs = [
        {"web": 3.0, "worker": 0.1, "postgres": 1.0},
        {},
        {"web": 1.0, "worker": 0.3, "postgres": 2.0},
    ]
    assert machine.median_cpu(runs) == {"web": 2.0, "worker": 0.2, "postgres": 1.5}
    assert machine.median_cpu([{}]) == {}


def test_the_table_divides_the_baselines_cpu_by_the_apps(machine: ModuleType) -> None:
    rows = [
        {
            "key": "create",
            "label": "baseline POST",
            "cpu_ms": {"web": 2.0, "worker": 0.0, "postgres": 0.5},
        },
        {
            "key": "post",
            "label": "app POST",
            "compare_key": "create",
            "cpu_ms": {"web": 4.0, "worker": 0.5, "postgres": 1.5},
        },
        {"key": "unmeasured", "label": "none", "cpu_ms": {}},
    ]
    table = "\n".join(machine.render_cpu(rows))
    assert "| app POST | 4.00 | 0.50 | 1.50 | 6.00 | 42 % |" in table
    assert "| baseline POST | 2.00 | 0.00 | 0.50 | 2.50 | - |" in table
    assert "none" not in table
