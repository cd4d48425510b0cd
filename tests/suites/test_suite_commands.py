"""Issue 22, observation 4: suites never run a command from the database, and what a command
sees and prints never carries the worker's secrets."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from rsp_portal.env import env_commands
from suites import commands, runner_command, runners
from suites.models import EvalSuite
from tests.conftest import client_for
from tests.governance_fixtures import activate_default_policy, make_model
from tests.suite_fixtures import METRICS, make_suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def atlas(db: None) -> object:
    activate_default_policy()
    return make_model("atlas")


def test_an_admin_cannot_define_a_command_by_its_argv(admin_user, atlas):
    response = client_for(admin_user).post(
        "/admin/suites/evalsuite/add/",
        {
            "slug": "leak",
            "name": "Leak",
            "runner": "command",
            "config": json.dumps({"argv": ["cat", "var/keys/audit-signing-key.pem"]}),
            "metrics": json.dumps({"ctf/accuracy": "cyber.ctf_solve_rate"}),
            "targets": [atlas.pk],
            "schedule": "",
            "max_attempts": "1",
        },
    )
    assert response.status_code == 200
    assert "allow-listed command" in response.content.decode()
    assert not EvalSuite.objects.filter(slug="leak").exists()


def test_a_suite_stored_with_an_argv_fails_its_run_without_running_it(atlas, safety):
    suite = make_suite(targets=[atlas])
    # What the database owner (or an old row) could leave: an argv in the stored config.
    EvalSuite.objects.filter(pk=suite.pk).update(config={"argv": ["cat", "/etc/passwd"]})
    suite.refresh_from_db()
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.run_command(suite.config, METRICS, lambda d, t: None)
    assert "allow-list" in caught.value.message
    assert not caught.value.retryable


def test_a_command_runs_without_the_database_url_or_secrets_in_its_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://owner:hunter2hunter2@db:5432/rsp")
    monkeypatch.setenv("SECRET_KEY", "x" * 50)
    monkeypatch.setenv("AUDIT_SIGNING_KEY_FILE", "/keys/private/audit-signing-key.pem")
    argv, _, env = commands.resolve("emit-metrics", ["--env"])
    completed = runner_command.run_in_own_group(argv, runners.REPO_DIR, 30, env)
    seen = json.loads(completed.stdout)
    assert "DATABASE_URL" not in seen
    assert "SECRET_KEY" not in seen
    assert not [name for name in seen if name.startswith(("AUDIT_", "PG", "REDIS", "CELERY"))]
    assert "PATH" in seen


@override_settings(SECRET_KEY="s3cret-key-value-that-is-long-enough-0123456789")
def test_secrets_in_a_commands_output_are_redacted_before_they_are_stored():
    leaked = "\n".join(
        [
            "-----BEGIN PRIVATE KEY-----",
            "MC4CAQAwBQYDK2VwBCIEIG2uG0nT0mLMpRZ3tBL0Cjw2I0rC4TQ0nHkz3uZ3x0cL",
            "-----END PRIVATE KEY-----",
            "db at postgres://rsp:pa55word-long@postgres:5432/rsp",
            "token rsp_abcdefghijklmnopqrstuvwxyz0123",
            "key s3cret-key-value-that-is-long-enough-0123456789",
        ]
    )
    config = runners.validate_config(
        "command", {"command": "emit-metrics", "args": ["--echo", leaked]}
    )
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.run_command(config, METRICS, lambda d, t: None)
    log = caught.value.log_excerpt
    for secret in ("MC4CAQAw", "pa55word-long", "rsp_abcdefghijklmnop", "s3cret-key-value"):
        assert secret not in log
    assert log.count(commands.REDACTED) >= 4


def test_the_output_kept_on_a_run_is_bounded():
    assert len(runners.excerpt("x" * 100_000)) <= runners.EXCERPT_CHARS + 10


def test_a_command_that_takes_no_arguments_refuses_them(settings):
    settings.SUITE_COMMANDS = {
        "fixed": {"argv": ["true"], "cwd": "", "env": {}, "allow_args": False}
    }
    with pytest.raises(runners.ConfigError) as caught:
        runners.validate_config("command", {"command": "fixed", "args": ["-c", "evil"]})
    assert "config.args" in caught.value.errors


def test_the_allow_list_file_is_checked_at_start_up(tmp_path):
    path = tmp_path / "commands.json"
    path.write_text(json.dumps({"ok": {"argv": ["python3", "eval.py"], "allow_args": False}}))
    assert env_commands("SUITE_COMMANDS_FILE", {"SUITE_COMMANDS_FILE": str(path)}) == {
        "ok": {"argv": ["python3", "eval.py"], "cwd": "", "env": {}, "allow_args": False}
    }
    assert env_commands("SUITE_COMMANDS_FILE", {}) == {}
    path.write_text(json.dumps({"bad": {"argv": "python3 eval.py"}}))
    with pytest.raises(ImproperlyConfigured, match="SUITE_COMMANDS_FILE"):
        env_commands("SUITE_COMMANDS_FILE", {"SUITE_COMMANDS_FILE": str(path)})
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_commands("SUITE_COMMANDS_FILE", {"SUITE_COMMANDS_FILE": str(tmp_path / "none")})


def test_audit_tasks_go_to_the_signer_queue_only(settings):
    from rsp_portal.celery import app

    route = app.amqp.router.route({}, "audit.sign_checkpoint")
    assert route["queue"].name == settings.CELERY_SIGNER_QUEUE
    assert settings.CELERY_SIGNER_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE
    assert (
        app.amqp.router.route({}, "evaluations.reap_suite_runs")["queue"].name
        == settings.CELERY_TASK_DEFAULT_QUEUE
    )
