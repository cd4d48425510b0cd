"""Notifications people can act on: only on a real change, one digest per burst, subjects in
words for every event kind, links that work (issue 27 obs 5). The last test uses real
PostgreSQL, Redis and a Celery worker process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.models import OutboxMessage, OutboxStatus, User
from governance import notifications
from governance.emails import SUBJECTS, render_email
from governance.models import Channel, DecisionStatus, Notification
from governance.tasks import send_notification
from tests.conftest import set_email
from tests.governance_fixtures import activate_default_policy, make_model
from tests.services import WorkerProcess, services_available

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("core", "evaluations", "governance", "policies", "audit", "suites", "accountability")
RAW_CODE = re.compile(r"\b[a-z_]+\.[a-z_]+\b")
SAMPLE = {
    "model": "atlas",
    "scope": "scaling",
    "from": "approved",
    "to": "paused",
    "reasons": [{"code": "manual_pause", "message": "Paused by rso: incident"}],
    "decision": 7,
    "status": "approved",
    "reason": "signed",
    "compute_limit": 1e25,
    "required_titles": ["RSO", "CEO"],
    "determinations": {"CBRN-3": "crossed"},
    "user": "carol",
    "titles": ["CFO"],
    "by": "rso",
    "kind": "password",
    "hours": 72,
    "activation": 3,
    "version": 2,
    "loosenings": [],
    "tampered": ["scaling"],
    "differs": [],
    "cause": "result.create",
}


def _events_that_notify() -> set[str]:
    """Every event name the code hands to ``notify`` (directly, as a Notice or an announcement)."""
    found: set[str] = set()
    call = re.compile(r'(?:notify|Notice|_announce)\(\s*f?"([a-z_.{}]+)"')
    for app in SOURCES:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for name in call.findall(path.read_text()):
                if "{status}" in name:
                    found |= {
                        name.replace("{status}", s) for s in DecisionStatus.values if s != "pending"
                    }
                else:
                    found.add(name)
    return found


def test_every_event_kind_that_notifies_has_a_subject_in_words():
    events = _events_that_notify()
    assert {"gate.transition", "title.granted", "decision.requested"} <= events
    for event in sorted(events | {"warning.crossed"}):
        assert event in SUBJECTS, f"{event} has no subject"
        subject, text = render_email(event, {"event": event, **SAMPLE})
        assert not RAW_CODE.search(subject), (event, subject)
        assert "?" not in subject and event not in subject, (event, subject)
        assert "/models//" not in text and event not in text.split("\n")[0], (event, text)


def test_an_unknown_event_still_has_a_subject_in_words():
    subject, _ = render_email("something.new", {"model": "atlas"})
    assert "something.new" not in subject


def test_a_mail_without_a_model_links_no_empty_model_page():
    _, text = render_email("title.granted", {"user": "carol", "titles": ["CFO"], "by": "rso"})
    assert "/models//" not in text
    assert "/account/titles/" in text


def test_a_paused_gate_whose_reasons_change_says_so_instead_of_is_now_paused():
    subject, text = render_email("gate.transition", {**SAMPLE, "from": "paused", "to": "paused"})
    assert "is now paused" not in subject
    assert "still paused" in subject and "reasons changed" in subject
    assert "went from paused to paused" not in text


@pytest.fixture
def burst_settings(settings):
    settings.NOTIFY_DIGEST_SECONDS = 60
    return settings


@pytest.mark.django_db
def test_a_burst_of_mails_to_the_same_people_is_one_digest(
    burst_settings, safety, rso, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr(outbox, "_send", lambda m: sent.append(m.pk))
    for user, email in ((safety, "safety@example.org"), (rso, "rso@example.org")):
        set_email(user, email)
    with django_capture_on_commit_callbacks(execute=True):
        for slug in ("atlas", "borealis", "cirrus"):
            with transaction.atomic():
                notifications.notify(
                    "gate.transition", {**SAMPLE, "model": slug, "from": "", "to": "paused"}
                )
    rows = list(Notification.objects.filter(channel=Channel.EMAIL))
    assert len(rows) == 3
    assert len({r.message_id for r in rows}) == 1, "one outbox message carries the burst"
    message = OutboxMessage.objects.get()
    assert sent == [] and message.available_at > timezone.now() + timedelta(seconds=30)

    send_notification.run(outbox_id=message.pk)
    [digest] = mail.outbox
    assert "3 updates" in digest.subject
    for slug in ("atlas", "borealis", "cirrus"):
        assert f"Gate of {slug} is now paused" in digest.body
        assert f"/models/{slug}/" in digest.body
    send_notification.run(outbox_id=message.pk)  # a duplicate delivery sends nothing more
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_failed_digest_is_retried_whole_and_sent_once(burst_settings, rso, monkeypatch):
    set_email(rso, "rso@example.org")
    monkeypatch.setattr(outbox, "_send", lambda m: None)
    for slug in ("atlas", "borealis"):
        notifications.notify("model.paused", {"model": slug, "reason": "x"}, roles=("leadership",))
    message = OutboxMessage.objects.get()

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr("governance.transports.email.send_mail", refuse)
    send_notification.run(outbox_id=message.pk)
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and "SMTP down" in message.last_error
    monkeypatch.undo()
    monkeypatch.setattr(outbox, "_send", lambda m: None)
    OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())
    send_notification.run(outbox_id=message.pk)
    [digest] = mail.outbox
    assert "atlas was paused" in digest.body and "borealis was paused" in digest.body


@pytest.mark.django_db
def test_webhooks_still_get_one_signed_event_each(burst_settings, monkeypatch):
    from governance.models import Subscription

    monkeypatch.setattr(outbox, "_send", lambda m: None)
    notifications.save_subscription(
        Subscription(
            name="ops", kind=Channel.WEBHOOK, target="https://hooks.example.org/x", secret="s"
        ),
        actor=None,
    )
    for slug in ("atlas", "borealis"):
        notifications.notify("model.paused", {"model": slug}, roles=())
    rows = Notification.objects.filter(channel=Channel.WEBHOOK)
    assert rows.count() == 2 and len({r.message_id for r in rows}) == 2
    assert all(r.message.available_at <= timezone.now() + outbox.SEND_LEASE for r in rows)


def test_site_url_follows_the_port_of_the_demo():
    env = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update({"PORT": "8765", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "rsp_portal.settings"})
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.SITE_URL)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8765", out.stderr
    env["SITE_URL"] = "https://rsp.example.org"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "https://rsp.example.org", out.stderr


def test_make_run_passes_the_port_to_every_process():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"RUN_ENV :=.*PORT=\$\(PORT\)", makefile)


@pytest.mark.django_db
@pytest.mark.usefixtures("verified_trail")
def test_sent_lately_shows_the_model_and_words(safety):
    from tests.conftest import client_for

    set_email(safety, "safety@example.org")
    activate_default_policy()
    make_model()
    page = client_for(safety).get("/notifications/").content.decode()
    section = page.split("Sent lately", 1)[1]
    assert "gate.transition" not in section
    assert "Gate of atlas is now paused" in section
    assert 'href="/models/atlas/"' in section


# --- Real PostgreSQL, Redis and a worker process ----------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_burst_reaches_a_worker_as_one_digest_and_nothing_is_lost(
    settings, tmp_path, monkeypatch
):
    if not services_available():
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    settings.NOTIFY_DIGEST_SECONDS = 60
    monkeypatch.setenv("RSP_TEST_EMAIL_DIR", str(tmp_path))
    User.objects.create(username="lead", role="leadership", email="lead@example.org")
    for slug in ("atlas", "borealis", "cirrus", "dorado"):
        with transaction.atomic():
            notifications.notify("model.paused", {"model": slug, "reason": "x"})
    message = OutboxMessage.objects.get()
    assert message.available_at > timezone.now()  # waits for the burst to end
    OutboxMessage.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    worker = WorkerProcess().start()
    try:
        assert outbox.relay() == 1
        assert outbox.relay() == 0
        outbox.dispatch(message.pk)  # a duplicate send (a crash after publishing)
        deadline = time.monotonic() + 30
        while OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.PENDING:
            assert time.monotonic() < deadline, "the digest was not delivered"
            time.sleep(0.2)
        time.sleep(1)  # the duplicate has had its chance to run
    finally:
        worker.stop()
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxStatus.DONE
    files = list(tmp_path.iterdir())
    assert len(files) == 1, [f.name for f in files]
    body = files[0].read_text()
    assert "4 updates" in body
    for slug in ("atlas", "borealis", "cirrus", "dorado"):
        assert f"{slug} was paused" in body
