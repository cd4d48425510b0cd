"""Issue 21, observation 3: the web health check (``scripts/healthcheck.py``, the image's
HEALTHCHECK) fails when pages fail, not only when ``/healthz`` does."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "scripts" / "healthcheck.py")
assert _spec and _spec.loader
healthcheck: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)

LOGIN = b'<html><head><link rel="stylesheet" href="/static/css/app.abc123.css"></head></html>'


def _serve(answers: dict[str, tuple[int, bytes]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


HEALTHY = {
    "/healthz": (200, b'{"status": "ok"}'),
    "/login/": (200, LOGIN),
    "/static/css/app.abc123.css": (200, b"body{}"),
}


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _serve({**HEALTHY, **request.param})


@pytest.mark.parametrize("site", [{}], indirect=True)
def test_a_site_that_serves_its_pages_is_healthy(site: str) -> None:
    assert healthcheck.check(site) == []
    assert healthcheck.main(["healthcheck", site]) == 0


@pytest.mark.parametrize(
    "site",
    [
        # The image with DEBUG-built static files: /healthz fine, every page 500.
        {"/login/": (500, b"Missing staticfiles manifest entry for 'css/app.css'")},
        {"/static/css/app.abc123.css": (404, b"")},
        {"/healthz": (503, b"")},
        {"/login/": (200, b"<html>no stylesheet</html>")},
    ],
    indirect=True,
)
def test_a_site_whose_pages_fail_is_unhealthy_even_when_healthz_answers(site: str) -> None:
    assert healthcheck.check(site)
    assert healthcheck.main(["healthcheck", site]) == 1
