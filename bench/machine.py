"""What the bench reads off the machine: its description, and the CPU its processes spend.

The CPU figures are read from ``/proc`` (Linux) around each run: the user and system time of
the server's process group (the gunicorn master and its workers), of the portal's worker
(its group), and of every ``postgres`` process when the database is a local PostgreSQL. Per
request they are much steadier than a rate on a shared machine: a neighbour that takes the
cores slows the requests, not the CPU each one needs.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
#: The parts whose CPU is measured, in the order they are shown.
PARTS = ("web", "worker", "postgres")


def machine_info(database: str, load_tool: str) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = 0.0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    os_name = platform.platform()
    with open("/etc/os-release") as release:
        for line in release:
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    if load_tool == "wrk":
        first = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        tool = (first.stdout or first.stderr).splitlines()[0].split(" Copyright")[0]
    else:
        tool = "python threads (wrk not installed)"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_gb, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": version("Django"),
        "djangorestframework": version("djangorestframework"),
        "gunicorn": version("gunicorn"),
        "database": database,
        "load_tool": tool,
    }


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds spent so far by each named process group, and by PostgreSQL's processes.

    Each process counts its own time and that of its children that ended and were reaped
    (``cutime``, ``cstime``): a PostgreSQL backend that ``CONN_MAX_AGE`` closed during a run
    passes its time to the postmaster, and a gunicorn worker that was replaced to its master,
    instead of taking it out of the sum (the bench read -7 ms per request). A process whose
    parent is outside the groups (a session's leader that ended) still takes its time with it.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    spent = dict.fromkeys(PARTS, 0.0)
    by_group = {pgid: name for name, pgid in groups.items()}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name, _, rest = text.rpartition(")")
        fields = rest.split()
        # Fields after the name: state ppid pgrp ...; utime, stime, cutime and cstime are the
        # 12th to 15th.
        used = sum(int(field) for field in fields[11:15]) / ticks
        part = by_group.get(int(fields[2]))
        if part is None and name.endswith("(postgres"):
            part = "postgres"
        if part is not None:
            spent[part] += used
    return spent


def per_request(
    before: dict[str, float], after: dict[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request for each part between two readings."""
    if requests <= 0:
        return {}
    return {part: (after[part] - before[part]) * 1000 / requests for part in PARTS}


def median_cpu(runs: list[dict[str, float]]) -> dict[str, float]:
    measured = [run for run in runs if run]
    if not measured:
        return {}
    return {part: statistics.median(run[part] for run in measured) for part in PARTS}


def render_cpu(rows: list[dict[str, Any]]) -> list[str]:
    """The table of CPU per request, with the app's cost against its baseline's."""
    by_key = {row["key"]: row for row in rows}
    lines = [
        "",
        "## CPU per request (ms, median of the runs)",
        "",
        "Read from `/proc` around each run (`bench/machine.py`): the server's processes, the "
        "portal's worker, and PostgreSQL's processes (all of them, when local). The last column "
        "divides the baseline's CPU per request by the app's: the ratio the rate would have on "
        "a machine the load kept busy, free of the machine's drift between runs.",
        "",
        "| endpoint | web | worker | PostgreSQL | all | baseline's / app's |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cpu = row.get("cpu_ms") or {}
        if not cpu:
            continue
        total = sum(cpu.values())
        versus = "-"
        other = by_key.get(row.get("compare_key") or "")
        if other and other.get("cpu_ms") and total > 0:
            versus = f"{sum(other['cpu_ms'].values()) / total * 100:.0f} %"
        lines.append(
            f"| {row['label']} | {cpu['web']:.2f} | {cpu['worker']:.2f} | "
            f"{cpu['postgres']:.2f} | {total:.2f} | {versus} |"
        )
    return lines
