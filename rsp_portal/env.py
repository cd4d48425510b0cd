"""Strict readers for configuration held in environment variables.

Every reader names the variable in its error, so a bad value stops start-up with a message an
operator can act on instead of a half-configured process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    return (os.environ if environ is None else environ).get(name)


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
    return config


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
