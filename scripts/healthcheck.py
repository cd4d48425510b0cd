#!/usr/bin/env python3
"""Is the web tier serving pages? Exit 0 only when ``/healthz``, ``/login/`` and every stylesheet
the login page links answer 200.

``/healthz`` alone stays green while every page fails (e.g. a missing static manifest entry
answers 500 on every rendered page), so the image's HEALTHCHECK and CI run this instead.
Standard library only: it runs in the image and before any virtualenv exists.

    python scripts/healthcheck.py [BASE_URL]     # default http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin

TIMEOUT = 4


class _Stylesheets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        rels = (values.get("rel") or "").split()
        if tag == "link" and "stylesheet" in rels and values.get("href"):
            self.hrefs.append(str(values["href"]))


def _get(url: str) -> bytes:
    """The body of ``url``; raises unless it answers 200 (redirects are not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(url, timeout=TIMEOUT) as response:
        if response.status != 200:
            raise urllib.error.HTTPError(url, response.status, "not 200", response.headers, None)
        return bytes(response.read())


def check(base: str) -> list[str]:
    """Problems found at ``base`` (empty: healthy)."""
    base = base.rstrip("/") + "/"
    problems: list[str] = []
    for path in ("healthz", "login/"):
        url = urljoin(base, path)
        try:
            body = _get(url)
        except (OSError, urllib.error.HTTPError) as exc:
            problems.append(f"{url}: {exc}")
            continue
        if path == "login/":
            parser = _Stylesheets()
            parser.feed(body.decode("utf-8", "replace"))
            if not parser.hrefs:
                problems.append(f"{url}: links no stylesheet")
            for href in parser.hrefs:
                try:
                    _get(urljoin(url, href))
                except (OSError, urllib.error.HTTPError) as exc:
                    problems.append(f"{urljoin(url, href)}: {exc}")
    return problems


def main(argv: list[str]) -> int:
    base = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000"
    problems = check(base)
    for problem in problems:
        print(f"unhealthy: {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: {base} serves /healthz, /login/ and its stylesheets")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
