"""The stored gate's fast path (ADR 0043) answers exactly as DRF's view, or lets it answer.

Each case sends the same request twice: once as deployed, once with the fast path switched off
(DRF's ``GateView`` alone), and compares status, headers and body byte for byte. Where the
answer is dated "now" (a tampered row is answered paused as of the request), the bodies are
compared without that one field.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.http import parse_http_date
from rest_framework.response import Response

from core.models import ApiToken
from governance import services
from governance.api import views
from governance.models import GateState
from governance.services import gates
from tests.conftest import bearer, client_for
from tests.governance_fixtures import (
    activate_default_policy,
    baseline,
    evaluate_all_below,
    make_model,
    sign_required_reports,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _both(client: Client, url: str, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> Any:
    """The deployed answer and DRF's alone, to the same request."""
    fast = client.get(url, **extra)
    with monkeypatch.context() as patch:
        patch.setattr(views, "_stored_read", lambda request, slug: None)
        drf = client.get(url, **extra)
    assert isinstance(drf, Response)
    return fast, drf


def _headers(response: Any) -> list[tuple[str, str]]:
    """The headers, ``Expires`` set aside: ``never_cache`` dates it to the second of the
    answer, and two answers may straddle a second (``_same`` compares it apart)."""
    return [(k, "<now>" if k == "Expires" else v) for k, v in response.headers.items()]


def _same(fast: Any, drf: Any, *, dated_now: bool = False) -> None:
    assert fast.status_code == drf.status_code
    assert _headers(fast) == _headers(drf)
    if "Expires" in fast.headers:
        moments = [parse_http_date(r.headers["Expires"]) for r in (fast, drf)]
        assert 0 <= moments[1] - moments[0] <= 1
    if dated_now:
        one, two = json.loads(fast.content), json.loads(drf.content)
        one.pop("computed_at"), two.pop("computed_at")
        assert one == two
    else:
        assert fast.content == drf.content


def _approved(safety: Any, rso: Any, ceo: Any) -> Any:
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    sign_required_reports(model, safety, rso, ceo)
    decision = services.request_decision(model, 2e24, "Evidence reviewed.", safety)
    services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256)
    services.sign_decision(decision.pk, ceo, "approve", decision.dossier_sha256)
    return model


def _paused(pipeline: Any) -> tuple[Any, Client, str]:
    """A model whose stored gate is fresh and paused (no evidence), a pipeline's client."""
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline)
    url = f"/api/v1/models/{model.slug}/gate/"
    client.get(url)
    return model, client, url


def test_an_approved_stored_gate_is_served_fast_with_drfs_bytes(
    pipeline, safety, rso, ceo, monkeypatch
):
    model = _approved(safety, rso, ceo)
    client = bearer(pipeline)
    url = f"/api/v1/models/{model.slug}/gate/"
    client.get(url)  # a fresh stored row
    fast, drf = _both(client, url, monkeypatch)
    assert not isinstance(fast, Response)  # served without DRF's dispatch
    assert fast.json()["state"] == "approved"
    _same(fast, drf)
    # The rendered bytes are kept: a second read serves the same ones.
    assert client.get(url).content == fast.content


def test_a_paused_stored_gate_is_served_fast_with_its_reasons(pipeline, monkeypatch):
    _model, client, url = _paused(pipeline)
    fast, drf = _both(client, url, monkeypatch, HTTP_ACCEPT="application/json")
    assert not isinstance(fast, Response)
    assert fast.json()["state"] == "paused" and fast.json()["reasons"]
    _same(fast, drf)


def test_a_tampered_stored_gate_is_answered_paused_by_drf(pipeline, safety, rso, ceo, monkeypatch):
    model = _approved(safety, rso, ceo)
    client = bearer(pipeline)
    url = f"/api/v1/models/{model.slug}/gate/"
    assert client.get(url).json()["state"] == "approved"  # its bytes are now kept
    # Edited outside the application: an UPDATE that leaves the MAC alone.
    rows = GateState.objects.filter(model=model, scope="scaling")
    rows.update(verdict={**rows.get().verdict, "approved_compute_limit": 1e30})
    fast, drf = _both(client, url, monkeypatch)
    assert isinstance(fast, Response)  # DRF answered it
    assert fast.json()["state"] == "paused"
    assert "failed its integrity check" in fast.json()["reasons"][0]["message"]
    _same(fast, drf, dated_now=True)


def test_a_stale_stored_gate_goes_to_drf_which_recomputes(pipeline, monkeypatch):
    model, client, url = _paused(pipeline)
    assert services.stored_gate_body(model.slug) is not None
    first = GateState.objects.get(model=model, scope="scaling").computed_at
    with monkeypatch.context() as patch:
        patch.setattr(gates, "GATE_MAX_AGE", timedelta(0))  # every row is now too old
        assert services.stored_gate_body(model.slug) is None
        response = client.get(url)
    assert isinstance(response, Response) and response.json()["state"] == "paused"
    assert GateState.objects.get(model=model, scope="scaling").computed_at > first
    assert services.stored_gate_body(model.slug) is not None


@pytest.mark.parametrize("extra", [{"HTTP_ACCEPT": "application/json; indent=2"}, {}])
def test_other_requests_go_to_drf(pipeline, monkeypatch, extra):
    _model, client, url = _paused(pipeline)
    if not extra:
        url += "?scope=scaling"
    fast, drf = _both(client, url, monkeypatch, **extra)
    assert isinstance(fast, Response)
    _same(fast, drf)


def test_a_session_read_goes_to_drf(safety, monkeypatch):
    activate_default_policy()
    model = make_model()
    fast, drf = _both(client_for(safety), f"/api/v1/models/{model.slug}/gate/", monkeypatch)
    assert isinstance(fast, Response) and fast.status_code == 200
    _same(fast, drf)


def test_an_unknown_model_is_drfs_404(pipeline, monkeypatch):
    activate_default_policy()
    fast, drf = _both(bearer(pipeline), "/api/v1/models/nobody/gate/", monkeypatch)
    assert fast.status_code == 404
    _same(fast, drf)


def test_a_bad_token_is_drfs_401(monkeypatch):
    activate_default_policy()
    make_model()
    for header in ("Bearer rsp_0123456789ab_not-the-secret", "Bearer two words"):
        fast, drf = _both(
            Client(HTTP_AUTHORIZATION=header), "/api/v1/models/atlas/gate/", monkeypatch
        )
        assert fast.status_code == 401
        _same(fast, drf)


def test_an_expired_token_is_drfs_401(pipeline, monkeypatch):
    activate_default_policy()
    make_model()
    _, text = ApiToken.issue(pipeline, "expired", ["gate:read"], timezone.now() - timedelta(1))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")
    fast, drf = _both(client, "/api/v1/models/atlas/gate/", monkeypatch)
    assert fast.status_code == 401
    _same(fast, drf)


def test_a_revoked_token_is_drfs_401(pipeline, monkeypatch):
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline, ["gate:read"], name="to-revoke")
    url = f"/api/v1/models/{model.slug}/gate/"
    assert client.get(url).status_code == 200
    ApiToken.objects.get(name="to-revoke").revoke()
    fast, drf = _both(client, url, monkeypatch)
    assert fast.status_code == 401
    _same(fast, drf)


@pytest.mark.parametrize("who, scopes", [("outsider", ["gate:read"]), ("safety", ["read"])])
def test_a_wrong_role_or_scope_is_drfs_403_logged_once(request, monkeypatch, caplog, who, scopes):
    activate_default_policy()
    model = make_model()
    client = bearer(request.getfixturevalue(who), scopes)
    url = f"/api/v1/models/{model.slug}/gate/"
    with caplog.at_level(logging.WARNING, logger="rsp_portal.authz"):
        fast = client.get(url)
    refusals = [r for r in caplog.records if "authorisation refused" in r.getMessage()]
    assert len(refusals) == 1  # the fast path refuses nothing itself: DRF logs the denial
    fast, drf = _both(client, url, monkeypatch)
    assert fast.status_code == 403
    _same(fast, drf)
