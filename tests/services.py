"""Real PostgreSQL, Redis and Celery worker processes for integration tests.

Tests marked ``services`` run only when DATABASE_URL points at PostgreSQL and REDIS_URL is set;
otherwise they are skipped with a reason. Each test process uses its own Celery queue
(``rsp_portal.test_settings``), so a stray worker from elsewhere never takes its messages.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

requires_services = pytest.mark.services


def services_available() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) and bool(
        os.environ.get("REDIS_URL")
    )


def worker_env() -> dict[str, str]:
    """Environment for a subprocess that must see the test database and queue."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "rsp_portal.test_settings",
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "CELERY_SIGNER_QUEUE": settings.CELERY_SIGNER_QUEUE,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


class WorkerProcess:
    """A real ``celery worker`` subprocess (prefork pool) consuming the session queue."""

    def __init__(self, concurrency: int = 2, extra_args: list[str] | None = None) -> None:
        self.log = Path(settings.TEST_VAR_DIR) / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "rsp_portal",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            "-Q",
            # One process for both queues in tests; production runs the signer on its own.
            f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_SIGNER_QUEUE}",
            f"--hostname=test-{uuid.uuid4().hex[:6]}@%h",
            *(extra_args or []),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        handle = self.log.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=worker_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log.read_bytes():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker did not become ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (main process and pool children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[WorkerProcess]:
    """A worker process for one test; the test's writes are committed, so it sees them."""
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    worker = WorkerProcess().start()
    try:
        yield worker
    finally:
        worker.stop()
