"""A suite's command dies with the worker that runs it (issue 12, observation 7)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from suites.runner_command import run_in_own_group

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(path: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("the command never started")


def test_killing_the_worker_kills_its_command(tmp_path: Path):
    pidfile = tmp_path / "command.pid"
    worker = os.fork()
    if worker == 0:  # the "worker process": runs the command, then is SIGKILLed
        try:
            run_in_own_group([sys.executable, "-c", SLEEPER, str(pidfile)], tmp_path, 60)
        finally:
            os._exit(0)
    command = _wait_for(pidfile)
    assert _alive(command)
    os.kill(worker, signal.SIGKILL)
    os.waitpid(worker, 0)
    deadline = time.monotonic() + 5
    while _alive(command) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(command), "the suite's command outlived its worker"


def test_a_timeout_kills_the_whole_group(tmp_path: Path):
    import subprocess

    pidfile = tmp_path / "grandchild.pid"
    # The command starts a grandchild in the same group and exits; the grandchild would linger.
    script = (
        "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
        f"{SLEEPER!r}, sys.argv[1]]); import time; time.sleep(60)"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_own_group([sys.executable, "-c", script, str(pidfile)], tmp_path, 2)
    grandchild = _wait_for(pidfile)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
