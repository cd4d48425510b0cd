"""One answer to "may this user sign?": ``ScalingDecision.can_be_signed_by``."""

from __future__ import annotations

import pytest

from governance import services
from tests.governance_fixtures import activate_default_policy, baseline, make_model

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


@pytest.fixture
def decision(safety):
    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    return services.request_decision(model, 2e24, "below every line", safety)


def test_a_title_holder_may_sign_with_their_title(decision, rso):
    assert decision.can_be_signed_by(rso) == "RSO"


def test_the_requester_may_not_sign(decision, safety):
    assert decision.can_be_signed_by(safety) is None


def test_a_deactivated_title_holder_may_not_sign(decision, rso):
    rso.is_active = False
    assert decision.can_be_signed_by(rso) is None


def test_whoever_signed_once_may_not_sign_again(decision, rso):
    services.sign_decision(decision.pk, rso, "approve", decision.dossier_sha256)
    assert decision.can_be_signed_by(rso) is None


def test_a_decided_decision_takes_no_signature(decision, rso, ceo):
    services.sign_decision(decision.pk, ceo, "reject", decision.dossier_sha256)
    decision.refresh_from_db()
    assert decision.can_be_signed_by(rso) is None
