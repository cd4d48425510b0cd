"""A task submitted from the web process is executed by a real worker through Redis."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.services


def test_healthz_round_trips_a_task_through_redis_and_a_worker(celery_worker):
    response = Client().get("/healthz?wait=20")
    body = response.json()
    assert response.status_code == 200, body
    assert body["broker"] == "ok"
    assert body["broker_transport"] == "redis"
    assert body["worker"]["status"] == "ok", body
