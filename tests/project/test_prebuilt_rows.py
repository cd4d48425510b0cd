"""Statements of the result write built once from ``_meta`` (``rsp_portal.rows``, ADR 0044 and
0047), each compared with the ORM statement it replaces, column by column."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from django.db import connection, transaction

import audit
from evaluations import summary
from evaluations.models import AIModel, Checkpoint, EvalResult
from governance.models import GateState
from tests.governance_fixtures import activate_default_policy, add_checkpoint, make_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]


def test_prebuilt_locking_reads_give_the_orms_rows(django_assert_num_queries):
    """The summary states', the audit head's and the gate rows' locking reads (ADR 0047)."""
    from audit.models import LogHead
    from evaluations.models import EvidenceSummaryState
    from rsp_portal.rows import LockedRows

    models = [make_model(slug) for slug in ("atlas", "other", "third")]
    ids = [m.pk for m in models]
    summary.lock(ids)
    EvidenceSummaryState.objects.filter(model_id=ids[1]).update(lens="x", watermark=9)
    audit.record("test.head", models[0], {}, None)
    cases = [
        (LockedRows(EvidenceSummaryState, "model", "model"), ids[::-1],
         EvidenceSummaryState.objects.select_for_update().filter(model_id__in=ids)
         .order_by("model_id")),
        (LockedRows(LogHead, "pk", "pk", no_key=True), [1],
         LogHead.objects.select_for_update(no_key=True).filter(pk=1)),
        (LockedRows(GateState, "model", "pk"), ids[:2],
         GateState.objects.select_for_update().filter(model_id__in=ids[:2]).order_by("pk")),
    ]  # fmt: skip
    for reader, values, orm in cases:
        with transaction.atomic():
            with django_assert_num_queries(1) as sent:
                rows = reader.fetch(values)
            expected = list(orm)
            assert len(rows) == len(expected) > 0
            for got, want in zip(rows, expected, strict=True):
                assert type(got) is type(want) and got.pk == want.pk
                assert all(
                    getattr(got, f.attname) == getattr(want, f.attname)
                    for f in want._meta.concrete_fields
                )
                assert not got._state.adding and got._state.db == want._state.db
            if connection.vendor == "postgresql":
                lock = "FOR NO KEY UPDATE" if reader.model is LogHead else "FOR UPDATE"
                assert sent.captured_queries[0]["sql"].endswith(lock)
    with django_assert_num_queries(0):
        assert LockedRows(LogHead, "pk", "pk").fetch([]) == []


def test_a_prebuilt_upsert_stores_what_bulk_create_stores(django_assert_num_queries):
    """``RowUpsert`` (the summary's upsert, ADR 0047) against ``bulk_create`` with
    ``update_conflicts``: a new row and a conflicting one, every column compared."""
    from datetime import datetime

    from evaluations.models import EvidenceSummary
    from rsp_portal.rows import RowUpsert

    activate_default_policy()
    model = make_model()
    checkpoint = Checkpoint.objects.get(model=model, name="ckpt-1")
    other = add_checkpoint(model, "ckpt-upsert", 1e23)
    result = EvalResult.objects.create(
        model=model, checkpoint=checkpoint, metric_key="cbrn.vct_accuracy", value=0.4
    )
    update = ["results", "strong", "best_strong", "best_strong_capability", "latest_strong_at",
              "weak_short", "strong_short"]  # fmt: skip
    writer = RowUpsert(EvidenceSummary, ["model", "checkpoint", "metric_key"], update)

    def rows(metric: str, n: int) -> list[EvidenceSummary]:
        return [
            EvidenceSummary(model=model, checkpoint=checkpoint, metric_key=metric, results=n,
                            strong=n - 1, best_strong=result, best_strong_capability=-0.25,
                            best_weak_capability=0.5, weak_short={"0.5": n, "é": [1, None]},
                            latest_strong_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
            EvidenceSummary(model=model, checkpoint=other, metric_key=metric, results=n,
                            strong_short={"1e+300": 2}),
        ]  # fmt: skip

    def stored(metric: str) -> list[dict[str, Any]]:
        found = EvidenceSummary.objects.filter(metric_key=metric).order_by("checkpoint_id")
        return [{k: v for k, v in row.items() if k != "id"} for row in found.values()]

    for metric, save in (("ours", writer.save), ("theirs", None)):
        for n in (3, 5):  # inserted, then updated on conflict
            batch = rows(metric, n)
            if save is None:
                EvidenceSummary.objects.bulk_create(
                    batch,
                    update_conflicts=True,
                    unique_fields=["model", "checkpoint", "metric_key"],
                    update_fields=update,
                )
            else:
                with django_assert_num_queries(1):
                    save(batch)
    ours, theirs = stored("ours"), stored("theirs")
    assert [dict(r, metric_key="") for r in ours] == [dict(r, metric_key="") for r in theirs]
    assert [r["results"] for r in ours] == [5, 5] and ours[0]["weak_short"]["é"] == [1, None]
    with django_assert_num_queries(0):
        writer.save([])


def test_a_prebuilt_insert_stores_what_bulk_create_stores(pipeline, django_assert_num_queries):
    """``RowInsert`` (the results' INSERT, ADR 0047) against ``bulk_create``: every column,
    the keys read back in order, an unsaved related object refused as by the ORM."""
    from datetime import datetime

    from rsp_portal.rows import RowInsert

    activate_default_policy()
    model = make_model()
    checkpoint = Checkpoint.objects.get(model=model, name="ckpt-1")
    olds = {
        metric: EvalResult.objects.create(
            model=model, checkpoint=checkpoint, metric_key="cbrn.vct_accuracy", value=0.4
        )
        for metric in ("ours", "theirs")
    }
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    def rows(metric: str) -> list[EvalResult]:
        return [
            EvalResult(model=model, checkpoint=checkpoint, metric_key=metric, value=0.25,
                       stderr=0.01, n_samples=200, elicitation={"é": [1, None]},
                       provenance={"eval_id": "e-1"}, submitted_by=pipeline, notes="✓",
                       source=EvalResult.Source.API, evaluated_at=at, recorded_at=at),
            EvalResult(model=model, checkpoint=checkpoint, metric_key=metric, value=1,
                       partial=True, mitigation="post", supersedes=olds[metric],
                       correction_reason="r",
                       source=EvalResult.Source.BROWSER, evaluated_at=at, recorded_at=at),
        ]  # fmt: skip

    def stored(found: list[EvalResult]) -> list[dict[str, Any]]:
        by_pk = {
            r["id"]: r for r in EvalResult.objects.filter(pk__in=[r.pk for r in found]).values()
        }
        skip = ("id", "metric_key", "supersedes_id")
        return [{k: v for k, v in by_pk[r.pk].items() if k not in skip} for r in found]

    with django_assert_num_queries(1):
        ours = RowInsert(EvalResult).insert(rows("ours"))
    theirs = EvalResult.objects.bulk_create(rows("theirs"))
    assert all(r.pk is not None and not r._state.adding for r in ours)
    assert [r.pk for r in ours] == sorted(r.pk for r in ours)
    assert stored(ours) == stored(theirs)
    assert [r.supersedes_id for r in ours] == [None, olds["ours"].pk]
    with django_assert_num_queries(0):
        assert RowInsert(EvalResult).insert([]) == []
    unsaved = AIModel(slug="unsaved", name="unsaved", family="x")
    with pytest.raises(ValueError, match="unsaved related object"):
        RowInsert(EvalResult).insert(
            [EvalResult(model=unsaved, checkpoint=checkpoint, metric_key="m", value=1)]
        )


def test_a_claim_inserts_once_and_reads_the_key_back(pipeline, django_assert_num_queries):
    from core.models import IdempotencyRecord
    from rsp_portal.rows import RowUpsert

    user = pipeline
    claims = RowUpsert(IdempotencyRecord, unique=["user", "key"])

    def record(sha: str) -> IdempotencyRecord:
        return IdempotencyRecord(user=user, key="k", method="POST", path="/p", request_sha256=sha)

    mine = record("a" * 64)
    # One statement (three, a savepoint around the INSERT, without RETURNING).
    with django_assert_num_queries(1 if connection.features.can_return_columns_from_insert else 3):
        assert claims.claim(mine) is True
    assert mine.pk is not None and not mine._state.adding
    stored = IdempotencyRecord.objects.get(pk=mine.pk)
    assert (stored.user_id, stored.key, stored.request_sha256) == (user.pk, "k", "a" * 64)
    assert stored.created_at == mine.created_at and stored.response_code == 0
    theirs = record("b" * 64)
    assert claims.claim(theirs) is False and theirs.pk is None
    assert IdempotencyRecord.objects.filter(user=user).count() == 1
