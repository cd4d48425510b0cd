"""Sign-in lockouts behind the documented TLS proxy key on the client, not on the proxy."""

from __future__ import annotations

import pytest
from django.test import Client

from core.client_ip import client_ip

PROXY = "10.0.0.2"


def _fail_sign_in(client: Client, username: str, forwarded_for: str) -> None:
    client.post(
        "/login/",
        {"username": username, "password": "wrong-password-000"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.fixture
def axes_behind_proxy(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5
    settings.TRUSTED_PROXY_COUNT = 1


@pytest.mark.django_db
def test_one_attacker_behind_the_proxy_does_not_lock_everyone_out(axes_behind_proxy, rso):
    attacker = Client()
    for _ in range(6):
        _fail_sign_in(attacker, "ceo", "203.0.113.9")
    # The attacker is locked out...
    response = Client().post(
        "/login/",
        {"username": "rso", "password": "rso-password-123"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert response.status_code == 429
    # ...but a leader signing in from elsewhere through the same proxy is not.
    response = Client().post(
        "/login/",
        {"username": "rso", "password": "rso-password-123"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert response.status_code == 302


def _request(remote: str, forwarded: str | None = None):
    from django.test import RequestFactory

    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("192.0.2.1", "203.0.113.9")) == "192.0.2.1"


def test_a_client_cannot_spoof_its_address_through_the_header(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client sent its own X-Forwarded-For; the proxy appended the real peer.
    assert client_ip(_request(PROXY, "1.2.3.4, 203.0.113.9")) == "203.0.113.9"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request(PROXY, "1.2.3.4, 203.0.113.9, 10.0.0.1")) == "203.0.113.9"


def test_a_request_that_skipped_the_proxies_keys_on_its_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request("192.0.2.1", "203.0.113.9")) == "192.0.2.1"
    assert client_ip(_request("192.0.2.1", "not-an-address")) == "192.0.2.1"
    assert client_ip(_request("192.0.2.1")) == "192.0.2.1"
