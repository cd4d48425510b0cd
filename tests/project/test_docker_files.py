"""The Docker files, read without an engine: what must hold for ``docker compose up`` to start.

No Docker engine runs in CI or on the development VM, so these tests parse ``Dockerfile``,
``docker-compose.yml`` and ``.dockerignore`` and check the properties an image build would
otherwise reveal only at start-up (see README, "Docker Compose").
"""

from __future__ import annotations

import fnmatch
import functools
import io
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path, PurePosixPath

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = [name for name, service in SERVICES.items() if "build" in service]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


INSTRUCTIONS = _instructions()


def _run_commands() -> list[list[str]]:
    """Every shell command of every RUN, split at ``&&``."""
    commands = []
    for instruction, args in INSTRUCTIONS:
        if instruction == "RUN":
            commands += [shlex.split(part) for part in args.split("&&")]
    return commands


def _created_dirs() -> set[str]:
    return {arg for cmd in _run_commands() if cmd[:2] == ["mkdir", "-p"] for arg in cmd[2:]}


def _owned_by_rsp() -> set[str]:
    owned = set()
    for cmd in _run_commands():
        if cmd and cmd[0] == "chown":
            args = [a for a in cmd[1:] if not a.startswith("-")]
            if args and args[0].split(":")[0] in {"rsp", "10001"}:
                owned.update(args[1:])
    return owned


def _under(path: str, roots: set[str]) -> bool:
    return any(PurePosixPath(path).is_relative_to(root) for root in roots)


def _mounts(service: dict) -> list[tuple[str, str]]:
    """(volume name, target) of each named-volume mount."""
    mounts = []
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        if source in COMPOSE["volumes"]:
            mounts.append((source, target))
    return mounts


def _env(name: str) -> str:
    for instruction, args in INSTRUCTIONS:
        if instruction == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                if key == name:
                    return value
    raise AssertionError(f"the Dockerfile sets no {name}")


# --- .dockerignore ----------------------------------------------------------------------------


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = PurePosixPath(path).parts
    for pattern in patterns:
        anywhere = pattern.startswith("**/")
        pattern = pattern.removeprefix("**/")
        for start in range(len(parts) if anywhere else 1):
            for end in range(start + 1, len(parts) + 1):
                if fnmatch.fnmatch("/".join(parts[start:end]), pattern):
                    return True
    return False


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "var/keys/audit-signing-key.pem",
        "var/demo-logins.json",
        "var/db.sqlite3",
        "var/broker/queue/message",
        "media/suite-logs/run-1/log.eval",
        "keys/audit-signing-key.pem",
        "audit-signing-key.pem",
        "audit/__pycache__/models.cpython-311.pyc",
        "node_modules/htmx/index.js",
        ".env",
        "staticfiles/base.css",
    ],
)
def test_the_build_context_leaves_out_local_state_and_secrets(path):
    assert _ignored(path), path


@pytest.mark.parametrize(
    "path", ["manage.py", "requirements.txt", "rsp_portal/settings.py", "static/app.css"]
)
def test_the_build_context_keeps_the_code(path):
    assert not _ignored(path), path


# --- Dockerfile -------------------------------------------------------------------------------


def test_the_image_runs_as_a_non_root_user_after_setting_up_its_directories():
    users = [i for i, (instruction, _) in enumerate(INSTRUCTIONS) if instruction == "USER"]
    assert users, "the image must not run as root"
    last_user = INSTRUCTIONS[users[-1]][1].strip()
    assert last_user in {"rsp", "10001"}
    last_chown = max(
        i
        for i, (instruction, args) in enumerate(INSTRUCTIONS)
        if "chown" in args and instruction == "RUN"
    )
    assert last_chown < users[-1]


def test_the_var_dir_exists_in_the_image_and_belongs_to_the_user():
    var_dir = _env("RSP_VAR_DIR")
    assert any(PurePosixPath(d).is_relative_to(var_dir) for d in _created_dirs())
    assert _under(var_dir, _owned_by_rsp())


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_volume_mounts_on_a_directory_the_image_creates_for_its_user(service):
    # A named volume mounted on a missing directory is created root-owned, and the non-root
    # processes cannot write the audit keys or media into it.
    for volume, target in _mounts(SERVICES[service]):
        assert target in _created_dirs(), f"{service}: {volume} mounts on {target}, never created"
        assert _under(target, _owned_by_rsp()), f"{service}: {target} is not owned by rsp"


def test_the_audit_keys_are_written_where_the_migrate_service_mounts_its_volumes():
    migrate = SERVICES["migrate"]
    targets = {target for _, target in _mounts(migrate)}
    env = migrate["environment"]
    for name in ("AUDIT_SIGNING_KEY_FILE", "AUDIT_PUBLIC_KEY_FILE"):
        assert str(PurePosixPath(env[name]).parent) in targets, name
    assert "audit_keys" in " ".join(migrate["command"])


def test_web_and_worker_share_the_media_volume():
    media_root = f"{_env('RSP_VAR_DIR')}/media"  # settings: MEDIA_ROOT defaults to VAR_DIR/media
    for service in ("web", "worker"):
        assert ("media", media_root) in _mounts(SERVICES[service]), service


def test_the_web_tier_never_sees_the_private_key():
    assert all(volume != "keys-private" for volume, _ in _mounts(SERVICES["web"]))


# --- Health checks ----------------------------------------------------------------------------


def test_every_long_running_service_has_a_health_check():
    assert any(instruction == "HEALTHCHECK" for instruction, _ in INSTRUCTIONS)  # web
    for service in ("worker", "signer", "beat"):
        assert "healthcheck" in SERVICES[service], service


@pytest.mark.parametrize("service", ["worker", "signer", "beat"])
def test_a_health_check_can_fail(service):
    test = SERVICES[service]["healthcheck"]["test"]
    command = " ".join(test[1:])
    assert "|| exit 0" not in command and "|| true" not in command, command


def test_the_beat_health_check_asks_the_database_scheduler():
    assert SERVICES["beat"]["healthcheck"]["test"][1:4] == ["python", "manage.py", "check_beat"]
    assert SERVICES["beat"]["healthcheck"]["start_period"]  # the first save takes 3 minutes


@pytest.mark.django_db
def test_check_beat_fails_without_sends_and_when_stale_and_passes_when_fresh():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with pytest.raises(CommandError, match="not sent any"):
        call_command("check_beat", stdout=io.StringIO())
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name="relay",
        task="evaluations.relay_outbox",
        interval=every,
        last_run_at=timezone.now() - timedelta(minutes=11),
    )
    with pytest.raises(CommandError, match="stale"):
        call_command("check_beat", stdout=io.StringIO())
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
    out = io.StringIO()
    call_command("check_beat", stdout=out)
    assert out.getvalue().startswith("OK")


# --- Issue 21: static files as they run, state on shared volumes, a health check on pages ------


def _collectstatic_commands() -> list[list[str]]:
    return [cmd for cmd in _run_commands() if "collectstatic" in cmd]


def test_the_image_collects_static_files_with_debug_off_and_no_real_secret():
    # With DEBUG on, collectstatic writes no manifest and every page of the image answers 500.
    [command] = _collectstatic_commands()
    env = dict(part.split("=", 1) for part in command if "=" in part and part[0].isupper())
    assert "DEBUG" not in env, command
    assert not any("DEBUG=" in args for instruction, args in INSTRUCTIONS if instruction == "RUN")
    assert "SECRET_KEY" in env and "dummy" in env["SECRET_KEY"]  # a build-only placeholder
    assert _env("STATIC_ROOT")


def test_the_dockerfile_collectstatic_writes_the_manifest_the_pages_need(tmp_path):
    """The build step itself, run here with only the Dockerfile's ENV (as the build has)."""
    import json

    [command] = _collectstatic_commands()
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "RSP_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    env.update(part.split("=", 1) for part in command if "=" in part and part[0].isupper())
    argv = [part for part in command if not ("=" in part and part[0].isupper())]
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)

    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    assert "css/app.css" in manifest["paths"]


def test_the_checkpoint_log_is_on_a_volume_the_signer_writes_and_the_web_reads():
    log = PurePosixPath(SERVICES["signer"]["environment"]["AUDIT_CHECKPOINT_LOG"])
    signer = {target: volume for volume, target in _mounts(SERVICES["signer"])}
    web = {target: volume for volume, target in _mounts(SERVICES["web"])}
    directory = str(log.parent)
    assert directory in signer and directory in web
    assert signer[directory] == web[directory]  # the same named volume
    signer_spec = next(v for v in SERVICES["signer"]["volumes"] if v.split(":")[1] == directory)
    assert not signer_spec.endswith(":ro")  # the signer appends to it
    assert directory in _created_dirs() and _under(directory, _owned_by_rsp())


def test_every_state_file_lives_on_a_named_volume():
    # keys (migrate writes, signer signs, web verifies), media (web and worker), the log.
    targets = {
        service: {target for _, target in _mounts(SERVICES[service])} for service in SERVICES
    }
    env = SERVICES["signer"]["environment"]
    assert str(PurePosixPath(env["AUDIT_SIGNING_KEY_FILE"]).parent) in targets["signer"]
    assert str(PurePosixPath(env["AUDIT_PUBLIC_KEY_FILE"]).parent) in targets["web"]
    media = f"{_env('RSP_VAR_DIR')}/media"
    assert media in targets["web"] and media in targets["worker"]


def test_the_web_health_check_fetches_the_login_page_and_its_stylesheet():
    [(_, check)] = [(i, a) for i, a in INSTRUCTIONS if i == "HEALTHCHECK"]
    assert "scripts/healthcheck.py" in check
    assert (ROOT / "scripts" / "healthcheck.py").exists()
    assert not _ignored("scripts/healthcheck.py")


# --- The signer: the only service that holds the audit signing key --------------------------

KEY_HOLDERS = {"migrate", "signer"}  # migrate creates the pair on first start


@functools.cache
def _queues_in(service: str) -> tuple[str, str]:
    """The default and signer queues the settings give the service's containers: its own
    environment, the variables it leaves out at their defaults (this test process runs on a
    queue of its own, ``rsp_portal.test_settings``, so its settings cannot answer)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"CELERY_QUEUE", "CELERY_SIGNER_QUEUE", "PYTEST_XDIST_WORKER"}
    }
    service_env = SERVICES[service].get("environment") or {}
    env.update({k: str(v) for k, v in service_env.items() if k.startswith("CELERY_")})
    env["DJANGO_SETTINGS_MODULE"] = "rsp_portal.settings"
    env.setdefault("SECRET_KEY", "x" * 50)
    code = (
        "from django.conf import settings; "
        "print(settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_SIGNER_QUEUE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    default, signer = out.stdout.split()
    return default, signer


def _queues(service: dict) -> list[str]:
    command = service.get("command") or []
    assert "-Q" in command, f"a worker names its queues: {command}"
    return command[command.index("-Q") + 1].split(",")


def test_the_signer_is_its_own_service_consuming_only_the_signer_queue():
    signer = SERVICES["signer"]
    assert signer["command"][:4] == ["celery", "-A", "rsp_portal", "worker"]
    assert _queues(signer) == [_queues_in("signer")[1]] == ["rsp-signer"]
    mounts = dict(_mounts(signer))
    key_dir = str(PurePosixPath(signer["environment"]["AUDIT_SIGNING_KEY_FILE"]).parent)
    assert mounts.get("keys-private") == key_dir
    assert "healthcheck" in signer


def test_the_general_worker_never_consumes_the_signer_queue():
    default, signer = _queues_in("worker")
    assert _queues(SERVICES["worker"]) == [default]
    assert signer not in _queues(SERVICES["worker"])


@pytest.mark.parametrize("service", sorted(set(SERVICES) - KEY_HOLDERS))
def test_only_the_signer_mounts_or_names_the_signing_key(service):
    assert all(volume != "keys-private" for volume, _ in _mounts(SERVICES[service])), service
    assert "AUDIT_SIGNING_KEY_FILE" not in (SERVICES[service].get("environment") or {}), service


def test_the_compose_file_is_consistent():
    """What ``docker compose config`` would refuse, checked without an engine."""
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        assert "image" in service, name
        for spec in service.get("volumes", []):
            source = spec.split(":")[0]
            assert source in declared or source.startswith(("/", ".")), (name, spec)
        for dependency in service.get("depends_on") or {}:
            assert dependency in SERVICES, (name, dependency)
    used = {volume for service in SERVICES.values() for volume, _ in _mounts(service)}
    assert used == declared  # no volume declared and never mounted
