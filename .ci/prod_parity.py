#!/usr/bin/env python3
"""CI step: the image's own commands, run outside Docker with DEBUG off.

No Docker engine runs in CI, so this takes the commands from the files themselves and runs them
on this machine with the virtualenv's Python: the Dockerfile's ``collectstatic`` (with only the
Dockerfile's ENV, as the build has), the compose ``migrate`` service's command, then the
Dockerfile's CMD (gunicorn) bound to 127.0.0.1 on a free port, with SQLite in a temporary
directory and the variables compose gives the containers. ``/healthz``, ``/login/`` and the
stylesheet the login page links must answer 200 (``scripts/healthcheck.py``, the image's
HEALTHCHECK).

    .venv/bin/python .ci/prod_parity.py [--root CHECKOUT] [--port N]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[prod-parity] {message}", flush=True)


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(HERE), help="the checkout (default: this one)")
    parser.add_argument("--port", type=int, default=0, help="port for gunicorn (default: free)")
    args = parser.parse_args()
    root = Path(args.root)
    steps = instructions(root / "Dockerfile")
    image_env: dict[str, str] = {}
    for instruction, rest in steps:
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                image_env[key] = value
    build = [
        part.strip()
        for instruction, rest in steps
        if instruction == "RUN"
        for part in rest.split("&&")
        if "collectstatic" in part
    ]
    cmd = json.loads(next(rest for instruction, rest in steps if instruction == "CMD"))
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    migrate = compose["services"]["migrate"]["command"]
    if not build:
        raise SystemExit("the Dockerfile runs no collectstatic")

    port = args.port or free_port()
    with tempfile.TemporaryDirectory(prefix="rsp-parity-") as tmp:
        base_env = {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            **image_env,
            # The image's paths, moved into the temporary directory.
            "RSP_VAR_DIR": f"{tmp}/var",
            "STATIC_ROOT": f"{tmp}/staticfiles",
        }
        for command in build:
            log(f"build: {command}")
            subprocess.run(["sh", "-c", command], cwd=root, env=base_env, check=True)
        runtime_env = {
            **base_env,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": f"http://127.0.0.1:{port}",
            "SECURE_SSL_REDIRECT": "false",
            "TRUST_X_FORWARDED_PROTO": "false",
        }
        log(f"migrate: {migrate}")
        subprocess.run(migrate, cwd=root, env=runtime_env, check=True)
        cmd = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in cmd]
        log(f"CMD: {' '.join(cmd)}")
        server = subprocess.Popen(cmd, cwd=root, env=runtime_env, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    raise SystemExit(f"gunicorn exited with {server.returncode}")
                try:
                    url = f"http://127.0.0.1:{port}/healthz"
                    with urllib.request.urlopen(url, timeout=5):
                        break
                except (OSError, urllib.error.HTTPError):
                    time.sleep(1)
            check = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "scripts" / "healthcheck.py"),
                    f"http://127.0.0.1:{port}",
                ]
            )
            if check.returncode != 0:
                raise SystemExit("the image's commands do not serve pages with DEBUG off")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
