"""What a ``command`` suite may run, with what environment, and what of its output is kept.

The database never holds an argv: a command suite names an entry of the deployment's
allow-list (``SUITE_COMMANDS_FILE``, read at start-up into ``settings.SUITE_COMMANDS``), so an
administrator or the database owner cannot make a worker run code of their choosing. The
command runs with a minimal environment (no database URL, no secret key, no key files'
locations), and its output is scrubbed of the secrets the worker holds before any of it is
stored on the run, where the safety role reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

#: The only variables a command inherits from the worker (plus its allow-list entry's ``env``).
INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
REDACTED = "[redacted]"
_PEM_PRIVATE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I)
_BEARER = re.compile(r"\brsp_[A-Za-z0-9_-]{16,}")


class CommandNotAllowed(ValueError):
    """A suite names a command the deployment does not allow."""


def allowed() -> Mapping[str, Mapping[str, Any]]:
    """The deployment's allow-list: command name → ``{argv, cwd, env, allow_args}``."""
    commands: Mapping[str, Mapping[str, Any]] = getattr(settings, "SUITE_COMMANDS", {})
    return commands


def resolve(name: str, args: Iterable[str]) -> tuple[list[str], str, dict[str, str]]:
    """The argv, working directory and environment for the allow-listed command ``name``."""
    entry = allowed().get(name)
    if entry is None:
        raise CommandNotAllowed(
            f"The command {name!r} is not in this deployment's allow-list (SUITE_COMMANDS_FILE); "
            "ask the operator to add it."
        )
    extra = list(args)
    if extra and not entry.get("allow_args"):
        raise CommandNotAllowed(f"The command {name!r} takes no arguments from a suite.")
    return [*entry["argv"], *extra], str(entry.get("cwd") or ""), environment(entry.get("env"))


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A command's environment: a few harmless variables of the worker's, and ``extra``."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def _secret_values() -> list[str]:
    """Values the worker holds that must never reach a stored log."""
    values = [str(getattr(settings, "SECRET_KEY", ""))]
    for database in settings.DATABASES.values():
        values.append(str(database.get("PASSWORD") or ""))
    values.append(str(getattr(settings, "AUDIT_WITNESS_TOKEN", "")))
    key_file = getattr(settings, "AUDIT_SIGNING_KEY_FILE", None)
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="ascii", errors="ignore")
        except OSError:
            text = ""
        values.extend(line.strip() for line in text.splitlines() if "-----" not in line)
    return sorted({v for v in values if len(v) >= 8}, key=len, reverse=True)


def scrub(text: str) -> str:
    """``text`` with private keys, passwords in URLs, bearer tokens and the worker's secrets
    replaced by ``[redacted]``."""
    text = _PEM_PRIVATE.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _BEARER.sub(REDACTED, text)
    for value in _secret_values():
        text = text.replace(value, REDACTED)
    return text
