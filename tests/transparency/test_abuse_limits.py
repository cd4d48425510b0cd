"""Abuse limits of the public surface: rates per client address (shared by the pages and the
API, not bypassed by a forged X-Forwarded-For), bounded sizes answered with 4xx naming the
field, and no reflection of submitted text on any public page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.conftest import client_for
from tests.governance_fixtures import activate_default_policy
from transparency.models import NoncomplianceReport

pytestmark = pytest.mark.django_db
JSON = "application/json"
MARKER = "zq-reflect-7731"
PAYLOAD = f'<script>alert("{MARKER}")</script><img src=x onerror=alert(1)>'


def _file_api(client: Client, **extra: Any) -> int:
    body = json.dumps({"summary": "s", "details": "d"})
    return int(client.post("/api/v1/noncompliance/", body, content_type=JSON, **extra).status_code)


def _file_form(client: Client, **extra: Any) -> int:
    return int(
        client.post("/transparency/report/", {"summary": "s", "details": "d"}, **extra).status_code
    )


def test_filing_through_the_form_is_rate_limited(settings: Any) -> None:
    settings.NONCOMPLIANCE_RATE = "2/hour"
    assert [_file_form(Client()) for _ in range(3)] == [200, 200, 429]
    assert NoncomplianceReport.objects.count() == 2


def test_the_form_and_the_api_share_one_limit_per_address(settings: Any) -> None:
    settings.NONCOMPLIANCE_RATE = "2/hour"
    assert [_file_form(Client()), _file_api(Client()), _file_api(Client())] == [200, 201, 429]
    assert _file_form(Client()) == 429


def test_a_forged_forwarded_for_header_does_not_reset_the_limit(settings: Any) -> None:
    settings.NONCOMPLIANCE_RATE = "2/hour"
    settings.TRUSTED_PROXY_COUNT = 0  # exposed directly: the header is the client's own words
    codes = [_file_api(Client(), HTTP_X_FORWARDED_FOR=f"10.0.0.{i}") for i in range(3)]
    assert codes == [201, 201, 429]
    assert _file_form(Client(), HTTP_X_FORWARDED_FOR="10.9.9.9") == 429


def test_another_address_has_its_own_limit(settings: Any) -> None:
    settings.NONCOMPLIANCE_RATE = "1/hour"
    assert _file_api(Client(REMOTE_ADDR="192.0.2.1")) == 201
    assert _file_api(Client(REMOTE_ADDR="192.0.2.1")) == 429
    assert _file_api(Client(REMOTE_ADDR="192.0.2.2")) == 201


def test_receipt_lookups_are_rate_limited(settings: Any) -> None:
    settings.NONCOMPLIANCE_RATE = "2/hour"
    page = [
        Client().get("/transparency/report/status/", {"receipt": f"nc_guess{i}"}).status_code
        for i in range(2)
    ]
    api = Client().get("/api/v1/noncompliance/status/", {"receipt": "nc_guess3"}).status_code
    assert page == [200, 200] and api == 429


def test_the_public_view_is_rate_limited(settings: Any) -> None:
    settings.TRANSPARENCY_RATE = "2/minute"
    codes = [Client().get("/transparency/").status_code for _ in range(2)]
    codes.append(Client().get("/api/v1/transparency/").status_code)
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"summary": "x" * 301, "details": "d"}, "summary"),
        ({"summary": "s", "details": "y" * 20_001}, "details"),
        ({"summary": 7, "details": "d"}, "summary"),
        ({"summary": "s", "details": {"nested": "object"}}, "details"),
        ({"summary": "s\x00", "details": "d"}, "summary"),
        ({"summary": "   ", "details": "d"}, "summary"),
    ],
)
def test_oversized_or_malformed_reports_are_a_400_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    answer = Client().post("/api/v1/noncompliance/", json.dumps(body), content_type=JSON)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"]
    assert NoncomplianceReport.objects.count() == 0


def test_a_body_over_the_request_limit_is_refused_without_a_500(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"summary": "s", "details": "y" * 10_000})
    answer = Client().post("/api/v1/noncompliance/", body, content_type=JSON)
    assert 400 <= answer.status_code < 500
    assert NoncomplianceReport.objects.count() == 0


def test_the_form_refuses_oversized_text_and_stores_nothing() -> None:
    answer = Client().post("/transparency/report/", {"summary": "x" * 301, "details": "d"})
    assert answer.status_code == 200 and "at most 300 characters" in answer.content.decode()
    assert NoncomplianceReport.objects.count() == 0


def test_submitted_text_is_never_reflected_on_a_public_page(rso: Any) -> None:
    activate_default_policy()
    filed = Client().post(
        "/api/v1/noncompliance/",
        json.dumps({"summary": PAYLOAD, "details": PAYLOAD}),
        content_type=JSON,
    )
    receipt = filed.json()["receipt"]
    assert MARKER not in filed.content.decode()
    form = Client().post("/transparency/report/", {"summary": PAYLOAD, "details": PAYLOAD})
    assert form.status_code == 200 and MARKER not in form.content.decode()  # the receipt page
    public = [
        Client().get("/transparency/"),
        Client().get("/api/v1/transparency/"),
        Client().get("/transparency/how-to-check/"),
        Client().get("/transparency/report/"),
        Client().get("/transparency/report/status/", {"receipt": receipt}),
        Client().get("/api/v1/noncompliance/status/", {"receipt": receipt}),
    ]
    for answer in public:
        assert answer.status_code == 200, answer
        assert MARKER not in answer.content.decode(), answer.request["PATH_INFO"]
    # A form refused for its size shows the field's error, escaped, and nothing runs.
    refused = Client().post("/transparency/report/", {"summary": PAYLOAD, "details": "y" * 20_001})
    assert "<script>alert" not in refused.content.decode()
    # The recipients read it, escaped.
    report = NoncomplianceReport.objects.order_by("pk").first()
    assert report is not None
    page = client_for(rso).get(f"/noncompliance/{report.pk}/").content.decode()
    assert MARKER in page and "<script>alert" not in page


def test_anonymous_traffic_reaches_the_database_once_per_log_change(
    django_assert_max_num_queries: Any,
) -> None:
    activate_default_policy()
    assert Client().get("/api/v1/transparency/").status_code == 200  # builds and caches
    # Expect 1 query: the log head the cache key names (nothing changed, so the view is cached).
    with django_assert_max_num_queries(1):
        assert Client().get("/api/v1/transparency/").status_code == 200
    with django_assert_max_num_queries(1):
        assert Client().get("/transparency/").status_code == 200
