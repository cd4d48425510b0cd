"""Two real `celery beat` processes tick the same schedule: each slot still runs once."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from suites.models import SuiteRun
from tests.governance_fixtures import activate_default_policy, make_model
from tests.services import ROOT, WorkerProcess, services_available, worker_env
from tests.suite_fixtures import make_suite

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class BeatProcess:
    """A `celery beat` subprocess with the database scheduler, on the test database."""

    def __init__(self, schedule_dir: Path) -> None:
        self.log = Path(settings.TEST_VAR_DIR) / f"beat-{uuid.uuid4().hex[:6]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "rsp_portal",
            "beat",
            "--loglevel=INFO",
            f"--schedule={schedule_dir / uuid.uuid4().hex}",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BeatProcess:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=worker_env(),
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def sent(self) -> int:
        """Schedule ticks this beat sent for suites."""
        return self.log.read_text(errors="replace").count("evaluations.run_scheduled_suite")


@pytest.fixture
def two_beats(tmp_path: Path) -> Iterator[tuple[BeatProcess, BeatProcess]]:
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    beats = (BeatProcess(tmp_path).start(), BeatProcess(tmp_path).start())
    try:
        yield beats
    finally:
        for beat in beats:
            beat.stop()


def test_two_beat_processes_make_one_run_per_suite_model_and_slot(two_beats):
    activate_default_policy()
    model = make_model("atlas")
    suite = make_suite("every-minute", targets=[model], schedule="* * * * *")
    worker = WorkerProcess().start()
    try:
        # Both beats tick at the next minute boundary (or the one after, if they start late).
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            done = SuiteRun.objects.filter(suite=suite, status=SuiteRun.Status.SUCCEEDED)
            if done.exists() and all(beat.sent() >= 1 for beat in two_beats):
                break
            time.sleep(1)
        else:
            pytest.fail(
                f"no slot ran with both beats ticking; beats sent {[b.sent() for b in two_beats]}"
            )
    finally:
        worker.stop()
    slots = list(SuiteRun.objects.filter(suite=suite).values_list("model_id", "scheduled_for"))
    assert len(slots) == len(set(slots)), slots  # never two runs for one (model, slot)
    first_slot = min(slot for _, slot in slots)
    assert SuiteRun.objects.filter(suite=suite, scheduled_for=first_slot).count() == 1
