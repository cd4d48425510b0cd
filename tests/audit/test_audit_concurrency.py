"""Many processes appending at once still give one gap-free chain (PostgreSQL only)."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.checkpoints import make_checkpoint, request_checkpoint
from audit.models import AuditCheckpoint, AuditEntry, LogHead
from audit.verify_bundle import generate_private_key_pem, load_private_key, public_key_pem
from tests.audit_support import append, audit_keys  # noqa: F401  (fixture)
from tests.services import ROOT, worker_env

PROCESSES = 8
APPENDS = 200

# Each process appends in its own short transactions, as web and worker processes do.
APPENDER = """
import sys
import django
django.setup()
from django.db import transaction
import audit
worker = int(sys.argv[1])
for i in range({appends}):
    with transaction.atomic():
        audit.record("test.concurrent", ("test.worker", worker), {{"i": i}}, actor=f"p{{worker}}")
"""


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_form_one_contiguous_verified_chain():
    script = APPENDER.format(appends=APPENDS)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(worker)],
            cwd=ROOT,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for worker in range(PROCESSES)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output.decode()[-3000:]

    total = PROCESSES * APPENDS
    rows = list(AuditEntry.objects.order_by("seq").values_list("seq", "object_id", "body"))
    assert [seq for seq, _, _ in rows] == list(range(total))
    # Each process's own appends keep their order within the shared sequence.
    for worker in range(PROCESSES):
        mine = [
            AuditEntry(body=body).parsed["data"]["i"] for _, oid, body in rows if oid == str(worker)
        ]
        assert mine == list(range(APPENDS))
    assert LogHead.objects.get(pk=1).size == total

    assert make_checkpoint().size == total
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().strip() == f"OK: {total} entries, 1 checkpoints"


@pytest.fixture
def worker_keys(tmp_path, monkeypatch, settings):
    """Keys the worker subprocess sees too (it reads them from its environment)."""
    private, public = tmp_path / "signing.pem", tmp_path / "public.pem"
    private.write_bytes(generate_private_key_pem())
    public.write_bytes(public_key_pem(load_private_key(private)))
    for name, path in (("AUDIT_SIGNING_KEY_FILE", private), ("AUDIT_PUBLIC_KEY_FILE", public)):
        monkeypatch.setenv(name, str(path))
        setattr(settings, name, path)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_signs_a_checkpoint_requested_after_commit(worker_keys, celery_worker):
    append(5)
    with transaction.atomic():
        request_checkpoint()
    deadline = time.monotonic() + 30
    while not AuditCheckpoint.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    checkpoint = AuditCheckpoint.objects.get()
    assert checkpoint.size == LogHead.objects.get(pk=1).size == 5
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().strip() == "OK: 5 entries, 1 checkpoints"
