"""Strict readers for configuration held in environment variables.

Every reader names the variable in its error, so a bad value stops start-up with a message an
operator can act on instead of a half-configured process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    return (os.environ if environ is None else environ).get(name)


def env_retired(name: str, why: str, environ: Mapping[str, str] | None = None) -> None:
    """Stop start-up when a variable that is no longer read is set, saying what replaced it:
    silently ignoring it would leave the operator believing it still applies."""
    if _raw(name, environ) is not None:
        raise ImproperlyConfigured(f"{name} is no longer read: {why} Unset it.")


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The variable's value, or ``default`` when it is unset."""
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is an error."""
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"Environment variable {name}: expected true/false (1/0, yes/no, on/off), got {value!r}."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """A whole number, optionally bounded below."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable {name}: expected a whole number, got {value!r}."
        ) from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(
            f"Environment variable {name}: must be at least {minimum}, got {number}."
        )
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, *, required: bool, environ: Mapping[str, str] | None = None) -> str:
    """A secret that must be present (and not trivially short) when ``required``."""
    value = _raw(name, environ) or ""
    if required and not value:
        raise ImproperlyConfigured(
            f"Environment variable {name} is not set. It is required when DEBUG is off; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if value and len(value) < 32:
        raise ImproperlyConfigured(
            f"Environment variable {name}: must be at least 32 characters long."
        )
    return value


def env_database(
    name: str, default: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A database URL (``postgres://user@host:5432/db`` or ``sqlite:///path``)."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    try:
        config = dict(
            dj_database_url.parse(value.strip(), conn_max_age=60, conn_health_checks=True)
        )
    except Exception as exc:  # the library raises several types for malformed URLs
        raise ImproperlyConfigured(f"Environment variable {name}: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured(
            f"Environment variable {name}: only postgres:// and sqlite:// URLs are supported, "
            f"got {value.split(':', 1)[0]!r}."
        )
    if engine == "django.db.backends.postgresql":
        config["ENGINE"] = POSTGRESQL_ENGINE
    return config


#: Django's PostgreSQL backend with a health check that needs no round trip (ADR 0057).
POSTGRESQL_ENGINE = "rsp_portal.postgresql"


def env_url(
    name: str, default: str, schemes: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    """A URL whose scheme is one of ``schemes``."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"Environment variable {name}: expected a URL starting with "
            f"{' or '.join(s + '://' for s in schemes)}, got {value!r}."
        )
    return value.strip()


#: A suite command's name: what a ``command`` suite's configuration refers to.
_COMMAND_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_COMMAND_KEYS = {"argv", "cwd", "env", "allow_args"}


def env_commands(name: str, environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The allow-list of suite commands, read from the JSON file the variable names.

    The file holds ``{"<name>": {"argv": [...], "cwd": "...", "env": {...}, "allow_args":
    false}}``: the deployment, not the database, decides what code a worker runs. Unset or
    empty: no command may run.
    """
    path = (_raw(name, environ) or "").strip()
    if not path:
        return {}

    def bad(message: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"Environment variable {name} ({path}): {message}")

    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror or exc}.") from None
    except ValueError as exc:
        raise bad(f"is not valid JSON: {exc}.") from None
    if not isinstance(raw, dict):
        raise bad('expected a JSON object {"<name>": {"argv": [...]}}.')
    commands: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        if not key or len(key) > 64 or not set(key) <= _COMMAND_NAME_CHARS:
            raise bad(f"command name {key!r}: use 1-64 of a-z, 0-9, '-', '_', '.'.")
        if not isinstance(entry, dict) or set(entry) - _COMMAND_KEYS:
            raise bad(f"command {key!r}: an object with keys {', '.join(sorted(_COMMAND_KEYS))}.")
        argv = entry.get("argv")
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) and a for a in argv)):
            raise bad(f"command {key!r}: argv must be a non-empty list of strings.")
        cwd = entry.get("cwd", "")
        env = entry.get("env", {})
        if not isinstance(cwd, str):
            raise bad(f"command {key!r}: cwd must be a string.")
        if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
            raise bad(f"command {key!r}: env must map names to strings.")
        allow_args = entry.get("allow_args", False)
        if not isinstance(allow_args, bool):
            raise bad(f"command {key!r}: allow_args must be true or false.")
        commands[key] = {"argv": list(argv), "cwd": cwd, "env": dict(env), "allow_args": allow_args}
    return commands
