"""The stored gate is read three ways (ADR 0021: the stored row, the full path; ADR 0043: the
rendered bytes), and a failing read is logged, failing closed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core import authentication
from governance import services
from governance.api import views
from tests.conftest import bearer
from tests.governance_fixtures import activate_default_policy, baseline, make_model

pytestmark = pytest.mark.django_db


def test_the_authenticator_asks_the_view_nothing():
    # The authenticator never looks at the view (ADR 0021): a row rides in the token's
    # statement only when a view builds its authenticators with a rider (ADR 0056).
    source = Path(authentication.__file__).read_text(encoding="utf-8")
    assert "getattr(view" not in source and "parser_context" not in source
    assert not hasattr(views.GateView, "token_rider")


def test_a_failing_stored_read_is_logged_and_the_full_path_answers(
    pipeline, safety, monkeypatch, caplog
):
    activate_default_policy()
    model = make_model()
    baseline(model, safety)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "stored_gate_body", broken)
    monkeypatch.setattr(services, "stored_gate", broken)
    monkeypatch.setattr(services, "gate_for", broken)
    with caplog.at_level(logging.ERROR, logger="governance.api.views"):
        response = bearer(pipeline).get(f"/api/v1/models/{model.slug}/gate/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "paused"
    assert [r["code"] for r in body["reasons"]] == ["internal_error"]
    logged = [r.getMessage() for r in caplog.records]
    assert any("fast read of" in m for m in logged), logged
    assert any("stored scaling gate of" in m for m in logged), logged
    assert any("answering paused" in m for m in logged), logged
