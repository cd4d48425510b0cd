"""The hostile-insider drill, part two (issue 22, observations 1, 3 and 7), on PostgreSQL as the
table owner: a forged verification run, an edited stored gate, and verification's own
preconditions switched off. Each is refused or detected, and every gate pauses, by the
every-minute quick verification (or the gate read itself)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.checkpoints import CheckpointError, make_checkpoint
from audit.models import AuditEntry
from audit.runs import trusted_run
from audit.tasks import verify_quick
from audit.verification import run_verification
from governance import services
from governance.models import GateState
from tests.audit_support import (  # noqa: F401  (fixture)
    append,
    attacker,
    audit_keys,
    restore_guards,
)
from tests.conftest import bearer, guards_enforced
from tests.governance_fixtures import (
    activate_default_policy,
    add_result,
    baseline,
    evaluate_all_below,
    make_model,
)
from tests.services import requires_services

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, requires_services, pytest.mark.usefixtures("verified_trail")]


@pytest.fixture
def approved(audit_keys: Path, safety: Any, rso: Any, ceo: Any) -> Any:  # noqa: F811
    """An approved gate over a trail with a signed, published checkpoint and a signed run."""
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "below every line", safety)
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256)
    make_checkpoint()
    outcome, run = run_verification("worker (quick)", quick=True)
    assert outcome.ok, outcome.message
    assert run.signature
    assert services.gate_for(model)["state"] == "approved"
    return model


def _forge_run(cursor: Any, started_at: dt.datetime, signature: str = "") -> None:
    cursor.execute(
        "INSERT INTO audit_verificationrun (kind, started_at, ok, entries, checkpoints, "
        "message, triggered_by, head_hash, signature) "
        "VALUES ('quick', %s, true, 0, 0, 'OK: forged', 'worker (quick)', '', %s)",
        [started_at, signature],
    )


def _edit_a_result(cursor: Any) -> None:
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("ALTER TABLE evaluations_evalresult DISABLE TRIGGER USER")
    cursor.execute(
        "UPDATE evaluations_evalresult SET value = value + 0.5 "
        "WHERE id = (SELECT min(id) FROM evaluations_evalresult)"
    )
    cursor.execute("ALTER TABLE evaluations_evalresult ENABLE TRIGGER USER")


def _paused(model: Any) -> None:
    assert services.gate_for(model)["state"] == "paused"
    stored = services.stored_gate(model.slug)
    assert stored is None or stored["state"] == "paused"


# --- Observation 1: verification you can trust -------------------------------------------


def test_a_forged_run_from_the_future_does_not_keep_the_gate_open(approved: Any, auditor: Any):
    with attacker() as cursor:
        _edit_a_result(cursor)
        _forge_run(cursor, timezone.now() + dt.timedelta(days=3650))
        restore_guards(cursor)
    # The every-minute task records FAIL and every gate pauses, stored and live.
    assert verify_quick() is False
    _paused(approved)
    answer = bearer(auditor, ["audit:read"]).get("/api/v1/audit/verify/").json()
    assert answer["ok"] is False
    assert "forged" not in answer["message"]


def test_a_forged_run_is_ignored_and_is_itself_a_failure(approved: Any):
    real = trusted_run()
    with attacker() as cursor:
        _forge_run(cursor, timezone.now() + dt.timedelta(days=3650))
        restore_guards(cursor)
    assert trusted_run() == real  # the forgery never counts
    outcome, _run = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "in the future" in outcome.message and "forged verification run" in outcome.message
    _paused(approved)


def test_a_run_with_a_signature_the_key_did_not_make_is_a_failure(approved: Any):
    with attacker() as cursor:
        _forge_run(cursor, timezone.now(), signature="A" * 88)
        restore_guards(cursor)
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "signature the audit key did not make" in outcome.message


def test_an_unsigned_success_never_reopens_a_paused_gate(approved: Any, settings: Any):
    with attacker() as cursor:
        _edit_a_result(cursor)
        restore_guards(cursor)
    assert verify_quick() is False
    settings.AUDIT_SIGNING_KEY_FILE = Path("/nonexistent/key.pem")  # a web process
    with attacker() as cursor:
        _forge_run(cursor, timezone.now())
        restore_guards(cursor)
    _paused(approved)
    assert trusted_run() is not None and not trusted_run().ok  # type: ignore[union-attr]


def test_a_process_without_the_key_records_an_unsigned_run_that_does_not_count(
    approved: Any, settings: Any
):
    real = trusted_run()
    settings.AUDIT_SIGNING_KEY_FILE = Path("/nonexistent/key.pem")
    outcome, run = run_verification("auditor")
    assert outcome.ok and run.signature == ""
    assert trusted_run() == real


def test_verification_runs_are_append_only(approved: Any):
    with guards_enforced():
        for statement in (
            "UPDATE audit_verificationrun SET ok = true",
            "DELETE FROM audit_verificationrun",
            "TRUNCATE audit_verificationrun",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute(statement)


# --- Observation 3: the served verdict is checked -----------------------------------------


@pytest.fixture
def crossed(approved: Any) -> Any:
    """The approved model pauses on a crossed threshold (a sealed, paused stored gate)."""
    add_result(approved, "cbrn.vct_accuracy", 0.95)
    assert services.gate_for(approved)["state"] == "paused"
    return approved


def _approve_in_sql(cursor: Any, model: Any) -> None:
    cursor.execute(
        "UPDATE governance_gatestate SET state = 'approved', "
        "verdict = jsonb_set(verdict::jsonb, '{state}', '\"approved\"')::jsonb, "
        "reasons = '[]'::jsonb WHERE model_id = %s",
        [model.pk],
    )


def test_an_edited_stored_gate_is_never_served(crossed: Any, auditor: Any, pipeline: Any):
    with attacker() as cursor:
        _approve_in_sql(cursor, crossed)
    # The pipeline's default call (no compute), the rider path and the service all refuse it.
    client = bearer(pipeline, ["gate:read"])
    response = client.get(f"/api/v1/models/{crossed.slug}/gate/")
    answer = response.json()
    assert response.status_code == 200, answer
    assert answer["state"] == "paused"
    assert "failed its integrity check" in answer["reasons"][0]["message"]
    assert "manage.py sweep_gates" in answer["reasons"][0]["message"]
    assert services.gate_for(crossed)["state"] == "paused"
    stored = services.stored_gate(crossed.slug)
    assert stored is not None and stored["state"] == "paused"


def test_the_sweep_compares_records_and_repairs(crossed: Any):
    from governance.tasks import sweep_gates

    with attacker() as cursor:
        _approve_in_sql(cursor, crossed)
    before = AuditEntry.objects.filter(action="gate.mismatch").count()
    sweep_gates()
    mismatch = AuditEntry.objects.filter(action="gate.mismatch").order_by("-seq").first()
    assert mismatch is not None and before == 0
    assert mismatch.parsed["data"]["tampered"] == ["deployment", "scaling"]
    assert mismatch.parsed["data"]["recomputed"]["scaling"] == "paused"
    state = GateState.objects.get(model=crossed, scope="scaling")
    assert state.state == "paused"
    assert services.stored_gate(crossed.slug)["state"] == "paused"  # type: ignore[index]


def test_verification_notices_an_edited_stored_gate(crossed: Any):
    with attacker() as cursor:
        _approve_in_sql(cursor, crossed)
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "governance_gatestate" in outcome.message
    _paused(crossed)


# --- Observation 7: verification checks its own preconditions ------------------------------


def test_a_disabled_guard_is_detected(approved: Any):
    with guards_enforced(), transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE governance_safeguardrecord DISABLE TRIGGER USER")
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "governance_safeguardrecord" in outcome.message and "disabled" in outcome.message
    _paused(approved)


def test_a_replaced_trigger_function_is_detected(approved: Any):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION rsp_append_only() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NEW; END $$;"
        )
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "rsp_append_only was replaced" in outcome.message


def test_a_vanished_checkpoint_log_is_detected(approved: Any):
    log = Path(settings.AUDIT_CHECKPOINT_LOG)
    assert log.exists()
    log.unlink()
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok and "has vanished" in outcome.message
    _paused(approved)
    with pytest.raises(CheckpointError, match="vanished"):
        append(2)
        make_checkpoint()  # the signer never rebuilds it silently


def test_a_rolled_back_checkpoint_log_is_detected(approved: Any):
    log = Path(settings.AUDIT_CHECKPOINT_LOG)
    older = log.read_bytes()
    append(3)
    make_checkpoint()
    assert len(log.read_bytes()) > len(older)
    log.write_bytes(older)  # an older copy put back
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok and "rolled back" in outcome.message
    _paused(approved)


def test_an_edited_checkpoint_log_is_detected(approved: Any):
    log = Path(settings.AUDIT_CHECKPOINT_LOG)
    data = bytearray(log.read_bytes())
    data[10] ^= 0x01
    log.write_bytes(bytes(data))
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok


def test_entries_left_without_a_checkpoint_are_detected(approved: Any, settings: Any):
    settings.AUDIT_CHECKPOINT_MAX_AGE_SECONDS = 600
    append(2)
    assert verify_quick() is True
    from unittest import mock

    later = timezone.now() + dt.timedelta(minutes=11)
    with mock.patch("audit.preconditions.timezone.now", return_value=later):
        outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok
    assert "not covered by a signed checkpoint" in outcome.message


def test_a_disabled_checkpoint_task_is_detected_and_disabling_it_in_the_admin_is_audited(
    approved: Any, admin_user: Any
):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    task = PeriodicTask.objects.create(
        name="audit-checkpoint", task="audit.sign_checkpoint", interval=every
    )
    assert verify_quick() is True
    from tests.conftest import client_for

    response = client_for(admin_user).post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [task.pk]},
    )
    assert response.status_code in (200, 302)
    task.refresh_from_db()
    assert task.enabled is False
    entry = AuditEntry.objects.filter(action="beat.task.changed").order_by("-seq").first()
    assert entry is not None
    assert entry.parsed["data"]["name"] == "audit-checkpoint"
    assert entry.parsed["data"]["changes"]["enabled"] == [True, False]
    assert entry.actor == admin_user.username or admin_user.username in entry.actor
    outcome, _ = run_verification("worker (quick)", quick=True)
    assert not outcome.ok and "audit-checkpoint is disabled" in outcome.message
    _paused(approved)


def test_a_task_disabled_in_sql_is_detected(approved: Any):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.create(
        name="audit-verify-quick", task="audit.verify_quick", interval=every
    )
    PeriodicTask.objects.filter(name="audit-verify-quick").update(enabled=False)
    outcome, _ = run_verification("worker", quick=False)
    assert not outcome.ok and "audit-verify-quick is disabled" in outcome.message
