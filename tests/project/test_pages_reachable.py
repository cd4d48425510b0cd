"""Every page is reachable from the navigation or from a page it links to (issue 27 obs 6).

The test signs in as each role, follows every same-site link from the dashboard two levels
deep, and fails on a parameterless page route that no crawl reached. Routes with parameters are
detail pages reached from their lists; API, admin, account-flow and action routes are listed.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from evaluations import services as evidence
from policies import services as policies
from policies.packs import load_pack_file
from tests.conftest import client_for

# Not pages a person browses to: machine routes and the sign-in flow (POST-only actions count
# as reached when a page's form posts to them).
NOT_PAGES = {
    "/healthz",
    "/login/",
    "/logout/",
    "/reset/done/",
}
NOT_PAGE_PREFIXES = ("/api/", "/admin/", "/static/")
HREF = re.compile(r'(?:href|action)="(/[^"#?]*)')  # links and the forms' actions


def _page_routes(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    resolver = resolver or get_resolver()
    found: set[str] = set()
    for entry in resolver.url_patterns:
        pattern = str(entry.pattern)
        if isinstance(entry, URLResolver):
            found |= _page_routes(entry, prefix + pattern)
        elif isinstance(entry, URLPattern) and "<" not in pattern and "(?P" not in pattern:
            route = "/" + (prefix + pattern).replace("^", "").replace("$", "")
            if route not in NOT_PAGES and not route.startswith(NOT_PAGE_PREFIXES):
                found.add(route)
    return found


def _reached(client, depth: int = 2) -> set[str]:
    seen: set[str] = set()
    frontier = {"/"}
    for _ in range(depth + 1):
        following: set[str] = set()
        for path in frontier - seen:
            seen.add(path)
            response = client.get(path)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            following |= {
                href
                for href in HREF.findall(response.content.decode())
                if not href.startswith(NOT_PAGE_PREFIXES)
            }
        frontier = following
    return seen | frontier


@pytest.mark.django_db
def test_every_page_is_linked_from_the_navigation_or_its_parent(safety, rso, auditor, admin_user):
    policies.load_pack(load_pack_file("default"), activate=True)
    evidence.create_model(slug="atlas", name="Atlas", family="atlas", actor=safety)
    reached: set[str] = set()
    for user in (safety, rso, auditor, admin_user):
        reached |= _reached(client_for(user))

    unreachable = sorted(_page_routes() - reached)

    assert not unreachable, f"pages reachable only by URL: {unreachable}"
