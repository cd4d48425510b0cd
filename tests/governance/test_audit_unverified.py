"""Issue 21, observation 2: a trail that was never verified, or not recently, or whose last
verification failed, pauses every gate with ``audit_unverified`` (saying which, and what to run),
not ``internal_error``; a decision request is refused with 409 saying the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import VerificationRun
from audit.verification import run_verification
from governance import services
from governance.gate import evaluate
from tests.audit_support import attacker, verify_trail
from tests.conftest import bearer
from tests.gate_fixtures import happy
from tests.governance_fixtures import activate_default_policy, baseline, codes, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(safety):
    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    return model


def _only(gate, code):
    assert codes(gate) == {code}, gate["reasons"]
    assert gate["state"] == "paused"
    return gate["reasons"][0]["message"]


def test_the_tests_keep_the_production_verification_bound(settings):
    # The mechanism a newcomer meets (issue 21): no test may switch it off globally.
    assert settings.AUDIT_VERIFY_MAX_AGE_SECONDS == 180


def test_a_trail_never_verified_is_audit_unverified_and_says_what_to_run(model):
    assert not VerificationRun.objects.exists()

    message = _only(services.gate_for(model), "audit_unverified")

    assert "No audit verification has run yet" in message
    assert "worker and beat" in message and "manage.py verify_audit" in message


def test_a_verification_older_than_the_bound_is_audit_unverified_naming_the_bound(model, settings):
    run = verify_trail()
    later = run.started_at + timedelta(seconds=settings.AUDIT_VERIFY_MAX_AGE_SECONDS + 1)

    verdict, _ = services.evaluate_model(model, "scaling", now=later)
    # (the stored gate reads the clock itself; evaluate_model takes the moment)
    [reason] = verdict.reasons

    assert reason.code == "audit_unverified"
    assert f"more than {settings.AUDIT_VERIFY_MAX_AGE_SECONDS} s ago" in reason.message
    assert "manage.py verify_audit" in reason.message


def test_a_failed_last_verification_is_audit_unverified_saying_when_and_why(model):
    verify_trail()
    with attacker() as cursor:
        cursor.execute("UPDATE audit_auditentry SET prev = repeat('1', 64) WHERE seq = 1")
    outcome, _ = run_verification("worker (quick)", quick=True)  # as the beat would
    assert not outcome.ok

    message = _only(services.gate_for(model), "audit_unverified")

    assert "failed its last verification at" in message
    assert outcome.message in message


def test_a_verified_trail_lets_the_gate_compute(model):
    verify_trail()

    gate = services.gate_for(model)

    assert codes(gate)
    assert not codes(gate) & {"audit_unverified", "internal_error"}


def test_an_engine_failure_is_still_internal_error():
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("database went away")

    verdict = evaluate(happy(policy=Broken()))

    assert [r.code for r in verdict.reasons] == ["internal_error"]


def test_a_decision_request_on_an_unverified_trail_is_409_naming_the_reason(model, safety):
    response = bearer(safety).post(
        "/api/v1/decisions/",
        {"model": model.slug, "compute_limit": 2e24, "rationale": "Scale up."},
        content_type="application/json",
    )

    assert response.status_code == 409, response.content
    [message] = response.json()["errors"]["model"]
    assert "audit trail is unverified" in message
    assert "No audit verification has run yet" in message
    assert "try again later" not in message


def test_the_decision_page_shows_what_to_run(model, safety):
    from tests.conftest import client_for

    page = client_for(safety).get(f"/models/{model.slug}/")

    assert page.status_code == 200
    assert b"verify_audit" in page.content


def test_verifying_after_the_bound_restores_trust(model, settings):
    verify_trail()
    later = timezone.now() + timedelta(seconds=settings.AUDIT_VERIFY_MAX_AGE_SECONDS + 1)
    verdict, _ = services.evaluate_model(model, "scaling", now=later)
    assert [r.code for r in verdict.reasons] == ["audit_unverified"]

    verify_trail()

    assert "audit_unverified" not in codes(services.gate_for(model))
