"""Statements of the result write built once from ``_meta`` (``rsp_portal.rows``, ADR 0044 and
0047), each compared with the ORM statement it replaces, column by column."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from django.db import DataError, connection, transaction

import audit
from evaluations import summary
from evaluations.models import AIModel, Checkpoint, EvalResult
from governance.models import GateState
from rsp_portal.rows import RowInsert
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

    activate_default_policy()
    model = make_model()
    checkpoint = Checkpoint.objects.get(model=model, name="ckpt-1")
    olds = {
        metric: EvalResult.objects.create(
            model=model, checkpoint=checkpoint, metric_key="cbrn.vct_accuracy", value=0.4
        )
        for metric in ("ours", "theirs", "carried")
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
    if connection.vendor == "postgresql":
        # Carried by the claim's statement (ADR 0058): the same columns, the keys in order,
        # no statement of its own.
        summary.lock([model.pk])  # the model's summary state
        carried_rows = rows("carried")
        carried = RowInsert(EvalResult).carried(carried_rows, after=summary.CLAIMED)
        assert carried is not None
        with transaction.atomic():
            with django_assert_num_queries(1):
                summary.claim([model.pk], carried)
            with django_assert_num_queries(0):
                RowInsert(EvalResult).insert(carried_rows, carried)
        assert [r.pk for r in carried_rows] == sorted(r.pk for r in carried_rows)
        assert stored(carried_rows) == stored(theirs)
        # Its values are cast without the column's modifier: a text too long is refused, as
        # by the plain INSERT, not cut to the column's length.
        long = [EvalResult(model=model, checkpoint=checkpoint, metric_key="m" * 101, value=1)]
        too_long = RowInsert(EvalResult).carried(long, after=summary.CLAIMED)
        with pytest.raises(DataError), transaction.atomic():
            summary.claim([model.pk], too_long)
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
    if connection.vendor != "postgresql":
        assert claims.carried(record("c" * 64)) is None  # the claim is its own statement
        return
    # Carried by an audit batch's append (ADR 0058): in its statement when it appends, on its
    # own when it has nothing to append; the key read back, or none when taken.
    for key, entries in (("k2", 1), ("k3", 0), ("k", 1)):
        mine = IdempotencyRecord(
            user=user, key=key, method="POST", path="/p", request_sha256="c" * 64
        )
        carried = claims.carried(mine)
        assert carried is not None
        with django_assert_num_queries(1), audit.batch() as carrier:  # the test's transaction
            assert carrier is not None
            for i in range(entries):
                audit.record("test.carry", ("test.thing", i), {"key": key})
            carrier.carry(carried)
        assert claims.took(mine, carried) is (key != "k")
        assert (mine.pk is not None) is (key != "k")
    assert IdempotencyRecord.objects.filter(user=user).count() == 3
    with transaction.atomic(), audit.batch() as outer, audit.batch() as inner:
        assert outer is not None and inner is None  # a nested batch does not append


def _gate_rows(models: list[AIModel]) -> list[GateState]:
    from governance import services

    for model in models:
        services.recompute(model, "test.setup")
    return list(GateState.objects.filter(model__in=models).order_by("pk"))


def _columns(rows: list[GateState]) -> list[dict[str, Any]]:
    return [
        {f.attname: getattr(row, f.attname) for f in GateState._meta.concrete_fields}
        for row in GateState.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk")
    ]


def test_a_prebuilt_multi_row_update_stores_what_bulk_update_stores(django_assert_num_queries):
    """``RowUpdate.save_many`` (the family's gate rows, ADR 0049) against ``bulk_update`` of
    every column: the same stored values, in one statement, JSON and datetimes included."""
    from datetime import datetime

    from rsp_portal.rows import RowUpdate

    activate_default_policy()
    rows = _gate_rows([make_model("atlas"), make_model("other")])
    assert len(rows) == 4

    def change(rows: list[GateState], tag: str) -> None:
        for n, row in enumerate(rows):
            row.reasons = [{"code": tag, "n": n, "text": "é ✓"}]
            row.verdict = {**row.verdict, "tag": tag, "n": n * 1.5}
            row.computed_at = datetime(2026, 1, 2, 3, 4, 5, n, tzinfo=UTC)
            row.valid_until = None if n % 2 else datetime(2027, 1, 1, tzinfo=UTC)
            row.evidence_seq = 7 + n
            row.mac = f"mac-{tag}-{n}"

    fields = [f.name for f in GateState._meta.concrete_fields if not f.primary_key]
    change(rows, "orm")
    GateState.objects.bulk_update(rows, fields)
    by_orm = _columns(rows)
    change(rows, "prebuilt")
    with django_assert_num_queries(1):
        RowUpdate(GateState).save_many(rows)
    by_us = _columns(rows)
    change(rows, "orm")  # the ORM's values again, compared with what the statement stored
    for row, stored in zip(rows, by_us, strict=True):
        assert stored["mac"] == row.mac.replace("orm", "prebuilt")
        assert stored["reasons"][0]["code"] == "prebuilt"
    for mine, theirs in zip(by_us, by_orm, strict=True):
        assert {k: v for k, v in mine.items() if k not in ("mac", "reasons", "verdict")} == {
            k: v for k, v in theirs.items() if k not in ("mac", "reasons", "verdict")
        }


def test_kept_columns_are_not_sent_and_the_rest_are_written(django_assert_num_queries):
    """A column the caller says each row already holds is left out of the statement (the
    gate's verdict and reasons when a recomputation gave them again); a column kept by some
    rows only is written for the others."""
    from rsp_portal.rows import RowUpdate

    activate_default_policy()
    rows = _gate_rows([make_model("atlas")])
    stored_reasons = [row.reasons for row in rows]
    for row in rows:
        row.reasons = [{"code": "not-sent"}]
        row.verdict = {**row.verdict, "tag": row.scope}
        row.mac = "new"
    first, second = rows
    kept = {first.pk: ("reasons", "verdict"), second.pk: ("reasons",)}
    with django_assert_num_queries(1) as sent:
        RowUpdate(GateState).save_many(rows, kept=kept)
    sql = sent.captured_queries[0]["sql"]
    assert '"reasons" =' not in sql and '"verdict" = CASE' in sql and "ELSE" in sql
    got = {row.pk: row for row in GateState.objects.filter(pk__in=kept)}
    assert [got[row.pk].reasons for row in rows] == stored_reasons
    assert "tag" not in got[first.pk].verdict and got[second.pk].verdict["tag"] == second.scope
    assert {got[row.pk].mac for row in rows} == {"new"}


def test_a_multi_row_update_of_a_gone_row_saves_each_as_save_does() -> None:
    from rsp_portal.rows import RowUpdate

    activate_default_policy()
    rows = _gate_rows([make_model("atlas")])
    GateState.objects.filter(pk=rows[0].pk).delete()
    for row in rows:
        row.mac = "again"
    RowUpdate(GateState).save_many(rows)
    assert sorted(GateState.objects.values_list("mac", flat=True)) == ["again", "again"]
    with pytest.raises(ValueError, match="twice"):
        RowUpdate(GateState).save_many([rows[1], GateState.objects.get(pk=rows[1].pk)])


def test_the_familys_locking_read_gives_the_states_the_two_statements_gave(
    django_assert_num_queries,
):
    """A result write lists the model's family and locks its summary states in one statement
    (ADR 0017's lock, in id order); a member without a state sends it the longer way, which
    creates the state; a model outside the family is not locked."""
    from evaluations.models import EvidenceSummaryState

    parent = make_model("atlas")
    child = AIModel.objects.create(slug="atlas-ft", name="Atlas FT", family="atlas", parent=parent)
    grandchild = AIModel.objects.create(
        slug="atlas-ft-2", name="Atlas FT 2", family="atlas", parent=child
    )
    make_model("other")
    family = [parent.pk, child.pk, grandchild.pk]
    summary.lock([parent.pk])  # only the parent has a state
    with transaction.atomic(), django_assert_num_queries(5):  # the longer way, creating two
        assert sorted(summary.lock([parent.pk], family=True)) == family
    EvidenceSummaryState.objects.filter(model_id=child.pk).update(watermark=7, lens="x")
    with transaction.atomic():
        with django_assert_num_queries(1):
            states = summary.lock([parent.pk], family=True)
        assert list(states) == family  # in id order
        assert (states[child.pk].watermark, states[child.pk].lens) == (7, "x")
        assert all(not state._state.adding for state in states.values())
        with django_assert_num_queries(1):
            assert list(summary.lock([child.pk], family=True)) == family[1:]
    if connection.vendor == "postgresql":
        assert summary._FAMILY_LOCK_SQL["postgresql"].endswith("FOR UPDATE OF t")


def test_a_writes_claim_locks_the_family_and_counts_its_write_in_one_statement(
    django_assert_num_queries,
):
    """A result write's claim (ADR 0055) locks the family's summary states as the locking read
    does, counts one more owed write on each member and asks for the written model's gate; it
    returns whether that gate was already asked for, as read under the lock. A member without
    a state sends it the longer way (lock and owe), which creates the state."""
    from evaluations.models import EvidenceSummaryState

    parent = make_model("atlas")
    child = AIModel.objects.create(slug="atlas-ft", name="Atlas FT", family="atlas", parent=parent)
    make_model("other")
    summary.lock([parent.pk])  # only the parent has a state

    def seen() -> dict[int, tuple[int, bool]]:
        rows = EvidenceSummaryState.objects.order_by("model_id")
        return {s.model_id: (s.evidence_seq, s.gate_due) for s in rows}

    other = AIModel.objects.get(slug="other").pk
    # A statement the claim carries (ADR 0058) runs only when the one statement claims: the
    # longer way leaves it to its owner, having inserted nothing.
    carried = RowInsert(EvalResult).carried(
        [
            EvalResult(
                model=parent, checkpoint=add_checkpoint(parent, "c", 1e24), metric_key="m", value=1
            )
        ],
        after=summary.CLAIMED,
    )
    with transaction.atomic():  # the longer way, creating the child's state
        assert summary.claim([parent.pk], carried) == {parent.pk: False}
    assert seen() == {parent.pk: (1, True), child.pk: (1, False)}
    assert carried is None or carried.keys is None
    assert not EvalResult.objects.filter(model=parent).exists()
    one = 1 if connection.vendor == "postgresql" else 2  # SQLite: the read, then the UPDATE
    with transaction.atomic(), django_assert_num_queries(one):
        assert summary.claim([parent.pk]) == {parent.pk: True}  # already asked for
    with transaction.atomic(), django_assert_num_queries(one):
        assert summary.claim([child.pk]) == {child.pk: False}
    assert seen() == {parent.pk: (2, True), child.pk: (3, True)}
    assert other not in seen()  # outside the family: neither locked nor counted
    with transaction.atomic():  # two written models: the longer way, in id order
        assert summary.claim([child.pk, parent.pk]) == {parent.pk: True, child.pk: True}
    assert seen() == {parent.pk: (3, True), child.pk: (4, True)}
    if connection.vendor == "postgresql":
        assert 'ORDER BY t."model_id" FOR UPDATE OF t' in summary._claim_sql("")
