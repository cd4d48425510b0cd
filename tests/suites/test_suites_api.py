"""Suite pages, API and admin: who may do what, what they show, and their query budgets."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import PeriodicTask

from core import outbox
from suites import services as suites
from suites.models import EvalSuite, SuiteRun
from tests.conftest import bearer, client_for
from tests.governance_fixtures import activate_default_policy, make_model
from tests.suite_fixtures import make_suite

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Publishing is recorded instead of sent (no broker in these tests)."""
    sent: list[Any] = []
    monkeypatch.setattr(outbox, "_send", sent.append)
    return sent


@pytest.fixture
def suite(db: None) -> EvalSuite:
    activate_default_policy()
    return make_suite(targets=[make_model("atlas"), make_model("borealis")], schedule="0 * * * *")


def _post_run(client: Client, slug: str, body: Any, **headers: Any) -> Any:
    return client.post(
        f"/api/v1/suites/{slug}/run/", body, content_type="application/json", headers=headers
    )


# --- API -----------------------------------------------------------------------------------


def test_the_suite_list_needs_a_reader(suite, outsider, auditor, pipeline):
    assert Client().get("/api/v1/suites/").status_code == 401
    assert client_for(outsider).get("/api/v1/suites/").status_code == 403
    body = client_for(auditor).get("/api/v1/suites/").json()
    (item,) = body["results"]
    assert item["slug"] == "cmd-suite"
    assert item["targets"] == ["atlas", "borealis"]
    assert item["schedule"] == "0 * * * *"
    assert item["config"] is None  # runner configuration: administrators only
    assert bearer(pipeline).get("/api/v1/suites/").status_code == 200


def test_administrators_see_the_runner_configuration(suite, admin_user):
    (item,) = client_for(admin_user).get("/api/v1/suites/").json()["results"]
    assert item["config"]["command"] == "emit-metrics"


@pytest.mark.parametrize("n", [1, 12])
def test_the_suite_list_has_a_constant_query_budget(suite, auditor, n, django_assert_num_queries):
    model = suite.targets.first()
    for i in range(n):
        other = make_suite(f"suite-{i}", targets=[model])
        suites.request_run(other, model, actor=None)
    client = client_for(auditor)
    client.get("/api/v1/suites/")
    # Session, user (its role is a column); count; suites with their latest run; targets.
    with django_assert_num_queries(5):
        response = client.get("/api/v1/suites/")
    assert len(response.json()["results"]) == n + 1


def test_running_a_suite_needs_the_suite_run_action(suite, auditor, pipeline, rso):
    assert _post_run(Client(), suite.slug, {"model": "atlas"}).status_code == 401
    for client in (client_for(auditor), bearer(pipeline), client_for(rso)):
        assert _post_run(client, suite.slug, {"model": "atlas"}).status_code == 403
    assert not SuiteRun.objects.exists()


def test_a_safety_user_queues_a_run_and_gets_202_with_it(suite, safety, no_broker):
    response = _post_run(bearer(safety), suite.slug, {"model": "atlas"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["model"] == "atlas"
    assert body["checkpoint"] == "ckpt-1"
    assert body["progress"] == {"done": 0, "total": 0}
    run = SuiteRun.objects.get(pk=body["id"])
    assert run.triggered_by == SuiteRun.Trigger.API
    assert run.requested_by == safety


def test_a_run_request_is_idempotent_with_a_key(suite, safety):
    client = bearer(safety)
    first = _post_run(client, suite.slug, {"model": "atlas"}, **{"Idempotency-Key": "k-1"})
    again = _post_run(client, suite.slug, {"model": "atlas"}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert SuiteRun.objects.count() == 1


@pytest.mark.parametrize(
    ("slug", "body", "code", "field"),
    [
        ("no-such-suite", {"model": "atlas"}, 404, None),
        ("cmd-suite", {"model": "nobody"}, 400, "model"),
        ("cmd-suite", {}, 400, "model"),
        ("cmd-suite", ["atlas"], 400, "non_field_errors"),
    ],
)
def test_a_bad_run_request_is_refused_without_a_500(suite, safety, slug, body, code, field):
    response = _post_run(client_for(safety), slug, body)
    assert response.status_code == code
    if field:
        assert field in response.json()["errors"]


def test_a_model_outside_the_targets_or_without_checkpoint_is_refused(suite, safety):
    make_model("cirrus")
    response = _post_run(client_for(safety), suite.slug, {"model": "cirrus"})
    assert response.status_code == 400
    assert "not a target" in response.json()["errors"]["model"][0]
    bare = make_model("dune", compute=None)
    suite.targets.add(bare)
    response = _post_run(client_for(safety), suite.slug, {"model": "dune"})
    assert response.status_code == 409


def test_a_run_shows_its_status_progress_and_results(suite, safety, auditor, outsider):
    run = suites.request_run(suite, suite.targets.get(slug="atlas"), actor=safety)
    suites.execute(run.pk, "w1")
    url = f"/api/v1/runs/{run.pk}/"
    assert Client().get(url).status_code == 401
    assert client_for(outsider).get(url).status_code == 403
    body = client_for(auditor).get(url).json()
    assert body["status"] == "succeeded"
    assert body["attempts"] == 1
    assert body["progress"] == {"done": 1, "total": 1}
    assert {r["metric"]: r["value"] for r in body["results"]} == {
        "cyber.ctf_solve_rate": 0.2,
        "autonomy.swe_task_success": 0.1,
    }
    assert client_for(auditor).get("/api/v1/runs/999999/").status_code == 404


def test_the_schema_describes_the_suite_routes(admin_user):
    schema = client_for(admin_user).get("/api/v1/schema/", {"format": "json"}).json()
    assert "/api/v1/suites/{slug}/run/" in schema["paths"]
    assert "/api/v1/runs/{id}/" in schema["paths"]


# --- Pages ---------------------------------------------------------------------------------


def test_the_suites_page_needs_a_signed_in_reader(suite, outsider, auditor):
    assert Client().get("/suites/").status_code == 302
    assert client_for(outsider).get("/suites/").status_code == 403
    page = client_for(auditor).get("/suites/").content.decode()
    assert "Cmd Suite" in page
    assert "0 * * * *" in page


@pytest.mark.parametrize("n", [1, 12])
def test_the_suites_page_has_a_constant_query_budget(suite, safety, n, django_assert_num_queries):
    model = suite.targets.first()
    for i in range(n):
        other = make_suite(f"suite-{i}", targets=[model])
        suites.request_run(other, model, actor=None)
    client = client_for(safety)
    client.get("/suites/")
    # Session, user (role is a column), titles (page header); suites with their latest run;
    # targets.
    with django_assert_num_queries(5):
        response = client.get("/suites/")
    assert response.content.decode().count('href="/runs/') == n


def test_run_now_is_offered_and_allowed_to_safety_only(suite, safety, auditor):
    assert "Run now" in client_for(safety).get("/suites/cmd-suite/").content.decode()
    assert "Run now" not in client_for(auditor).get("/suites/cmd-suite/").content.decode()
    url = "/suites/cmd-suite/run/"
    assert client_for(auditor).post(url, {"model": "atlas"}).status_code == 403
    assert client_for(safety).get(url).status_code == 405
    response = client_for(safety).post(url, {"model": "atlas"})
    run = SuiteRun.objects.get()
    assert response.status_code == 302
    assert response.url == f"/runs/{run.pk}/"
    assert run.triggered_by == SuiteRun.Trigger.USER


def test_the_run_page_polls_while_the_run_is_active_and_stops_after(suite, safety, auditor):
    run = suites.request_run(suite, suite.targets.get(slug="atlas"), actor=safety)
    page = client_for(auditor).get(f"/runs/{run.pk}/").content.decode()
    assert f'hx-get="/runs/{run.pk}/status/"' in page
    assert 'hx-trigger="every 2s"' in page
    suites.execute(run.pk, "w1")
    fragment = client_for(auditor).get(f"/runs/{run.pk}/status/").content.decode()
    assert "hx-get" not in fragment
    assert "cyber.ctf_solve_rate" in fragment
    assert "evaluating..." in fragment  # the log excerpt


def test_a_failed_run_page_shows_the_error(suite, safety, auditor):
    from tests.suite_fixtures import failing_config

    failing = make_suite(
        "failing", targets=list(suite.targets.all()), config=failing_config(), max_attempts=1
    )
    run = suites.request_run(failing, suite.targets.get(slug="atlas"), actor=safety)
    suites.execute(run.pk, "w1")
    page = client_for(auditor).get(f"/runs/{run.pk}/").content.decode()
    assert "boom: the scorer crashed" in page
    assert 'class="error"' in page


def test_cancelling_a_run_needs_the_suite_run_action(suite, safety, auditor):
    run = suites.request_run(suite, suite.targets.get(slug="atlas"), actor=safety)
    assert client_for(auditor).post(f"/runs/{run.pk}/cancel/").status_code == 403
    client_for(safety).post(f"/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.status == SuiteRun.Status.CANCELLED


# --- Admin ---------------------------------------------------------------------------------


def test_only_administrators_define_suites_in_the_admin(suite, admin_user, safety):
    assert client_for(safety).get("/admin/suites/evalsuite/").status_code in (302, 403)
    assert client_for(admin_user).get("/admin/suites/evalsuite/").status_code == 200
    response = client_for(admin_user).post(
        "/admin/suites/evalsuite/add/",
        {
            "slug": "nightly",
            "name": "Nightly",
            "description": "",
            "runner": "command",
            "config": '{"command": "emit-metrics"}',
            "metrics": '{"ctf/accuracy": "cyber.ctf_solve_rate"}',
            "targets": [suite.targets.first().pk],
            "schedule": "0 2 * * *",
            "enabled": "on",
            "max_attempts": "2",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    nightly = EvalSuite.objects.get(slug="nightly")
    assert nightly.periodic_task == PeriodicTask.objects.get(name="suite:nightly")
    assert nightly.config == {"command": "emit-metrics", "args": [], "timeout": 600}


def test_the_admin_shows_config_errors_on_the_form(suite, admin_user):
    response = client_for(admin_user).post(
        "/admin/suites/evalsuite/add/",
        {
            "slug": "bad",
            "name": "Bad",
            "runner": "inspect",
            "config": '{"task": "../../secrets.py", "model": "mockllm/model"}',
            "metrics": '{"x/y": "no.such.metric"}',
            "schedule": "every day",
            "max_attempts": "3",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Unknown task" in page
    assert "Unknown metric" in page
    assert "five cron fields" in page
    assert not EvalSuite.objects.filter(slug="bad").exists()


def test_suite_runs_are_read_only_in_the_admin(suite, admin_user, safety):
    run = suites.request_run(suite, suite.targets.get(slug="atlas"), actor=safety)
    client = client_for(admin_user)
    assert client.get("/admin/suites/suiterun/").status_code == 200
    assert client.get("/admin/suites/suiterun/add/").status_code == 403
    page = client.get(f"/admin/suites/suiterun/{run.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
