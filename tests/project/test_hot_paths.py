"""The hot paths' query budgets, and the reduced gate input giving the rowwise verdict.

No timings here (a shared VM makes timed assertions flaky): ``make bench`` measures speed as
ratios. What is asserted is what keeps the speed: how many queries each hot path issues,
whatever the amount of evidence, and that reducing the evidence in SQL changes no verdict.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import audit
from evaluations import summary
from evaluations.models import AIModel, Checkpoint, EvalResult
from evaluations.policy import active_policy_view
from governance import adapter, services
from governance.gate import evaluate
from governance.models import GateState
from policies.models import Metric, PolicyVersion
from rsp_portal import prepared
from tests import gate_oracle
from tests.conftest import bearer
from tests.governance_fixtures import (
    activate_default_policy,
    add_checkpoint,
    baseline,
    evaluate_all_below,
    make_model,
    settle_gates,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def _activate_with_uncertainty(z: float, min_samples: int | None) -> None:
    """The default policy with an uncertainty z and metric sample minimums, set on the draft
    before activation (active versions are frozen)."""
    from policies import services as policy_services
    from policies.packs import load_pack_file

    version = policy_services.load_pack(load_pack_file("default"), actor=None)
    PolicyVersion.objects.filter(pk=version.pk).update(uncertainty_z=z)
    Metric.objects.filter(version=version).update(min_samples=min_samples)
    version.refresh_from_db()
    policy_services.activate(version, None)


def _lineage(depth: int, prefix: str = "gen") -> AIModel:
    """A model with ``depth`` ancestors, each with a checkpoint."""
    parent = None
    for level in range(depth + 1):
        with transaction.atomic():
            model = AIModel.objects.create(
                slug=f"{prefix}-{level}", name=f"{prefix} {level}", family=prefix, parent=parent
            )
            services.recompute(model, "test.setup")
        add_checkpoint(model, f"ckpt-{level}", 1e22 * 2**level)
        parent = model
    assert parent is not None
    return parent


def _random_results(model: AIModel, rng: random.Random, count: int) -> None:
    """Results of every kind around the indicator lines, on the model and its ancestors."""
    version = PolicyVersion.objects.active().get()
    metrics = list(Metric.objects.filter(version=version).values_list("key", flat=True))
    lineage = model.lineage_ids()
    checkpoints = list(Checkpoint.objects.filter(model_id__in=lineage))
    rows = []
    now = timezone.now()
    for _ in range(count):
        checkpoint = rng.choice(checkpoints)
        rows.append(
            EvalResult(
                model_id=checkpoint.model_id,
                checkpoint=checkpoint,
                metric_key=rng.choice(metrics),
                value=round(rng.uniform(0.0, 1.2), 2),
                stderr=rng.choice([None, 0.0, 0.01, 0.05]),
                n_samples=rng.choice([None, 10, 49, 50, 200]),
                partial=rng.random() < 0.2,
                mitigation=rng.choice(["pre", "pre", "none", "post"]),
                evaluated_at=now - timezone.timedelta(days=rng.randint(0, 400)),
                source="api",
            )
        )
    # As a write and then the worker do: lock the summary states, insert, fold (ADR 0055).
    with transaction.atomic():
        states = summary.lock(lineage)
        created = EvalResult.objects.bulk_create(rows)
        for old in rng.sample(created, k=min(5, len(created))):  # corrections drop out
            EvalResult.objects.create(
                model_id=old.model_id,
                checkpoint_id=old.checkpoint_id,
                metric_key=old.metric_key,
                value=0.0,
                source="api",
                supersedes=old,
                correction_reason="typo",
            )
        summary.sync(states, summary.lens_of_view(active_policy_view()))


def _same_verdicts(model: AIModel) -> None:
    now = timezone.now()
    for scope in ("scaling", "deployment"):
        for compute in (None, 1e30):
            full, full_until = gate_oracle.build_input_rowwise(model, scope, compute, now)
            reduced, reduced_until = adapter.build_input(model, scope, compute, now)
            assert evaluate(reduced).to_dict() == evaluate(full).to_dict()
            assert reduced_until == full_until


@pytest.mark.parametrize(
    ("seed", "z", "min_samples"),
    [(1, 0.0, None), (2, 1.0, 50), (3, 2.0, None), (4, 0.0, 50), (5, 1.5, 200)],
)
def test_the_reduced_evidence_gives_the_rowwise_verdict(seed, z, min_samples):
    _activate_with_uncertainty(z, min_samples)
    model = _lineage(depth=3)
    _random_results(model, random.Random(seed), 300)
    _same_verdicts(model)


def test_the_reduced_evidence_gives_the_rowwise_verdict_without_results_or_policy():
    model = make_model()
    _same_verdicts(model)  # no policy
    activate_default_policy()
    _same_verdicts(model)  # no results


def test_the_gate_inputs_take_two_queries_whatever_the_evidence(django_assert_num_queries):
    activate_default_policy()
    model = _lineage(depth=1)
    now = timezone.now()
    adapter.build_input(model, "scaling", None, now)  # caches the policy snapshot
    # Expect 2 queries: the lineage (recursive CTE), its checkpoints, their evidence summary
    # rows and the results those name (no scan of the results), with the active policy's id
    # and hash; decisions, pauses, precautions, safeguards and the last audit verification.
    with django_assert_num_queries(2):
        adapter.build_input(model, "scaling", None, now)
    deeper = _lineage(depth=6, prefix="deep")
    _random_results(deeper, random.Random(7), 500)
    with django_assert_num_queries(2):
        inp, _ = adapter.build_input(deeper, "scaling", 3e24, now)
    # Rows grow with metrics, not with results: at most a strong and a weak one per metric.
    metrics = {i.metric_key for t in inp.policy.thresholds for i in t.indicators}  # type: ignore[union-attr]
    assert len(inp.evidence.results) <= 2 * len(metrics)


def test_the_stored_gate_read_takes_one_query(pipeline, safety, django_assert_num_queries):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    client = bearer(pipeline)
    assert client.get(f"/api/v1/models/{model.slug}/gate/").status_code == 200
    # Expect 1 query (ADR 0043; was 2): the token with its user and roles, and riding in the
    # same statement the stored gate row with its model.
    with django_assert_num_queries(1):
        response = client.get(f"/api/v1/models/{model.slug}/gate/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json()["model"] == model.slug


def test_a_bearer_api_request_takes_the_lean_middleware_chain(pipeline):
    activate_default_policy()
    client = bearer(pipeline)
    response = client.get("/api/v1/policy/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    # Security headers still apply on the lean chain.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_policy_is_served_from_its_cache_in_two_queries(pipeline, django_assert_num_queries):
    activate_default_policy()
    client = bearer(pipeline)
    first = client.get("/api/v1/policy/").json()
    # Expect 2 queries: the token with its user and roles; the active version's id and hash.
    with django_assert_num_queries(2):
        again = client.get("/api/v1/policy/").json()
    assert again == first


def test_a_revoked_token_is_refused_at_once(pipeline):
    from core.models import ApiToken

    client = bearer(pipeline, name="soon-revoked")
    assert client.get("/api/v1/policy/").status_code in (200, 404)
    ApiToken.objects.get(name="soon-revoked").revoke()
    assert client.get("/api/v1/policy/").status_code == 401


def test_a_result_post_has_a_fixed_query_budget(pipeline, django_assert_num_queries):
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline)

    def post(value: float) -> Any:
        item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
        return client.post(
            "/api/v1/results/", {**item, "value": value}, content_type="application/json"
        )

    assert post(0.1).status_code == 201  # the model's first: its summary state is created
    settle_gates()
    # The first write of a burst asks the worker for the gate (one outbox row, ADR 0052).
    with django_assert_num_queries(RESULT_POST_BUDGET + 1) as first:
        assert post(0.105).status_code == 201
    assert sum("core_outboxmessage" in q["sql"] for q in first.captured_queries) == 1
    # The next ones leave it to that recomputation.
    with django_assert_num_queries(RESULT_POST_BUDGET) as sent:
        assert post(0.11).status_code == 201
    assert not any("governance_gatestate" in q["sql"] for q in sent.captured_queries)
    # The summary is the worker's to fold (ADR 0055): the POST neither reads the rows above
    # the watermark nor writes a summary row.
    assert not any(q["sql"].lstrip().startswith("SELECT 'r'") for q in sent.captured_queries)
    assert not any('"evaluations_evidencesummary" ' in q["sql"] for q in sent.captured_queries)
    # The active policy is read in the token's statement (ADR 0056), not by a query of its own.
    assert not any(
        "policies_policyversion" in q["sql"] and "core_apitoken" not in q["sql"]
        for q in sent.captured_queries
    )
    if connection.vendor == "postgresql":
        # The token's statement, the checkpoint's lookup, the family's claim with the INSERT
        # and the audit append are planned once per connection (ADR 0047, 0049, 0055, 0058).
        executed = [q["sql"] for q in sent.captured_queries if q["sql"].startswith("EXECUTE")]
        assert len(executed) == 4, executed


def test_a_keyed_result_post_adds_its_savepoint_only(pipeline, django_assert_num_queries):
    """With an ``Idempotency-Key`` (as the bench and the client send it), the key's stored
    answer is looked for in the token's statement, and the key's row is inserted with its
    answer after the write, unless taken (one ``INSERT … ON CONFLICT DO NOTHING``, ADR 0056;
    was an insert first and an ``UPDATE`` after). On PostgreSQL that INSERT rides in the audit
    append's statement, ahead of the append (ADR 0058); elsewhere it is a statement of its own
    (1). Its transaction holds the write's, which takes no savepoint inside it (ADR 0049). In
    a test the key's transaction is itself a savepoint (2); in production it is the request's.
    A retry finds the stored answer in the token's statement and runs nothing else."""
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline)
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}

    def post(value: float, key: str) -> Any:
        return client.post(
            "/api/v1/results/",
            {**item, "value": value},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    assert post(0.1, "warm").status_code == 201
    carried = connection.vendor == "postgresql"
    with django_assert_num_queries(RESULT_POST_BUDGET + (2 if carried else 3)) as keyed:
        first = post(0.11, "k-1")
    assert first.status_code == 201
    # The key's row goes in before the audit append, so the log head's lock (which every
    # audited write waits for) is not held while a concurrent request with the key is waited
    # for: on PostgreSQL in the append's statement, whose call waits for it (ADR 0058).
    sqls = [prepared.source(q["sql"]) for q in keyed.captured_queries]
    key_insert = next(
        i for i, q in enumerate(sqls) if 'INSERT INTO "evaluations_idempotencyrecord"' in q
    )
    head_lock = next(i for i, q in enumerate(sqls) if takes_the_log_head(q))
    if carried:
        append = sqls[head_lock]
        assert key_insert == head_lock, sqls
        assert append.index("INSERT INTO") < append.index("audit_append("), append
        assert "LATERAL" in append, append
    else:
        assert key_insert < head_lock, sqls
    # The token's statement, which carries the stored answer.
    with django_assert_num_queries(1):
        again = post(0.11, "k-1")
    assert again.status_code == 201 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert post(0.12, "k-1").status_code == 422


def test_the_gate_stores_locking_read_gives_the_orms_rows(pipeline):
    """The prebuilt locking read of a model's gate rows gives what the ORM's gives."""
    from governance.services.gates import _LOCKED_ROWS

    activate_default_policy()
    model = make_model()
    with transaction.atomic():
        services.recompute(model, "test.setup")
    with transaction.atomic():
        locked = {row.scope: row for row in _LOCKED_ROWS.fetch([model.pk])}
        orm = {
            s.scope: s
            for s in GateState.objects.select_for_update().filter(model=model).order_by("pk")
        }
        assert set(locked) == set(orm) == {"scaling", "deployment"}
        for scope, row in locked.items():
            assert {
                f.attname: getattr(row, f.attname) for f in GateState._meta.concrete_fields
            } == {
                f.attname: getattr(orm[scope], f.attname) for f in GateState._meta.concrete_fields
            }
            assert row._state.adding is False and row._state.db == "default"


def test_the_live_gate_reads_its_cached_inputs_until_anything_changes(
    pipeline, safety, django_assert_num_queries
):
    from governance.services.pauses import pause
    from tests.audit_support import verify_trail
    from tests.governance_fixtures import BELOW

    activate_default_policy()
    model = make_model()
    baseline(model, safety)
    client = bearer(pipeline)
    for metric, value in BELOW.items():  # through the API, then the worker folds them in
        item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": metric, "value": value}
        created = client.post("/api/v1/results/", item, content_type="application/json")
        assert created.status_code == 201
    settle_gates()
    url = f"/api/v1/models/{model.slug}/gate/?compute=3e24"
    first = client.get(url).json()

    def codes(payload: dict[str, Any]) -> set[str]:
        return {r["code"] for r in payload["reasons"]}

    assert "manual_pause" not in codes(first) and "threshold_crossed" not in codes(first)
    # Expect 2 queries: the token with its user and roles; the model with the stamp of its
    # inputs (log head, latest verification, highest result and checkpoint ids). The inputs
    # read under that stamp are this process's cache.
    with django_assert_num_queries(2):
        again = client.get(url).json()
    assert {k: v for k, v in again.items() if k != "computed_at"} == {
        k: v for k, v in first.items() if k != "computed_at"
    }
    # A governance change (audited) changes the stamp: the inputs are read again (2 more).
    pause(model, "drill", safety)
    with django_assert_num_queries(4):
        assert "manual_pause" in codes(client.get(url).json())
    with django_assert_num_queries(2):
        paused = client.get(url).json()
    assert "manual_pause" in codes(paused)
    # So does new evidence, and a new verification of the trail. Until the worker folds the
    # new result into the summary, the evidence is ranked (1 more, ADR 0055): the same verdict.
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    post = client.post("/api/v1/results/", {**item, "value": 0.99}, content_type="application/json")
    assert post.status_code == 201
    with django_assert_num_queries(5):
        crossed = client.get(url).json()
    assert crossed["determinations"] != paused["determinations"]
    settle_gates()
    with django_assert_num_queries(4):
        folded = client.get(url).json()
    assert folded["determinations"] == crossed["determinations"]
    verify_trail()
    with django_assert_num_queries(4):
        client.get(url)


def test_the_live_gate_of_an_unknown_model_is_a_404(pipeline):
    activate_default_policy()
    response = bearer(pipeline).get("/api/v1/models/nobody/gate/?compute=3e24")
    assert response.status_code == 404


def test_the_workers_recomputation_after_a_post_has_a_fixed_budget_for_the_family(
    pipeline, django_assert_num_queries
):
    """After a parent's POST, the worker recomputes it with its child and grandchild... in a
    fixed number of queries whatever the family's size (ADR 0025, ADR 0052)."""
    activate_default_policy()
    model = make_model()
    client = bearer(pipeline)

    def post(value: float) -> Any:
        item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
        return client.post(
            "/api/v1/results/", {**item, "value": value}, content_type="application/json"
        )

    parent = model
    for generation in range(4):
        with transaction.atomic():
            child = AIModel.objects.create(
                slug=f"heir-{generation}", name=f"heir {generation}", family="atlas", parent=parent
            )
            services.recompute(child, "test.setup")
        add_checkpoint(child, f"h-{generation}", 1e23)
        parent = child
        assert post(0.1 + generation / 100).status_code == 201
        settle_gates()  # the new member's first: its rows are created, its state moves
        assert post(0.2 + generation / 100).status_code == 201
        with django_assert_num_queries(SETTLE_BUDGET):
            assert settle_gates() == 1
        assert not GateState.objects.filter(evidence_seq=0).exists()  # every member stored


# Expect 4 queries on PostgreSQL. Before the write: the token with its user and roles, the
# active policy's id and hash (its metrics and indicators are cached per version) and, with a
# key, the key's stored answer (1, precompiled: ADR 0056); the checkpoint with its model for
# validation (1). The write: the model's family (a recursive statement) with its summary states
# locked, one more owed write counted on each and the gate asked for, in one statement that
# carries the INSERT, run once the states are locked (1, ADR 0058); the audit append, in which
# the database locks the head, chains and inserts the entries and advances the head (1,
# ``audit_append``: ADR 0057). All four are planned once per connection (ADR 0047, 0049,
# 0055, 0058). The summary is folded by the worker (ADR 0055).
# The first write of a burst adds the outbox row that asks the worker for the gate (1) and,
# after the commit, the send (1, not run in a test). The write takes no savepoint inside a
# caller's transaction (ADR 0049), here the test's.
# History: 38 (+2) before ADR 0007, 26 (+2) with the evidence summary (ADR 0017), 17 (+2)
# since ADR 0019, 15 (+2) since ADR 0041, in one transaction; 17 (+4) in two (ADR 0045); 16
# since ADR 0047; 15 (+2) since ADR 0049; 16 (+2) with ADR 0050's lock; 11 since the gate
# is the worker's (ADR 0052; no savepoint in a test any more: the gate's transaction is gone);
# 10 since one statement lists the family and locks its states; 7 since the summary is the
# worker's and the lock counts the owed write (ADR 0055); 6 since the active policy is read in
# the token's statement (ADR 0056); 5 since the append is one statement (ADR 0057); 4 since
# the claim's statement carries the INSERT (ADR 0058).
# SQLite: the family is locked and its states updated in two statements, the INSERT is a
# statement of its own, and the audit head is locked, and then advanced, by statements of
# their own (4 more).
RESULT_POST_BUDGET = 4 if connection.vendor == "postgresql" else 8
# The worker's recomputation after result writes (``settle_gates`` runs what it runs): the
# pending message listed (1, the test helper's own); the outbox claim (2) and its success
# (1); the request cleared (1); the model (1); the summary's fold (ADR 0055), in its own
# transaction (a SAVEPOINT and RELEASE in a test, 2): the active policy (1), the model's state
# locked (1), the rows above its watermark with the summaries they touch (1), their upsert
# (1) and the new watermark (1); then in the gate's transaction (2) the governance state with
# its descendants and the evidence (2), the descendants' models (1), their governance and
# evidence (2: one statement each over them all and their lineages), every member's two gate
# rows locked in one query (1) and saved in one UPDATE (1): the same whatever the family's
# size.
SETTLE_BUDGET = 22


def test_a_prebuilt_row_update_stores_what_save_stores(django_assert_num_queries):
    from django.db.models.signals import pre_save

    from governance.models import GateState
    from rsp_portal.rows import RowUpdate

    def columns(state: GateState) -> dict[str, Any]:
        row = GateState.objects.values().get(pk=state.pk)
        return {k: v for k, v in row.items() if k not in ("id", "model_id")}

    writer = RowUpdate(GateState)
    ours, theirs = (GateState.objects.get(model=make_model(slug), scope="scaling")
                    for slug in ("atlas", "other"))  # fmt: skip
    values = {
        "state": "paused",
        "reasons": [{"code": "x", "message": "é ✓", "n": 1}],
        "verdict": {"state": "paused", "lines": [0.5, 2, None], "limit": 1e300, "ok": True},
        "computed_at": timezone.now(),
        "valid_until": None,
        "mac": "ab" * 32,
        "evidence_seq": 7,
    }
    for state in (ours, theirs):
        for name, value in values.items():
            setattr(state, name, value)
    with django_assert_num_queries(1):
        writer.save(ours)
    theirs.save()
    assert columns(ours) == columns(theirs)
    assert columns(ours)["mac"] == values["mac"] and columns(ours)["valid_until"] is None
    ours.valid_until = theirs.valid_until = timezone.now()
    writer.save(ours)
    theirs.save()
    assert columns(ours) == columns(theirs)

    new = GateState(model=ours.model, scope="scaling", computed_at=timezone.now())
    GateState.objects.filter(pk=ours.pk).delete()
    writer.save(new)  # not stored yet: save() inserts it
    assert new.pk is not None and GateState.objects.filter(pk=new.pk).exists()
    seen: list[object] = []

    def receiver(sender: object, instance: object, **kwargs: object) -> None:
        seen.append(instance)

    pre_save.connect(receiver, sender=GateState)
    try:
        writer.save(new)  # a receiver is told, as save() tells it
    finally:
        pre_save.disconnect(receiver, sender=GateState)
    assert seen == [new]


def test_the_named_checkpoints_are_the_orms(django_assert_num_queries):
    from evaluations.lookup import checkpoints_named

    atlas, other = make_model(), make_model("other")
    add_checkpoint(atlas, "ckpt-2", 2e24)
    Checkpoint.objects.create(
        model=other, name="ckpt-2", effective_compute=3e24, step=7, metadata={"a": [1, 2.5]}
    )

    def fields(ckpt: Checkpoint) -> tuple[dict[str, Any], dict[str, Any]]:
        ours = {f.attname: getattr(ckpt, f.attname) for f in Checkpoint._meta.concrete_fields}
        model = {f.attname: getattr(ckpt.model, f.attname) for f in AIModel._meta.concrete_fields}
        return ours, model

    for names, slugs in [
        ({"ckpt-1"}, {"atlas"}),
        ({"ckpt-1", "ckpt-2", "nope"}, {"atlas", "other", "nope"}),
        ({"ckpt-2"}, {"other"}),
        ({"nope"}, {"atlas"}),
    ]:
        expected = Checkpoint.objects.filter(name__in=names, model__slug__in=slugs)
        with django_assert_num_queries(1):
            got = checkpoints_named(names, slugs)
        assert [fields(c) for c in got] == [fields(c) for c in expected.select_related("model")]
    with django_assert_num_queries(0):
        assert checkpoints_named(set(), {"atlas"}) == checkpoints_named({"ckpt-1"}, set()) == []


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_a_stored_results_body_is_the_serializers_representation(pipeline, zone):
    from evaluations import services as evidence
    from evaluations.api.serializers import EvalResultSerializer, result_of

    activate_default_policy()
    model = make_model()
    item = {"model": model.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
    created = evidence.record_results(
        [
            {**item, "value": 0.25, "stderr": 0.01, "n_samples": 200, "notes": "é ✓"},
            {**item, "value": 1, "evaluated_at": "2026-01-02T03:04:05.678901+02:00"},
            {**item, "value": 0.5, "partial": True, "mitigation": "post", "n_samples": 7,
             "elicitation": {"attempts": 3}, "evidence_url": "https://evidence.example/r",
             "external_body": "An institute"},
        ],
        pipeline,
        EvalResult.Source.API,
        provenance={"eval_id": "e-1"},
    )  # fmt: skip
    corrected = evidence.correct_result(
        created[0], {"value": 0.3}, "typo", None, source=EvalResult.Source.API
    )
    with timezone.override(zone):
        for result in [*created, corrected, EvalResult.objects.get(pk=corrected.pk)]:
            assert result_of(result) == dict(EvalResultSerializer(result).data)
    assert {result_of(result)["submitted_by"] for result in created} == {pipeline.username}
    assert result_of(corrected)["submitted_by"] is None
    assert result_of(corrected)["supersedes"] == created[0].pk


def takes_the_log_head(sql: str) -> bool:
    """The head's locking read, or PostgreSQL's ``audit_append``, which takes it (ADR 0057),
    run as it is or as a prepared statement."""
    sql = prepared.source(sql)
    return "audit_loghead" in sql or "audit_append(" in sql


def test_a_prepared_entry_encodes_to_the_verifiers_canonical_body():
    from django.conf import settings

    from audit.services import _prepare, assemble_body
    from audit.verify_bundle import entry_body

    data = {"model": "atlas", "note": 'quote " back\\ é ✓ \u2028', "n": 3, "items": [1, "2"]}
    entry = _prepare("result.create", ("evaluations.evalresult", "7"), data, "worker", None)
    ts = "2026-11-28T12:00:00.000001Z"
    prev = "ab" * 32
    expected = entry_body(
        origin=settings.AUDIT_ORIGIN,
        seq=41,
        prev=bytes.fromhex(prev),
        ts=ts,
        actor={"system": "worker"},
        action="result.create",
        obj={"type": "evaluations.evalresult", "id": "7"},
        data=data,
    )
    origin = json.dumps(settings.AUDIT_ORIGIN, ensure_ascii=False)
    assert assemble_body(entry, origin_json=origin, seq=41, prev=prev, ts=ts) == expected


def test_a_batch_takes_the_log_head_lock_only_when_it_appends():
    from audit.models import AuditEntry
    from audit.services import _local

    seen: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch), transaction.atomic():
        with audit.batch():
            audit.record("bench.one", ("bench", "1"), {"model": "atlas"}, "worker")
            audit.record("bench.two", ("bench", "2"), {"model": "atlas"}, "worker")
            assert not any("audit_" in sql for sql in seen)
            assert _local.pending is not None and len(_local.pending) == 2
        assert any(takes_the_log_head(sql) for sql in seen)
    entries = list(AuditEntry.objects.order_by("-seq")[:2])
    assert [e.action for e in entries] == ["bench.two", "bench.one"]
    assert entries[0].prev == entries[1].leaf_hash


def test_healthz_takes_one_query_and_no_browser_middleware(django_assert_num_queries):
    from django.test import Client

    client = Client()
    assert client.get("/healthz").status_code in (200, 503)  # the first probe pings the worker
    # Expect 1 query: the worker's last heartbeat, whose answer also shows the database answers.
    # The ping is claimed at most once per PING_INTERVAL per process, and no session, CSRF,
    # auth, messages, CSP or login-lockout middleware runs.
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.json()["database"] == "ok"
    assert "Content-Security-Policy" not in response and not response.cookies
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client.head("/healthz").content == b""


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_json_client_gets_json_without_content_negotiation(pipeline, accept, monkeypatch):
    from rest_framework.negotiation import DefaultContentNegotiation

    def refuse(*args: Any) -> None:
        raise AssertionError("negotiated")

    monkeypatch.setattr(DefaultContentNegotiation, "select_renderer", refuse)
    activate_default_policy()
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = bearer(pipeline).get("/api/v1/policy/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept", ["text/html", "application/json; indent=2"])
def test_other_accept_headers_are_still_negotiated(pipeline, accept):
    activate_default_policy()
    response = bearer(pipeline).get("/api/v1/policy/", HTTP_ACCEPT=accept)
    # Negotiated as before: 406 for HTML, indented JSON on request.
    assert response.status_code == (406 if accept == "text/html" else 200)


def test_the_quick_verification_issues_the_same_queries_whatever_the_trails_length():
    """The minute's check runs a fixed set of statements (chunks of large reads come from
    server-side cursors, not new statements): the same count for 10 entries and for 6,000,
    more than every chunk size. Its chain work is the entries since its anchor (ADR 0042,
    tests/audit/test_quick_incremental.py); its reconciliation still reads whole tables."""
    from audit.verification import verify_quick
    from tests.audit_support import append

    append(10)
    with CaptureQueriesContext(connection) as small:
        assert verify_quick().ok
    with transaction.atomic(), audit.batch():
        for i in range(6_000):
            audit.record("test.event", ("test.thing", i), {"i": i})
    with CaptureQueriesContext(connection) as large:
        outcome = verify_quick()
    assert outcome.ok and outcome.entries > 6_000
    assert len(large) == len(small) <= QUICK_VERIFY_BUDGET


# The quick verification: the recent runs (its anchor, and the forgery check), the newest
# checkpoint, the entries from the anchor on, the head, the reconciliation of every gate-input
# table with its entries and of the outsiders' access grants with theirs, the preconditions
# (triggers, the beat's schedule) and the runs after the newest valid one: 45 on PostgreSQL
# (44 on SQLite), inside the snapshot's transaction (was 46: the chain's two statements are one).
QUICK_VERIFY_BUDGET = 45


def test_the_gate_rows_are_written_in_one_statement_without_unchanged_reasons(pipeline):
    """The family's gate rows are written by the worker (ADR 0052) in one UPDATE (ADR 0049).
    Their model and scope are never sent, nor reasons the recomputation gave again (the
    verdict is: it counts the results); a change of reasons is written, and every row still
    verifies its MAC."""
    from governance import gatemac

    activate_default_policy()
    parent = make_model("atlas")
    child = make_model("atlas-child")
    child.parent = parent
    child.save()
    client = bearer(pipeline)

    def post(value: float) -> list[str]:
        """POST, then the worker's recomputation: its statements on the gate rows."""
        item = {"model": parent.slug, "checkpoint": "ckpt-1", "metric": "cbrn.vct_accuracy"}
        response = client.post(
            "/api/v1/results/", {**item, "value": value}, content_type="application/json"
        )
        assert response.status_code == 201
        with CaptureQueriesContext(connection) as sent:
            assert settle_gates() == 1
        return [q["sql"] for q in sent.captured_queries if "governance_gatestate" in q["sql"]]

    post(0.1)
    before = {row.pk: row.reasons for row in GateState.objects.all()}
    updates = [sql for sql in post(0.11) if sql.startswith("UPDATE")]
    assert len(updates) == 1
    assert '"verdict" = CASE' in updates[0] and '"evidence_seq" = CASE' in updates[0]
    assert '"model_id" =' not in updates[0] and '"scope" =' not in updates[0]
    assert '"reasons" =' not in updates[0]
    rows = list(GateState.objects.all())
    assert len(rows) == 4 and {row.pk: row.reasons for row in rows} == before
    assert all(gatemac.verifies(row) for row in rows)
    assert all(row.reasons == row.verdict["reasons"] for row in rows)

    crossing = [sql for sql in post(0.95) if sql.startswith("UPDATE")]  # above the line
    assert len(crossing) == 1 and '"reasons" = CASE' in crossing[0]
    rows = list(GateState.objects.all())
    assert {row.state for row in rows} == {"paused"}
    assert all(gatemac.verifies(row) and row.reasons == row.verdict["reasons"] for row in rows)

    # Compared with the column as read, not with the last computation: an edit is undone.
    GateState.objects.filter(model=child).update(reasons=[{"code": "forged"}])
    post(0.96)
    rows = list(GateState.objects.all())
    assert all(row.reasons == row.verdict["reasons"] for row in rows)
