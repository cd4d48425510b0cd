#!/usr/bin/env python3
"""CI step: the README's first command on a fresh clone, as a newcomer runs it.

Clones the checkout into a temporary directory, starts ``make run`` there on a free port with no
variables set (a clean environment: PATH and HOME only), waits for the login page, signs in as
the demo safety user (password from ``var/demo-logins.json``) and reads every demo gate through
the API. It fails if any gate is ``internal_error``; after the beat's first verification (seen
through the auditor's ``GET /api/v1/audit/verify/``), none may be ``audit_unverified`` either.
Then it stops ``make run`` with Ctrl-C (SIGINT to its process group), as a user would, and runs
``make demo`` again: the second run must work too.

Standard library only; run it with any Python 3.11+:

    python3 .ci/first_run.py [--repo PATH_OR_URL] [--port N]  # default: this checkout, free port
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: make run installs from PyPI into a fresh .venv (~40 s), migrates and seeds (~1-2 min).
START_TIMEOUT = 600
#: The beat sends the quick verification every minute; the worker may take a while to start.
BEAT_TIMEOUT = 240
SCOPES = ("scaling", "deployment")


def log(message: str) -> None:
    print(f"[first-run] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Session:
    """A browser-like session: cookies, and the CSRF token for unsafe requests."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def login(self, username: str, password: str) -> None:
        status, _ = self.get("/login/")
        assert status == 200, f"/login/ answered {status}"
        token = next(c.value for c in self.jar if c.name.endswith("csrftoken"))
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
            self.base + "/login/", data=data, headers={"Referer": self.base + "/login/"}
        )
        with self.opener.open(request, timeout=30) as response:
            response.read()
        if not any(c.name.endswith("sessionid") for c in self.jar):
            raise SystemExit(f"signing in as {username} failed (no session cookie)")


def wait_for_login_page(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`make run` exited with {proc.returncode} before serving pages")
        try:
            with urllib.request.urlopen(base + "/login/", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(2)
    raise SystemExit(f"no login page at {base}/login/ after {START_TIMEOUT} s")


def gates(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page: str | None = "/api/v1/models/"
    while page:
        listing = session.json(page)
        if isinstance(listing, list):
            rows += listing
            break
        rows += listing["results"]
        page = listing.get("next")
        if page:
            page = page.removeprefix(session.base)
    answers = {}
    for model in rows:
        for scope in SCOPES:
            answers[(model["slug"], scope)] = session.json(
                f"/api/v1/models/{model['slug']}/gate/?scope={scope}"
            )
    if not answers:
        raise SystemExit("the demo has no models")
    return answers


def codes(gate: dict[str, Any]) -> set[str]:
    return {str(reason["code"]) for reason in gate.get("reasons", [])}


def check_gates(session: Session, *, after_beat: bool) -> None:
    forbidden = {"internal_error"} | ({"audit_unverified"} if after_beat else set())
    bad = []
    for (slug, scope), gate in sorted(gates(session).items()):
        log(f"  {slug} {scope}: {gate['state']} {sorted(codes(gate))}")
        for reason in gate.get("reasons", []):
            if reason["code"] in forbidden:
                bad.append(f"{slug} {scope}: {reason['code']}: {reason['message']}")
    if bad:
        raise SystemExit("gates that must not be:\n  " + "\n  ".join(bad))


def wait_for_beat(auditor: Session, since: float) -> None:
    """Until a passing verification newer than ``since`` is recorded (the beat's first)."""
    deadline = time.monotonic() + BEAT_TIMEOUT
    while time.monotonic() < deadline:
        status, body = auditor.get("/api/v1/audit/verify/")
        if status == 200:
            run = json.loads(body)
            checked = datetime.fromisoformat(run["checked_at"].replace("Z", "+00:00")).timestamp()
            if checked > since:
                if not run["ok"]:
                    raise SystemExit(f"the beat's verification failed: {run['message']}")
                log(f"beat verified the trail at {run['checked_at']}: {run['message']}")
                return
        time.sleep(5)
    raise SystemExit(f"no verification by the worker within {BEAT_TIMEOUT} s of start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the whole group (make, honcho, web, worker, beat), then harder if need be."""
    for sig, grace in ((signal.SIGINT, 30), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"still running after {sig.name}")
    with contextlib.suppress(ProcessLookupError):  # anything left in the group goes too
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(ROOT), help="what to clone (default: this checkout)")
    parser.add_argument("--port", type=int, default=0, help="port for make run (default: free)")
    args = parser.parse_args()
    clean_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
    }
    with tempfile.TemporaryDirectory(prefix="rsp-first-run-") as tmp:
        clone = Path(tmp) / "rsp-portal"
        subprocess.run(["git", "clone", "--quiet", args.repo, str(clone)], check=True)
        port = args.port or free_port()
        base = f"http://127.0.0.1:{port}"
        out = (Path(tmp) / "make-run.log").open("wb")
        log(f"make run PORT={port} in a fresh clone ({clone})")
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=clean_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_login_page(base, proc)
            up = time.time()
            log("login page served")
            logins = json.loads((clone / "var" / "demo-logins.json").read_text())
            safety = Session(base)
            safety.login("safety", logins["safety"])
            check_gates(safety, after_beat=False)
            auditor = Session(base)
            auditor.login("auditor", logins["auditor"])
            wait_for_beat(auditor, up)
            check_gates(safety, after_beat=True)
        except BaseException:
            out.flush()
            sys.stdout.write((Path(tmp) / "make-run.log").read_text(errors="replace")[-6000:])
            raise
        finally:
            stop(proc)
            out.close()
        log("stopped; second run: make demo")
        again = subprocess.run(
            ["make", "demo"], cwd=clone, env=clean_env, capture_output=True, text=True
        )
        if again.returncode != 0:
            sys.stdout.write(again.stdout[-4000:] + again.stderr[-4000:])
            raise SystemExit(f"the second `make demo` failed ({again.returncode})")
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
