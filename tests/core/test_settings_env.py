"""Configuration errors stop start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from rsp_portal.env import env_bool, env_database, env_int, env_secret, env_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("call", "variable"),
    [
        (lambda e: env_bool("DEBUG", False, environ=e), "DEBUG"),
        (lambda e: env_int("EMAIL_PORT", 25, minimum=1, environ=e), "EMAIL_PORT"),
        (lambda e: env_database("DATABASE_URL", {}, environ=e), "DATABASE_URL"),
        (lambda e: env_url("REDIS_URL", "", ("redis",), environ=e), "REDIS_URL"),
    ],
)
def test_it_names_the_variable_with_a_bad_value(call, variable):
    with pytest.raises(ImproperlyConfigured, match=variable):
        call({variable: "mysql://nope" if "URL" in variable else "maybe"})


def test_it_refuses_a_number_below_its_minimum():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT: must be at least 1"):
        env_int("EMAIL_PORT", 25, minimum=1, environ={"EMAIL_PORT": "0"})


def test_it_reads_good_values():
    assert env_bool("X", False, environ={"X": "Yes"}) is True
    assert env_int("X", 1, environ={"X": " 42 "}) == 42
    config = env_database("X", {}, environ={"X": "postgres://u@127.0.0.1:5432/rsp"})
    assert config["ENGINE"] == "rsp_portal.postgresql"  # Django's, checked without a round trip
    assert config["NAME"] == "rsp"


def test_a_missing_secret_key_is_an_error_when_required():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        env_secret("SECRET_KEY", required=True, environ={})
    assert env_secret("SECRET_KEY", required=False, environ={}) == ""


def _start(
    env: dict[str, str], argv: tuple[str, ...] = ("check",)
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "rsp_portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_up_without_secret_key_and_debug_off_fails_naming_it():
    result = _start({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_checking_migrations_needs_no_production_secret():
    """makemigrations only reads the code: a bare checkout can run it; ``check`` stays strict."""
    result = _start({}, ("makemigrations", "--check", "--dry-run"))
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
    assert "SECRET_KEY is not set" in _start({}).stderr


def test_start_up_with_a_bad_boolean_fails_naming_it():
    result = _start({"DEBUG": "perhaps"})
    assert result.returncode != 0
    assert "Environment variable DEBUG" in result.stderr


def test_a_retired_variable_stops_start_up_saying_what_replaced_it():
    from rsp_portal.env import env_retired

    env_retired("NONCOMPLIANCE_RECIPIENT_TITLES", "the pack names them.", environ={})
    with pytest.raises(ImproperlyConfigured, match="no longer read: the pack names them"):
        env_retired(
            "NONCOMPLIANCE_RECIPIENT_TITLES",
            "the pack names them.",
            environ={"NONCOMPLIANCE_RECIPIENT_TITLES": "RSO"},
        )
