"""The processes and databases of a benchmark: shared by ``run.py`` (``make bench``) and
``compare.py`` (``make bench-compare``).

Every process starts in a process group of its own and every database is a throwaway one, so
that a run cleans up after itself, Ctrl-C and errors included.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import machine  # bench/machine.py
from load import BenchError, Sample, log  # bench/load.py

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BASELINE_DIR = BENCH / "baseline_project"
BIN = Path(sys.executable).parent
# Override to run beside other benchmarks on a shared server (e.g. RSP_BENCH_DB=rsp_bench_16).
BENCH_DB = os.environ.get("RSP_BENCH_DB", "rsp_bench")
WORKERS = 2 * (os.cpu_count() or 1) + 1


class Processes:
    """Every long-running process this script starts, each in its own process group."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], *, env: dict[str, str], cwd: Path, logfile: Path) -> Any:
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                # Its own group: the gunicorn master and its workers, nothing else.
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.started.clear()


class Databases:
    """The throwaway databases: PostgreSQL when DATABASE_URL says so, else SQLite files."""

    def __init__(self, workdir: Path, name: str = BENCH_DB) -> None:
        url = os.environ.get("DATABASE_URL", "")
        self.names = (name, f"{name}_baseline")
        self.postgres = url.startswith(("postgres://", "postgresql://"))
        self.created: list[str] = []
        if self.postgres:
            parts = urlsplit(url)
            self._server = parts
            self.app_url = urlunsplit(parts._replace(path=f"/{self.names[0]}"))
            self.baseline_url = urlunsplit(parts._replace(path=f"/{self.names[1]}"))
        else:
            self.app_url = f"sqlite:///{workdir / 'app.sqlite3'}"
            self.baseline_url = f"sqlite:///{workdir / 'baseline.sqlite3'}"

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.postgres else "SQLite"

    def _admin(self) -> Any:
        import psycopg2

        # The maintenance database, or the one DATABASE_URL names if that is refused.
        last: Exception | None = None
        for name in ("postgres", self._server.path.lstrip("/")):
            try:
                conn = psycopg2.connect(urlunsplit(self._server._replace(path=f"/{name}")))
            except psycopg2.OperationalError as exc:
                last = exc
                continue
            conn.autocommit = True
            return conn
        raise BenchError(f"cannot reach PostgreSQL from DATABASE_URL: {last}")

    def create(self) -> None:
        if not self.postgres:
            return
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                for name in self.names:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    cur.execute(f'CREATE DATABASE "{name}"')
                    self.created.append(name)
        finally:
            conn.close()

    def drop(self) -> None:
        if not self.created:
            return
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                for name in self.created:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
        self.created.clear()

    def autoanalyze(self) -> list[str]:
        """ANALYZE the app's tables that autovacuum would analyze now, when the server's
        autovacuum is off; the tables analyzed.

        A statement prepared per connection keeps its generic plan until its tables are
        analyzed again. Planned on statistics taken while a table was empty (the seed analyzes
        the Idempotency-Key table before any key is stored), a unique-key lookup is kept as a
        sequential scan while the runs grow the table to thousands of rows: 2 ms a request
        instead of 0.02. A server whose autovacuum runs (PostgreSQL's default) analyzes a
        table once ``autovacuum_analyze_threshold`` + ``autovacuum_analyze_scale_factor`` x its
        rows have changed, and its plans follow; on a server where it is off, the bench applies
        the same rule before each run, so that it measures the plans a running server has.
        """
        if not self.postgres:
            return []
        import psycopg2

        conn = psycopg2.connect(self.app_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT current_setting('autovacuum')::bool, "
                    "current_setting('autovacuum_analyze_threshold')::float, "
                    "current_setting('autovacuum_analyze_scale_factor')::float"
                )
                running, threshold, scale = cur.fetchone()
                if running:
                    return []
                cur.execute(
                    "SELECT s.relname FROM pg_stat_user_tables s "
                    "JOIN pg_class c ON c.oid = s.relid "
                    "WHERE s.n_mod_since_analyze > %s + %s * greatest(c.reltuples, 0) "
                    "ORDER BY s.relname",
                    (threshold, scale),
                )
                tables = [name for (name,) in cur.fetchall()]
                for name in tables:
                    cur.execute(f'ANALYZE "{name}"')
        finally:
            conn.close()
        if tables:
            log(f"analyzed {', '.join(tables)} (autovacuum is off on this server)")
        return tables

    def server_version(self) -> str:
        if not self.postgres:
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return f"PostgreSQL {cur.fetchone()[0]}"
        finally:
            conn.close()


def free_port(offset: int = 0) -> int:
    """A free port; ``RSP_BENCH_PORT_BASE`` (e.g. 8190) fixes them on a shared machine."""
    base = os.environ.get("RSP_BENCH_PORT_BASE")
    if base:
        return int(base) + offset
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_step(argv: list[str], *, env: dict[str, str], cwd: Path, what: str) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def app_environment(dbs: Databases, workdir: Path, secret: str, queue: str) -> dict[str, str]:
    """The portal's settings for a benchmark: production's, on the throwaway database."""
    return {
        **os.environ,
        "DATABASE_URL": dbs.app_url,
        "DEBUG": "0",
        "RSP_DEMO": "0",
        "SECRET_KEY": secret,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "RSP_VAR_DIR": str(workdir / "var"),
        "STATIC_ROOT": str(workdir / "static"),
        "LOG_LEVEL": "WARNING",
        # A private queue: only the bench's own worker consumes it (the stored gate after
        # result writes, ADR 0052), and no shared worker sees bench ids.
        "CELERY_QUEUE": queue,
        # No beat re-verifies the trail during a bench: trust it without a time bound (the gate
        # still reads the latest verification, as in production).
        "AUDIT_VERIFY_MAX_AGE_SECONDS": "0",
    }


def baseline_environment(dbs: Databases, secret: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "baseline.settings",
        "BASELINE_DATABASE_URL": dbs.baseline_url,
        "BASELINE_SECRET_KEY": secret,
    }


def prepare(dbs: Databases, app_env: dict[str, str], baseline_env: dict[str, str]) -> Any:
    """Create, migrate and seed both databases; the seed's JSON (``seed.py``)."""
    python = str(BIN / "python")
    for folder in (app_env["RSP_VAR_DIR"], app_env["STATIC_ROOT"]):
        Path(folder).mkdir(parents=True, exist_ok=True)
    dbs.create()
    run_step([python, "manage.py", "migrate", "-v0"], env=app_env, cwd=ROOT, what="app migrate")
    run_step(
        [python, "manage.py", "migrate", "-v0"],
        env=baseline_env,
        cwd=BASELINE_DIR,
        what="baseline migrate",
    )
    seed = run_step([python, str(BENCH / "seed.py")], env=app_env, cwd=ROOT, what="seed")
    run_step(
        [python, "manage.py", "seed_items"], env=baseline_env, cwd=BASELINE_DIR, what="seed_items"
    )
    return json.loads(seed.strip())


def gunicorn(
    procs: Processes, wsgi: str, *, port: int, env: dict[str, str], cwd: Path, logfile: Path
) -> Any:
    """Gunicorn as production runs it: sync workers, 2 x cores + 1."""
    argv = [str(BIN / "gunicorn"), wsgi, "-b", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
    argv += ["--worker-class", "sync", "--backlog", "2048", "--log-level", "warning"]
    return procs.start(argv, env=env, cwd=cwd, logfile=logfile)


def celery_worker(
    procs: Processes, *, env: dict[str, str], cwd: Path, logfile: Path, name: str
) -> Any:
    """The portal's worker, as production runs it beside the web servers: after result writes
    it recomputes the stored gates (ADR 0052), on the same cores as everything measured."""
    argv = [str(BIN / "celery"), "-A", "rsp_portal", "worker", "--concurrency=2"]
    argv += ["--loglevel=WARNING", "--without-mingle", "--without-gossip"]
    argv += ["-Q", env["CELERY_QUEUE"], f"--hostname={name}@%h"]
    return procs.start(argv, env=env, cwd=cwd, logfile=logfile)


def measured(
    dbs: Databases, load: Callable[[], Sample], groups: dict[str, int]
) -> tuple[Sample, float]:
    """One run of ``load`` on a database analyzed as a running server's would be
    (:meth:`Databases.autoanalyze`): its sample, with the CPU each request cost ``groups`` and
    PostgreSQL, and the middle of the run (monotonic seconds: ``run.baseline_at``)."""
    dbs.autoanalyze()
    started, before = time.monotonic(), machine.cpu_seconds(groups)
    sample = load()
    sample.cpu_ms = machine.per_request(before, machine.cpu_seconds(groups), sample.requests)
    return sample, (started + time.monotonic()) / 2


def guarded(
    body: Callable[[], None],
    procs: Processes,
    dbs: Databases,
    workdir: Path,
    *,
    queues: list[str],
    keep: bool,
    also: Callable[[], None] | None = None,
) -> int:
    """Run ``body``, then clean up whatever happened (an error, Ctrl-C, SIGTERM): stop the
    processes, drop the databases and the queues, run ``also``, and remove ``workdir`` unless
    ``keep``. The exit status: 0 when ``body`` finished, else 1."""
    signal.signal(signal.SIGTERM, _interrupt)
    ok = False
    try:
        body()
        ok = True
    except BenchError as exc:
        log(f"FAILED: {exc}")
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
    finally:
        procs.stop_all()
        try:
            dbs.drop()
        except Exception as exc:  # report, but keep cleaning
            log(f"could not drop the bench databases: {exc}")
        for queue in queues:
            _purge_queue(queue)
        if also is not None:
            also()
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _purge_queue(queue: str) -> None:
    """With Redis as the broker, drop the private queue the bench's health probes filled."""
    url = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    if not url or not url.startswith(("redis://", "rediss://")):
        return
    try:
        import redis

        client = redis.Redis.from_url(url)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()
    except Exception as exc:
        log(f"could not delete the Redis queue {queue}: {exc}")
