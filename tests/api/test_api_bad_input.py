"""Bad input never answers 500 (issue 15, observations 1 and 2).

Each case below was a 500 found by fuzzing: a JSON list or object where a natural key belongs,
NUL characters and lone UTF-16 surrogates in text and JSON fields, integers beyond PostgreSQL's
``integer``, deeply nested JSON, an over-long sign-in name and the policy diff of versions
activated by a person. Each now answers 4xx naming the field, and nothing partial is written.
With DATABASE_URL pointing at PostgreSQL (as in CI) the same tests run there, where the NUL,
``n_samples`` and sign-in cases used to fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEntry
from evaluations.models import AIModel, Checkpoint, EvalResult
from policies import services as policy_services
from tests.conftest import bearer, client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import result

JSON = "application/json"
DEEP = 100_000  # far beyond Python's recursion limit
NESTED = "[" * DEEP + "]" * DEEP


def post(client: Client, url: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type=JSON)


def errors_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith(JSON), response.content[:200]
    body = response.json()
    assert "errors" in body, body
    return body["errors"]  # type: ignore[no-any-return]


def unchanged(audit_before: int) -> bool:
    return EvalResult.objects.count() == 0 and AuditEntry.objects.count() == audit_before


# --- JSON lists and objects as natural keys ---------------------------------------------------


@pytest.mark.parametrize("field", ["model", "checkpoint"])
@pytest.mark.parametrize("bad", [["atlas"], {"slug": "atlas"}, [[]], {}])
def test_a_list_or_object_as_a_natural_key_is_a_400_naming_it(ckpt, pipeline, field, bad):
    client = bearer(pipeline)
    before = AuditEntry.objects.count()

    single = post(client, "/api/v1/results/", result(**{field: bad}))
    bulk = post(client, "/api/v1/results/bulk/", {"results": [result(), result(**{field: bad})]})

    assert single.status_code == 400, single.content
    assert field in errors_of(single)
    assert bulk.status_code == 400, bulk.content
    assert f"results[1].{field}" in errors_of(bulk)
    assert unchanged(before)


# --- NUL characters and lone surrogates -------------------------------------------------------

NUL = "\\u0000"
SURROGATE = "\\ud800"


@pytest.mark.parametrize("bad", [NUL, SURROGATE, "\\udfff"])
@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("notes", '"notes": "a%sb"'),
        ("model", '"model": "atlas%s"'),
        ("checkpoint", '"checkpoint": "step%s"'),
        ("metric", '"metric": "cbrn%s"'),
        ("provenance.tool", '"provenance": {"tool": "x%s"}'),
        ("elicitation.scaffold", '"elicitation": {"scaffold": "re%sact"}'),
        ("provenance", '"provenance": {"k%s": 1}'),
    ],
)
def test_nul_and_lone_surrogates_in_a_result_are_a_400_naming_the_field(
    ckpt, pipeline, bad, field, template
):
    client = bearer(pipeline)
    before = AuditEntry.objects.count()
    item = {k: v for k, v in result().items() if k not in {"notes", "provenance", "elicitation"}}
    key = template.split('"')[1]
    item.pop(key, None)
    body = json.dumps(item)[:-1] + ", " + template % bad + "}"

    response = post(client, "/api/v1/results/", body)

    assert response.status_code == 400, response.content
    assert field in errors_of(response)
    assert unchanged(before)


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/models/", '{"slug": "nova", "name": "No%sva"}', "name"),
        ("/api/v1/models/atlas/checkpoints/", '{"name": "c%s", "effective_compute": 1e24}', "name"),
        (
            "/api/v1/models/atlas/checkpoints/",
            '{"name": "c2", "effective_compute": 1e24, "metadata": {"run": "r%s"}}',
            "metadata.run",
        ),
    ],
)
@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_nul_and_surrogates_in_models_and_checkpoints_are_refused(
    ckpt, pipeline, url, body, field, bad
):
    client = bearer(pipeline)
    models, checkpoints = AIModel.objects.count(), Checkpoint.objects.count()

    response = post(client, url, body % bad)

    assert response.status_code == 400, response.content
    assert field in errors_of(response)
    assert (AIModel.objects.count(), Checkpoint.objects.count()) == (models, checkpoints)


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_nul_and_surrogates_in_governance_bodies_are_refused(ckpt, safety, rso, bad):
    requested = post(
        bearer(safety),
        "/api/v1/decisions/",
        f'{{"model": "atlas", "compute_limit": 1e25, "rationale": "go{bad}"}}',
    )
    paused = post(bearer(rso), "/api/v1/models/atlas/pause/", f'{{"reason": "stop{bad}"}}')

    assert requested.status_code == 400 and "rationale" in errors_of(requested)
    assert paused.status_code == 400 and "reason" in errors_of(paused)


# --- Integers beyond PostgreSQL's integer -----------------------------------------------------


@pytest.mark.parametrize("n_samples", [2**31, 2**40, 10**30])
def test_n_samples_beyond_a_database_integer_is_a_400(ckpt, pipeline, n_samples):
    client = bearer(pipeline)
    before = AuditEntry.objects.count()

    response = post(client, "/api/v1/results/", result(n_samples=n_samples))

    assert response.status_code == 400, response.content
    assert "n_samples" in errors_of(response)
    assert unchanged(before)


def test_the_largest_database_integer_is_accepted_as_n_samples(ckpt, pipeline):
    response = post(bearer(pipeline), "/api/v1/results/", result(n_samples=2**31 - 1))
    assert response.status_code == 201, response.content


def test_a_checkpoint_step_beyond_a_big_integer_is_a_400(ckpt, pipeline):
    response = post(
        bearer(pipeline),
        "/api/v1/models/atlas/checkpoints/",
        {"name": "huge", "effective_compute": 1e24, "step": 2**70},
    )
    assert response.status_code == 400, response.content
    assert "step" in errors_of(response)


# --- Deep nesting -----------------------------------------------------------------------------


def _deep_body(field: str, extra: str = "") -> str:
    return f'{{{extra}"{field}": {NESTED}}}'


@pytest.mark.parametrize(
    ("who", "url", "field"),
    [
        ("safety", "/api/v1/decisions/", "rationale"),
        ("rso", "/api/v1/decisions/1/approve/", "dossier_sha256"),
        ("rso", "/api/v1/decisions/1/reject/", "comment"),
        ("safety", "/api/v1/models/atlas/safeguards/ASL2S.access_control/", "notes"),
        ("rso", "/api/v1/models/atlas/pause/", "reason"),
        ("pipeline", "/api/v1/results/", "provenance"),
        ("pipeline", "/api/v1/results/bulk/", "results"),
        ("pipeline", "/api/v1/models/atlas/checkpoints/", "metadata"),
    ],
)
def test_deeply_nested_json_is_a_400_naming_the_field(ckpt, request, who, url, field):
    client = bearer(request.getfixturevalue(who))
    before = AuditEntry.objects.count()

    response = post(client, url, _deep_body(field, '"model": "atlas", '))

    assert response.status_code == 400, response.content
    assert field in errors_of(response)
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("depth", [33, 500])
def test_nesting_deeper_than_the_limit_is_refused_even_when_python_could_parse_it(
    ckpt, pipeline, depth
):
    nested = "[" * depth + "]" * depth
    body = json.dumps(result())[:-1] + f', "provenance": {{"tree": {nested}}}}}'
    response = post(bearer(pipeline), "/api/v1/results/", body)
    assert response.status_code == 400, response.content
    assert "provenance" in errors_of(response)


@pytest.fixture
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mapping": '{"a/b": ' + NESTED + "}"}, "mapping"),
        ({"mapping": NESTED}, "mapping"),
        ({"mapping": '{"a/b": "x\\u0000"}'}, "mapping"),
        ({"model": "atlas\x00"}, "model"),
        ({"checkpoint": "step\x00"}, "checkpoint"),
        ({"model": ["atlas", "borealis"]}, "model"),
    ],
)
def test_bad_import_fields_are_a_400_naming_the_field(_media, ckpt, pipeline, fields, field):
    upload = SimpleUploadedFile("results_x.json", b'{"results": {}}')
    data = {"file": upload, "model": "atlas", "checkpoint": "step-1000", **fields}

    response = bearer(pipeline).post("/api/v1/results/import/", data)

    assert response.status_code == 400, response.content
    assert field in errors_of(response)


# --- Sign-in ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["x" * 256, "y" * 5000, "a\x00b"])
def test_an_over_long_or_nul_sign_in_name_is_refused_by_the_form(settings, username):
    settings.AXES_ENABLED = True
    response = Client().post("/login/", {"username": username, "password": "whatever-123"})
    assert response.status_code == 200  # the form again, with its error
    assert b"errorlist" in response.content or b"error" in response.content


# --- Policy diff ------------------------------------------------------------------------------


def test_the_diff_of_versions_activated_by_a_person_answers(policy, rso, safety):
    draft = policy_services.load_pack({**policy_services.to_pack(policy), "version": "9.9"})
    policy_services.activate(draft, rso)

    response = client_for(safety).get(f"/api/v1/policy/diff/?from={policy.pk}&to={draft.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["to_version"]["activated_by"] == "rso"
    assert body["to_version"]["id"] == draft.pk
