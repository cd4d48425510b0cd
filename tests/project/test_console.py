"""The console of ``make run`` tells the truth: no irrelevant warnings, one line per refusal,
task outcomes logged."""

from __future__ import annotations

import logging

import pytest
from kombu import Connection

from rsp_portal.celery import app
from tests.conftest import bearer, client_for

pytestmark = pytest.mark.django_db


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.request"]


def test_a_refused_page_is_one_line_with_the_user_and_no_traceback(safety, caplog):
    caplog.set_level(logging.INFO)
    assert client_for(safety).get("/audit/").status_code == 403
    (line,) = _request_lines(caplog)
    assert line.levelname == "WARNING"
    assert line.exc_info is None and line.exc_text is None
    message = line.getMessage()
    assert message.startswith("Forbidden")
    assert "/audit/" in message and "(user: safety)" in message
    assert "role does not allow" in message  # the reason the view gave
    assert "\n" not in message


def test_a_refused_api_call_is_one_line_with_the_user(outsider, caplog):
    caplog.set_level(logging.INFO)
    assert bearer(outsider).get("/api/v1/me/").status_code == 403
    (line,) = _request_lines(caplog)
    assert line.exc_info is None
    assert "/api/v1/me/" in line.getMessage() and "(user: outsider)" in line.getMessage()


def test_django_lines_go_to_the_console_once():
    # Django's default logging adds a console handler to "django" in DEBUG (make run), which
    # printed each line a second time next to the root handler's.
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate


def test_an_anonymous_refusal_says_anonymous(caplog):
    caplog.set_level(logging.INFO)
    from django.test import Client

    assert Client().get("/api/v1/me/").status_code in {401, 403}
    (line,) = _request_lines(caplog)
    assert "(user: anonymous)" in line.getMessage()


def test_server_errors_keep_their_traceback():
    from rsp_portal.logs import OneLineRefusals

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error: %s",
            ("/x",),
            sys.exc_info(),
        )
    record.status_code = 500
    assert OneLineRefusals().filter(record)
    assert record.exc_info is not None


def test_the_embedded_broker_does_not_warn_about_a_missing_hostname(monkeypatch, caplog, tmp_path):
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder}
    caplog.set_level(logging.WARNING, logger="kombu.connection")
    monkeypatch.setattr(app.conf, "broker_url", "filesystem://")
    Connection("filesystem://", transport_options=options).info()
    assert not [r for r in caplog.records if "No hostname" in r.getMessage()]
    # The same warning for a transport that does use a host is kept.
    monkeypatch.setattr(app.conf, "broker_url", "redis://")
    Connection("filesystem://", transport_options=options).info()
    assert [r for r in caplog.records if "No hostname" in r.getMessage()]


def test_task_outcomes_stay_logged_when_a_library_raises_the_root_level():
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.WARNING)  # what inspect_ai's init_logger does in a suite-running worker
    try:
        assert logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
        assert logging.getLogger("suites.services").isEnabledFor(logging.INFO)
        assert logging.getLogger("audit.checkpoints").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(previous)
