"""Suites without services: configuration checks, cron ↔ beat sync, runners, the run machine.

The worker's code path (:func:`suites.services.execute`) runs in-process here with the
broker replaced by a list; the real-worker versions are in test_suites_faults.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from audit.models import AuditEntry
from core import outbox
from core.models import OutboxMessage, OutboxStatus
from evaluations.models import EvalResult
from rsp_portal.errors import ServiceError
from suites import runner_command, runner_inspect, runners
from suites import services as suites
from suites.models import EvalSuite, SuiteRun, SuiteRunResult
from tests.governance_fixtures import activate_default_policy, make_model
from tests.suite_fixtures import METRICS, command_config, failing_config, make_suite

# Every test may touch the database (conftest's flush switch needs a connection on PostgreSQL).
pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Messages published to the broker (replaced by this list)."""
    messages: list[dict[str, Any]] = []
    monkeypatch.setattr(outbox, "_send", lambda m: messages.append({"topic": m.topic, **m.payload}))
    return messages


@pytest.fixture
def atlas(db: None) -> Any:
    activate_default_policy()
    return make_model("atlas")


def _actions(run: SuiteRun) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="evaluations.suiterun", object_id=str(run.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


# --- Configuration -------------------------------------------------------------------------


def test_an_inspect_config_names_a_shipped_task_and_a_model_spec():
    config = runners.validate_config(
        "inspect", {"task": "demo_capabilities", "model": "mockllm/model", "limit": 5}
    )
    assert config["task"] == "demo_capabilities"
    assert config["limit"] == 5
    assert runner_inspect.resolve_task("suites/inspect_tasks/demo_capabilities.py")[1] == (
        "demo_capabilities"
    )


def test_a_stored_task_path_from_before_suites_became_an_app_still_resolves():
    path, function = runner_inspect.resolve_task("evaluations/inspect_tasks/demo_capabilities.py")
    assert (path, function) == (
        runner_inspect.TASKS_DIR / "demo_capabilities.py",
        "demo_capabilities",
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"task": "../../etc/passwd.py", "model": "mockllm/model"}, "config.task"),
        ({"task": "/tmp/evil.py", "model": "mockllm/model"}, "config.task"),
        ({"task": "no_such_task", "model": "mockllm/model"}, "config.task"),
        ({"task": "demo_capabilities", "model": "not a spec"}, "config.model"),
        ({"task": "demo_capabilities", "model": "mockllm/model", "limit": 0}, "config.limit"),
        ({"task": "demo_capabilities", "model": "mockllm/model", "epochs": "2"}, "config.epochs"),
        (
            {"task": "demo_capabilities", "model": "m/x", "model_args": {"f": [1]}},
            "config.model_args",
        ),
        ({"task": "demo_capabilities", "model": "m/x", "shell": True}, "config"),
    ],
)
def test_an_inspect_config_is_refused_with_the_field_named(config, field):
    with pytest.raises(runners.ConfigError) as caught:
        runners.validate_config("inspect", config)
    assert field in caught.value.errors


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"argv": ["python", "-c", "print(1)"]}, "config"),
        ({"command": "emit-metrics", "cwd": "/"}, "config"),
        ({"command": "rm-everything"}, "config.command"),
        ({}, "config.command"),
        ({"command": "emit-metrics", "args": "x"}, "config.args"),
        ({"command": "emit-metrics", "timeout": 0}, "config.timeout"),
        ({"command": "emit-metrics", "timeout": True}, "config.timeout"),
        ({"command": "emit-metrics", "env": {}}, "config"),
    ],
)
def test_a_command_config_is_refused_with_the_field_named(config, field):
    with pytest.raises(runners.ConfigError) as caught:
        runners.validate_config("command", config)
    assert field in caught.value.errors


def test_a_command_config_gets_a_default_timeout():
    assert runners.validate_config("command", {"command": "emit-metrics"}) == {
        "command": "emit-metrics",
        "args": [],
        "timeout": runner_command.DEFAULT_COMMAND_TIMEOUT,
    }


def test_a_suite_refuses_metrics_the_active_policy_does_not_define(atlas):
    with pytest.raises(ServiceError) as caught:
        make_suite(targets=[atlas], metrics={"ctf/accuracy": "cyber.no_such_metric"})
    assert "metrics.ctf/accuracy" in caught.value.message_dict
    assert not EvalSuite.objects.exists()


def test_a_suite_refuses_a_bad_cron_expression(atlas):
    with pytest.raises(ServiceError) as caught:
        make_suite(targets=[atlas], schedule="61 * * * *")
    assert "schedule" in caught.value.message_dict
    with pytest.raises(ServiceError):
        make_suite(targets=[atlas], schedule="* * * *")


# --- Cron and the beat schedule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        ("*/5 * * * *", "2026-03-02T10:07:31", "2026-03-02T10:05:00"),
        ("*/5 * * * *", "2026-03-02T10:05:00", "2026-03-02T10:05:00"),
        ("0 3 * * *", "2026-03-02T02:59:00", "2026-03-01T03:00:00"),
        ("30 9 * * 1", "2026-03-04T12:00:00", "2026-03-02T09:30:00"),  # Monday
        ("0 0 1 * *", "2026-03-02T00:00:00", "2026-03-01T00:00:00"),
    ],
)
def test_the_slot_is_the_latest_fire_time_of_the_schedule(schedule, now, slot):
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert suites.previous_fire(schedule, moment) == datetime.fromisoformat(slot).replace(
        tzinfo=UTC
    )


def test_a_suite_schedule_is_kept_as_a_periodic_task(atlas):
    suite = make_suite(targets=[atlas], schedule="*/5 * * * *")
    task = PeriodicTask.objects.get(name="suite:cmd-suite")
    assert suite.periodic_task == task
    assert task.task == "evaluations.run_scheduled_suite"
    assert json.loads(task.args) == [suite.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("*/5", "*", "*")
    assert task.enabled

    suites.save_suite(
        suite,
        name=suite.name,
        metrics=suite.metrics,
        runner="command",
        config=suite.config,
        targets=[atlas],
        schedule="0 3 * * 1",
        enabled=False,
    )
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "3", "1")
    assert not task.enabled
    assert PeriodicTask.objects.filter(name__startswith="suite:").count() == 1

    suites.save_suite(
        suite,
        name=suite.name,
        metrics=suite.metrics,
        runner="command",
        config=suite.config,
        targets=[atlas],
        schedule="",
    )
    assert not PeriodicTask.objects.filter(name__startswith="suite:").exists()
    suite.refresh_from_db()
    assert suite.periodic_task is None
    assert CrontabSchedule.objects.exists()  # shared rows stay; beat ignores unused ones


def test_deleting_a_suite_that_never_ran_removes_its_schedule(atlas):
    suite = make_suite(targets=[atlas], schedule="*/5 * * * *")
    suites.delete_suite(suite)
    assert not PeriodicTask.objects.filter(name="suite:cmd-suite").exists()
    assert not EvalSuite.objects.exists()


# --- Command runner ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stdout",
    [
        '{"ctf/accuracy": 0.25, "swe/accuracy": 0.1}',
        'warming up\n{"metrics": {"ctf/accuracy": 0.25, "swe/accuracy": 0.1}}\n',
        '{"metrics": {"ctf/accuracy": {"value": 0.25, "stderr": 0.02, "n_samples": 40}, '
        '"swe/accuracy": 0.1}}',
    ],
)
def test_command_output_is_read_as_a_json_object_of_metrics(stdout):
    metrics = {m.name: m for m in runner_command.parse_metrics_output(stdout)}
    assert metrics["ctf/accuracy"].value == 0.25
    assert metrics["swe/accuracy"].value == 0.1


def test_command_output_keeps_stderr_and_sample_counts():
    (metric,) = runner_command.parse_metrics_output(
        '{"metrics": {"ctf/accuracy": {"value": 0.25, "stderr": 0.02, "n_samples": 40}}}'
    )
    assert (metric.stderr, metric.n_samples) == (0.02, 40)


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("no json here", "printed no JSON object"),
        ("[1, 2]", "printed no JSON object"),
        ('{"ctf/accuracy": "high"}', "is not a number"),
        ('{"ctf/accuracy": true}', "is not a number"),
    ],
)
def test_unreadable_command_output_is_a_clear_error(stdout, message):
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.parse_metrics_output(stdout)
    assert message in caught.value.message


def test_the_command_runner_runs_the_allow_listed_command_and_maps_its_metrics():
    progress: list[tuple[int, int]] = []
    config = runners.validate_config("command", command_config({"ctf/accuracy": 0.4}))
    output = runner_command.run_command(
        config, {"ctf/accuracy": "cyber.ctf_solve_rate"}, lambda d, t: progress.append((d, t))
    )
    assert [(key, m.value) for key, m in output.results] == [("cyber.ctf_solve_rate", 0.4)]
    assert "evaluating..." in output.log_excerpt
    assert progress == [(0, 1), (1, 1)]


def test_the_command_runner_reports_a_failing_exit_with_its_last_words():
    config = runners.validate_config("command", failing_config("disk full"))
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.run_command(config, METRICS, lambda d, t: None)
    assert caught.value.message == "The command exited with status 1: disk full"
    assert "starting" in caught.value.log_excerpt


def test_the_command_runner_stops_a_command_at_its_timeout():
    config = runners.validate_config(
        "command", {"command": "emit-metrics", "args": ["--sleep-forever"], "timeout": 1}
    )
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.run_command(config, METRICS, lambda d, t: None)
    assert "timed out after 1 s" in caught.value.message


def test_a_declared_metric_missing_from_the_output_fails_without_retry():
    config = runners.validate_config("command", command_config({"ctf/accuracy": 0.4}))
    with pytest.raises(runners.RunnerError) as caught:
        runner_command.run_command(config, METRICS, lambda d, t: None)
    assert "did not report swe/accuracy" in caught.value.message
    assert not caught.value.retryable


# --- The run machine, in-process ------------------------------------------------------------


def test_a_requested_run_is_committed_with_its_outbox_message_and_audit(
    atlas, sent, django_capture_on_commit_callbacks
):
    suite = make_suite(targets=[atlas])
    with django_capture_on_commit_callbacks(execute=True):
        run = suites.request_run(suite, atlas, actor=None)
    assert run.status == SuiteRun.Status.QUEUED
    assert run.checkpoint.name == "ckpt-1"
    assert sent == [{"topic": "evaluations.run_suite", "run_id": run.pk}]
    # Sent, and not due again before the send lease lapses.
    assert not OutboxMessage.objects.filter(available_at__lte=timezone.now()).exists()
    assert _actions(run) == ["suite_run.request"]


def test_the_relay_publishes_what_the_fast_path_missed(atlas, sent):
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)  # on-commit hooks never run here
    OutboxMessage.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    assert outbox.relay() == 1
    assert sent == [{"topic": "evaluations.run_suite", "run_id": run.pk}]
    assert outbox.relay() == 0
    assert OutboxMessage.objects.get().status == OutboxStatus.PENDING  # until the worker runs it


def test_a_run_executes_once_and_a_replay_changes_nothing(atlas, sent):
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)
    assert suites.execute(run.pk, "w1") == SuiteRun.Status.SUCCEEDED
    assert suites.execute(run.pk, "w2") is None  # a duplicate message
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (SuiteRun.Status.SUCCEEDED, 1, "w1")
    assert SuiteRunResult.objects.filter(run=run).count() == 2
    result = EvalResult.objects.get(metric_key="cyber.ctf_solve_rate")
    assert result.source == EvalResult.Source.SUITE
    assert result.provenance["suite"] == "cmd-suite"
    assert result.provenance["run"] == run.pk
    assert _actions(run) == ["suite_run.request", "suite_run.start", "suite_run.succeed"]


def test_a_worker_that_lost_its_lease_cannot_commit(atlas, sent):
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)
    stale = suites.claim(run.pk, "w1")
    assert stale is not None
    SuiteRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(1))
    fresh = suites.claim(run.pk, "w2")
    assert fresh is not None and fresh.attempts == 2
    output = runner_command.run_command(suite.config, suite.metrics, lambda d, t: None)
    assert suites.complete(run.pk, stale.attempts, output) is False
    assert suites.complete(run.pk, fresh.attempts, output) is True
    assert SuiteRunResult.objects.filter(run=run).count() == 2


def test_the_reaper_requeues_an_expired_lease_and_fails_a_run_out_of_attempts(atlas, sent):
    suite = make_suite(targets=[atlas], max_attempts=2)
    run = suites.request_run(suite, atlas, actor=None)
    past = timezone.now() - timedelta(minutes=1)

    suites.claim(run.pk, "w1")
    SuiteRun.objects.filter(pk=run.pk).update(lease_expires_at=past)
    assert suites.reap()["requeued"] == 1
    run.refresh_from_db()
    assert run.status == SuiteRun.Status.QUEUED
    assert "lost its worker" in run.error

    suites.claim(run.pk, "w2")
    SuiteRun.objects.filter(pk=run.pk).update(lease_expires_at=past)
    assert suites.reap()["failed"] == 1
    run.refresh_from_db()
    assert run.status == SuiteRun.Status.FAILED
    assert "last attempt (2 of 2)" in run.error
    assert suites.claim(run.pk, "w3") is None
    assert _actions(run)[-1] == "suite_run.fail"


def test_a_failing_runner_is_retried_then_failed_with_its_error(atlas, sent):
    suite = make_suite(targets=[atlas], config=failing_config("segfault in scorer"), max_attempts=2)
    run = suites.request_run(suite, atlas, actor=None)
    assert suites.execute(run.pk, "w1") == SuiteRun.Status.QUEUED
    assert suites.execute(run.pk, "w1") == SuiteRun.Status.FAILED
    run.refresh_from_db()
    assert run.error == "The command exited with status 1: segfault in scorer"
    assert "starting" in run.log_excerpt
    assert _actions(run) == [
        "suite_run.request",
        "suite_run.start",
        "suite_run.retry",
        "suite_run.start",
        "suite_run.fail",
    ]


def test_results_the_policy_refuses_fail_the_run_at_once(atlas, sent):
    suite = make_suite(
        targets=[atlas], config=command_config({"ctf/accuracy": 7, "swe/accuracy": 0})
    )
    run = suites.request_run(suite, atlas, actor=None)
    assert suites.execute(run.pk, "w1") == SuiteRun.Status.FAILED
    run.refresh_from_db()
    assert "outside the range of cyber.ctf_solve_rate" in run.error
    assert not EvalResult.objects.exists()


def test_a_cancelled_run_discards_its_output(atlas, sent):
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)
    claimed = suites.claim(run.pk, "w1")
    suites.cancel_run(run, None)
    output = runner_command.run_command(suite.config, suite.metrics, lambda d, t: None)
    assert suites.complete(run.pk, claimed.attempts, output) is False
    assert not EvalResult.objects.exists()


def test_a_run_needs_a_target_with_a_checkpoint(atlas, sent):
    other = make_model("borealis", compute=None)
    suite = make_suite(targets=[atlas, other])
    with pytest.raises(ServiceError) as caught:
        suites.request_run(suite, other, actor=None)
    assert caught.value.status_code == 409
    stranger = make_model("cirrus")
    with pytest.raises(ServiceError) as caught:
        suites.request_run(suite, stranger, actor=None)
    assert "not a target" in caught.value.message_dict["model"][0]


def test_the_inspect_runner_runs_the_demo_task_offline(atlas, sent, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    suite = suites.save_suite(
        slug="demo",
        name="Demo",
        metrics={
            "ctf_flag/accuracy": "cyber.ctf_solve_rate",
            "swe_tests/accuracy": "autonomy.swe_task_success",
        },
        runner="inspect",
        config={"task": "demo_capabilities", "model": "mockllm/model"},
        targets=[atlas],
    )
    run = suites.request_run(suite, atlas, actor=None)
    assert suites.execute(run.pk, "w1") == SuiteRun.Status.SUCCEEDED
    run.refresh_from_db()
    assert (run.progress_done, run.progress_total) == (10, 10)
    assert run.log_file.startswith(str(tmp_path / "suite-logs"))
    values = dict(EvalResult.objects.values_list("metric_key", "value"))
    assert values == {"cyber.ctf_solve_rate": 0.2, "autonomy.swe_task_success": 0.1}
    result = EvalResult.objects.get(metric_key="cyber.ctf_solve_rate")
    assert result.provenance["eval_id"]
    assert result.n_samples == 10


def test_a_run_message_whose_worker_died_is_settled_once_the_run_finished_elsewhere(atlas, sent):
    """Issue 22 obs 9: a crashed consumer's message is not a false poison alarm."""
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)
    message = OutboxMessage.objects.filter(topic=suites.RUN_TASK).latest("pk")
    OutboxMessage.objects.filter(pk=message.pk).update(attempts=message.max_attempts - 1)
    attempt = outbox.claim(message.pk)  # ... and the worker is killed mid-run
    assert attempt == message.max_attempts
    # The reaper re-queued the run; another worker finished it.
    SuiteRun.objects.filter(pk=run.pk).update(status=SuiteRun.Status.SUCCEEDED)
    past = timezone.now() - timedelta(seconds=1)
    OutboxMessage.objects.filter(pk=message.pk).update(locked_until=past, available_at=past)

    outbox.relay()

    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert message.last_error.startswith("settled")


def test_a_run_message_whose_run_is_still_open_is_not_settled(atlas, sent):
    suite = make_suite(targets=[atlas])
    run = suites.request_run(suite, atlas, actor=None)
    assert not suites.run_settled({"run_id": run.pk})
    assert not suites.run_settled({"run_id": "x"})
    SuiteRun.objects.filter(pk=run.pk).update(status=SuiteRun.Status.FAILED)
    assert suites.run_settled({"run_id": run.pk})
