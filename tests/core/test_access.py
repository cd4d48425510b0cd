"""Every page and endpoint refuses anonymous requests, except /healthz and the login page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# Routes anyone may reach; everything else must refuse an anonymous visitor.
# The password-reset pages are reached from an e-mailed link, before signing in.
# The public view and the noncompliance form (docs/transparency.md) need no login by design.
PUBLIC = {
    "/healthz",
    "/login/",
    "/admin/login/",
    "/reset/x/x/",
    "/reset/done/",
    "/transparency/",
    "/transparency/how-to-check/",
    "/transparency/report/",
    "/transparency/report/status/",
    "/api/v1/transparency/",
    "/api/v1/noncompliance/status/",
}
# Anyone may file a noncompliance report (POST); only its recipients list them (GET).
PUBLIC_POST = {"/api/v1/noncompliance/"}
SAMPLE_ARGS = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "x",
}


def _routes(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Every concrete route of the project, with sample values for its parameters."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        pattern = str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry, prefix + pattern)
        elif isinstance(entry, URLPattern):
            route = prefix + pattern
            if "format" in route or "(?P<url>" in route:  # format suffixes, admin catch-all
                continue
            route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route).replace("^", "").replace("$", "")
            for converter, value in SAMPLE_ARGS.items():
                while f"<{converter}:" in route:
                    start = route.index(f"<{converter}:")
                    route = route[:start] + value + route[route.index(">", start) + 1 :]
            while "<" in route:
                start = route.index("<")
                route = route[:start] + "x" + route[route.index(">", start) + 1 :]
            found.append("/" + route)
    return sorted(set(found))


@pytest.mark.django_db
@pytest.mark.parametrize("route", _routes())
def test_anonymous_requests_are_refused(route):
    client = Client()
    for method in ("get", "post"):
        response = getattr(client, method)(route)
        if route in PUBLIC or (method == "post" and route in PUBLIC_POST):
            continue
        if route.startswith("/admin/"):
            assert response.status_code in {302, 404, 405}, (method, route)
            if response.status_code == 302:
                assert "/login/" in response["Location"]
            continue
        if route.startswith("/api/"):
            assert response.status_code == 401, (method, route, response.status_code)
        else:
            assert response.status_code in {302, 405}, (method, route, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/login/"), route


def test_the_route_list_covers_the_api():
    routes = _routes()
    assert "/api/v1/schema/" in routes
    assert "/account/tokens/" in routes


@pytest.mark.django_db
def test_healthz_answers_without_login_and_shows_no_secrets(settings):
    response = Client().get("/healthz")
    body = response.json()
    assert body["database"] == "ok"
    assert set(body) == {"status", "database", "broker", "broker_transport", "worker"}
    assert settings.SECRET_KEY not in response.content.decode()


@pytest.mark.django_db
def test_login_page_renders_and_signs_in(safety):
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "safety", "password": "safety-password-123"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_navigation_shows_each_role_what_it_may_use(auditor, safety):
    from tests.conftest import client_for

    assert "Admin</a>" not in client_for(safety).get("/").content.decode()
    assert client_for(auditor).get("/").status_code == 200


@pytest.mark.django_db
def test_a_user_without_role_is_refused_by_the_api(outsider):
    from tests.conftest import client_for

    assert client_for(outsider).get("/api/v1/me/").status_code == 403
