"""The evidence API: validation that names the field, all-or-nothing writes, idempotency
keys, permissions per endpoint and query budgets."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from audit.models import AuditEntry
from core import events
from core.models import IdempotencyRecord
from evaluations import services
from evaluations.models import AIModel, Checkpoint, EvalResult
from tests.conftest import bearer, client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import UPLIFT, VCT, result

JSON = "application/json"


def post(client: Client, url: str, body: Any, **headers: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type=JSON, headers=headers)


def nothing_written(audit_before: int) -> bool:
    return EvalResult.objects.count() == 0 and AuditEntry.objects.count() == audit_before


# --- Validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_value", "field"),
    [
        ("NaN", "value"),
        ("Infinity", "value"),
        ("-Infinity", "value"),
        ("1e999", "value"),  # overflows to infinity in the parser
        ('"0.3"', "value"),
        ("true", "value"),
        ("null", "value"),
    ],
)
def test_a_value_that_is_not_a_finite_number_is_refused(ckpt, pipeline, raw_value, field):
    client = bearer(pipeline)  # issuing the token is audited: count after it
    before = AuditEntry.objects.count()
    body = json.dumps(result()).replace('"value": 0.12', f'"value": {raw_value}')

    response = post(client, "/api/v1/results/", body)

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert nothing_written(before)


def test_a_non_finite_stderr_is_refused(ckpt, pipeline) -> None:
    body = json.dumps(result()).replace('"stderr": 0.01', '"stderr": NaN')
    response = post(bearer(pipeline), "/api/v1/results/", body)
    assert response.status_code == 400
    assert "stderr" in response.json()["errors"]


def test_an_unknown_metric_lists_the_valid_keys(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    before = AuditEntry.objects.count()
    response = post(client, "/api/v1/results/", result(metric="cbrn.vibes"))

    assert response.status_code == 400
    [message] = response.json()["errors"]["metric"]
    assert "cbrn.vibes" in message and VCT in message and UPLIFT in message
    assert nothing_written(before)


def test_a_value_outside_the_metric_range_is_refused(ckpt, pipeline) -> None:
    response = post(bearer(pipeline), "/api/v1/results/", result(value=1.5))
    assert response.status_code == 400
    assert "[0.0, 1.0]" in response.json()["errors"]["value"][0]


def test_a_checkpoint_of_another_model_is_refused(ckpt, other_ckpt, pipeline) -> None:
    client = bearer(pipeline)
    before = AuditEntry.objects.count()
    response = post(client, "/api/v1/results/", result(checkpoint="b-only"))

    assert response.status_code == 400
    assert "borealis" in response.json()["errors"]["checkpoint"][0]
    assert nothing_written(before)


def test_an_unknown_model_or_field_is_refused(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    assert "model" in post(client, "/api/v1/results/", result(model="nope")).json()["errors"]
    response = post(client, "/api/v1/results/", result(valeu=0.3))
    assert "valeu" in response.json()["errors"]
    response = post(client, "/api/v1/results/", result(elicitation={"atempts": 2}))
    assert "elicitation" in response.json()["errors"]


def test_negative_or_non_finite_compute_is_refused(ai_model, pipeline) -> None:
    client = bearer(pipeline)
    for compute in (-1, "NaN", '"1e24"'):
        body = f'{{"name": "c", "effective_compute": {compute}}}'
        response = post(client, "/api/v1/models/atlas/checkpoints/", body)
        assert response.status_code == 400, compute
        assert "effective_compute" in response.json()["errors"]
    assert Checkpoint.objects.count() == 0


def test_a_20_mb_body_is_a_413_json_answer(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    before = AuditEntry.objects.count()
    items = [result(notes="x" * 1000)] * 20_000  # about 20 MB
    body = json.dumps({"results": items})
    assert len(body) > 20 * 1024 * 1024

    response = post(client, "/api/v1/results/bulk/", body)

    assert response.status_code == 413
    assert response["Content-Type"].startswith(JSON)
    assert "larger than 10 MiB" in response.json()["detail"]
    assert nothing_written(before)


def test_deeply_nested_json_is_a_400(ckpt, pipeline) -> None:
    body = '{"results": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = post(bearer(pipeline), "/api/v1/results/bulk/", body)
    assert response.status_code == 400


# --- Bulk ----------------------------------------------------------------------------------


def test_bulk_is_all_or_nothing_and_names_the_index(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    before = AuditEntry.objects.count()
    items = [result(value=0.1), result(value=0.2), result(value=0.3), result(value="0.4")]

    response = post(client, "/api/v1/results/bulk/", {"results": items})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["results[3].value"]
    assert nothing_written(before)


def test_bulk_stores_every_result_with_one_audit_entry_each(ckpt, pipeline) -> None:
    items = [result(value=i / 100) for i in range(25)] + [result(metric=UPLIFT, value=1.0)]

    response = post(bearer(pipeline), "/api/v1/results/bulk/", {"results": items})

    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 26
    assert EvalResult.objects.count() == 26
    assert AuditEntry.objects.filter(action="result.create").count() == 26


def test_the_evidence_event_is_emitted_once_per_model_inside_the_write(ckpt, pipeline):
    seen: list[tuple[str, bool, str, object]] = []

    def handler(change: services.EvidenceChange, actor: object) -> None:
        seen.append((change.model.slug, connection.in_atomic_block, change.cause, actor))

    with events.replaced(services.EVIDENCE_CHANGED, handler):
        post(bearer(pipeline), "/api/v1/results/bulk/", {"results": [result(), result()]})
    ids = sorted(EvalResult.objects.values_list("pk", flat=True))
    # The gate learns what changed the evidence and who did it.
    assert seen == [("atlas", True, f"result.create #{ids[0]}, #{ids[1]}", pipeline)]


def test_a_failing_hook_rolls_back_an_evidence_write_that_emits_inside(ai_model, safety) -> None:
    def explode(change: services.EvidenceChange, actor: object) -> None:
        raise RuntimeError("gate down")

    with events.replaced(services.EVIDENCE_CHANGED, explode), pytest.raises(RuntimeError):
        services.report_checkpoint(ai_model, name="step-2", effective_compute=1e23, actor=safety)
    assert not Checkpoint.objects.filter(name="step-2").exists()


# --- Corrections ---------------------------------------------------------------------------


def test_a_correction_supersedes_and_keeps_the_old_row(ckpt, safety, pipeline) -> None:
    (old,) = services.record_results([result()], pipeline, EvalResult.Source.API)
    client = client_for(safety)

    response = post(
        client,
        f"/api/v1/results/{old.pk}/correct/",
        {"value": 0.2, "correction_reason": "wrong split"},
    )

    assert response.status_code == 201, response.json()
    assert response.json()["supersedes"] == old.pk
    assert list(EvalResult.objects.current().values_list("value", flat=True)) == [0.2]
    old.refresh_from_db()
    assert old.value == 0.12
    assert AuditEntry.objects.filter(action="result.correct").count() == 1
    again = post(
        client, f"/api/v1/results/{old.pk}/correct/", {"value": 0.3, "correction_reason": "again"}
    )
    assert again.status_code == 409
    listed = client.get("/api/v1/results/?current=false").json()["results"]
    assert [r["id"] for r in listed] == [old.pk]


def test_a_correction_needs_a_reason(ckpt, safety) -> None:
    (old,) = services.record_results([result()], safety, EvalResult.Source.API)
    response = post(client_for(safety), f"/api/v1/results/{old.pk}/correct/", {"value": 0.2})
    assert response.status_code == 400
    assert "correction_reason" in response.json()["errors"]


# --- Idempotency keys ----------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_stored_answer(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    first = post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "k-1"})
    second = post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "k-1"})

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert EvalResult.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "k-2"})
    response = post(client, "/api/v1/results/", result(value=0.5), **{"Idempotency-Key": "k-2"})

    assert response.status_code == 422
    assert EvalResult.objects.count() == 1


def test_a_refused_request_does_not_burn_its_key(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    bad = post(client, "/api/v1/results/", result(value="x"), **{"Idempotency-Key": "k-3"})
    good = post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "k-3"})
    assert (bad.status_code, good.status_code) == (400, 201)


def test_keys_belong_to_their_user(ckpt, pipeline, safety) -> None:
    post(bearer(pipeline), "/api/v1/results/", result(), **{"Idempotency-Key": "shared"})
    response = post(
        client_for(safety), "/api/v1/results/", result(), **{"Idempotency-Key": "shared"}
    )
    assert response.status_code == 201
    assert EvalResult.objects.count() == 2


def test_sequential_retries_with_one_key_store_one_result(ckpt, pipeline) -> None:
    client = bearer(pipeline)
    answers = {
        post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "seq"}).content
        for _ in range(20)
    }
    assert len(answers) == 1
    assert EvalResult.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_store_one_result() -> None:
    from core.models import ApiToken
    from core.services import create_user
    from policies.packs import load_pack_file
    from policies.services import load_pack

    load_pack(load_pack_file("default"), activate=True)
    user = create_user("pipeline", "pipeline", password="pipeline-password-123")
    _, token = ApiToken.issue(user, "t", ["evidence:write", "read"])
    model = services.create_model(slug="atlas", name="Atlas", actor=user)
    services.report_checkpoint(model, name="step-1000", effective_compute=1e24, actor=user)
    barrier = threading.Barrier(20)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def send() -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            response = post(client, "/api/v1/results/", result(), **{"Idempotency-Key": "same"})
            with lock:
                answers.append((response.status_code, response.content))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 20
    assert {code for code, _ in answers} == {201}
    # One answer, replayed (jsonb may reorder keys, so compare parsed bodies).
    assert len({json.dumps(json.loads(body), sort_keys=True) for _, body in answers}) == 1
    assert EvalResult.objects.count() == 1
    assert AuditEntry.objects.filter(action="result.create").count() == 1


# --- Permissions ---------------------------------------------------------------------------

READS = [
    "/api/v1/models/",
    "/api/v1/models/atlas/",
    "/api/v1/models/atlas/checkpoints/",
    "/api/v1/results/",
]


@pytest.mark.parametrize("url", READS)
def test_reads_need_evidence_view(ckpt, outsider, auditor, url) -> None:
    assert Client().get(url).status_code == 401
    assert client_for(outsider).get(url).status_code == 403
    assert client_for(auditor).get(url).status_code == 200


def writes() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/api/v1/models/", {"slug": "new-model", "name": "New"}),
        ("/api/v1/models/atlas/checkpoints/", {"name": "c2", "effective_compute": 2e24}),
        ("/api/v1/results/", result()),
        ("/api/v1/results/bulk/", {"results": [result()]}),
    ]


@pytest.mark.parametrize(("url", "body"), writes())
def test_writes_need_evidence_report(ckpt, outsider, auditor, rso, url, body) -> None:
    assert post(Client(), url, body).status_code == 401
    for user in (outsider, auditor, rso):
        assert post(client_for(user), url, body).status_code == 403, user


@pytest.mark.parametrize("who", ["safety", "pipeline", "admin_user"])
@pytest.mark.parametrize(("url", "body"), writes())
def test_writers_may_report(ckpt, request, who, url, body) -> None:
    user = request.getfixturevalue(who)
    client = bearer(user) if who == "pipeline" else client_for(user)
    assert post(client, url, body).status_code == 201


def test_a_pipeline_token_without_the_evidence_scope_cannot_write(ckpt, pipeline) -> None:
    response = post(bearer(pipeline, scopes=["read"]), "/api/v1/results/", result())
    assert response.status_code == 403
    assert "evidence:write" in response.json()["detail"]


def test_import_needs_evidence_report(ckpt, auditor) -> None:
    assert Client().post("/api/v1/results/import/").status_code == 401
    assert client_for(auditor).post("/api/v1/results/import/").status_code == 403


def test_corrections_need_evidence_correct(ckpt, pipeline, auditor, safety) -> None:
    (old,) = services.record_results([result()], safety, EvalResult.Source.API)
    url = f"/api/v1/results/{old.pk}/correct/"
    body = {"value": 0.2, "correction_reason": "typo"}
    assert post(Client(), url, body).status_code == 401
    assert post(bearer(pipeline), url, body).status_code == 403
    assert post(client_for(auditor), url, body).status_code == 403
    assert post(client_for(safety), url, body).status_code == 201


def test_checkpoint_post_answers_with_the_checkpoint(ai_model, pipeline) -> None:
    response = post(
        bearer(pipeline),
        "/api/v1/models/atlas/checkpoints/",
        {"name": "c1", "effective_compute": 3e25, "step": 10, "stage": "pretraining"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["effective_compute"], body["step"]) == ("c1", 3e25, 10)
    # Twice the same name is a conflict, not a second row.
    again = post(
        bearer(pipeline),
        "/api/v1/models/atlas/checkpoints/",
        {"name": "c1", "effective_compute": 3e25},
    )
    assert again.status_code == 409


def test_a_second_model_with_the_same_slug_is_a_conflict_and_writes_nothing(
    ai_model, safety
) -> None:
    before = AuditEntry.objects.count()
    with pytest.raises(services.ConflictError) as info:
        services.create_model(slug="atlas", name="Atlas again", actor=safety)
    assert "slug" in info.value.message_dict
    assert AIModel.objects.filter(slug="atlas").count() == 1
    assert AuditEntry.objects.count() == before
    other = services.create_model(slug="atlas-2", name="Atlas 2", parent="atlas", actor=safety)
    entry = AuditEntry.objects.filter(action="model.create").order_by("-seq").first()
    assert entry is not None and json.loads(entry.body_bytes)["data"]["parent"] == "atlas"
    assert other.parent == ai_model


# --- Query budgets -------------------------------------------------------------------------


def many_results(n: int, actor: Any) -> None:
    services.record_results([result(value=(i % 90) / 100) for i in range(n)], actor, "api")


@pytest.mark.parametrize("n", [3, 60])
def test_the_result_list_has_a_constant_query_budget(
    ckpt, safety, n, django_assert_num_queries
) -> None:
    many_results(n, safety)
    client = client_for(safety)
    client.get("/api/v1/results/")  # warm the session
    # Session, user (its role is a column); count; one page with model, checkpoint, submitter.
    with django_assert_num_queries(4):
        response = client.get("/api/v1/results/?model=atlas&metric=" + VCT)
    assert response.json()["count"] == n


@pytest.mark.parametrize("n", [2, 30])
def test_model_and_checkpoint_lists_have_constant_query_budgets(
    policy, safety, n, django_assert_num_queries
) -> None:
    for i in range(n):
        m = services.create_model(slug=f"m{i}", name=f"M{i}", actor=safety)
        services.report_checkpoint(m, name="c", effective_compute=1e20, actor=safety)
    for i in range(n):
        services.report_checkpoint(
            AIModel.objects.get(slug="m0"), name=f"x{i}", effective_compute=1e21, actor=safety
        )
    client = client_for(safety)
    client.get("/api/v1/models/")
    # Session, user (its role is a column); count; page (parent and creator joined).
    with django_assert_num_queries(4):
        client.get("/api/v1/models/")
    # Session, user (its role is a column); the model; count; page.
    with django_assert_num_queries(5):
        client.get("/api/v1/models/m0/checkpoints/")
