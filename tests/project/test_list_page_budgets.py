"""Query budgets of the governance list pages: fixed whatever the number of rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import safeguards, services
from tests.conftest import client_for
from tests.governance_fixtures import activate_default_policy, make_model

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _queries(client: Any, url: str) -> int:
    assert client.get(url).status_code == 200  # warm the stored gate and caches
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def _decisions(model: Any, actor: Any, n: int) -> None:
    for i in range(n):
        services.request_decision(model, 1e24 * (i + 2), f"Request {i}.", actor)


def _precautions(model: Any, actor: Any, n: int) -> None:
    for i in range(n):
        services.record_precaution(model, "CBRN-3", f"Cannot rule it out ({i}).", actor)


@pytest.mark.parametrize(
    ("url", "grow"),
    [
        ("/decisions/", "decisions"),
        ("/models/atlas/precautions/", "precautions"),
        ("/models/atlas/safeguards/", "safeguards"),
    ],
)
def test_list_pages_cost_the_same_with_few_or_many_rows(url, grow, safety, rso):
    activate_default_policy()
    model = make_model()
    client = client_for(rso)

    def add(n: int) -> None:
        if grow == "decisions":
            _decisions(model, safety, n)
        elif grow == "precautions":
            _precautions(model, rso, n)
        else:
            codes = [r["requirement_code"] for r in safeguards.checklist(model)]
            for code in codes[:n]:
                services.record_safeguard(
                    model, code, "verified", safety, evidence_url="https://evidence.example/x"
                )

    add(2)
    small = _queries(client, url)
    add(12)
    assert _queries(client, url) == small
