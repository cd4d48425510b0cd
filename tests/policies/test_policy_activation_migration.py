"""Migration policies 0009: both earlier sign-off records become one PolicyActivation each."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.dbguard_escape import install_test_flush_escape

BEFORE = [("policies", "0007_self_assessment"), ("core", "0003_policy_activation_signoff")]
AFTER = [("policies", "0009_migrate_activation_signoffs")]


def _version(apps: Any, pk_label: str, status: str, content: str, titles: list[str]) -> Any:
    return apps.get_model("policies", "PolicyVersion").objects.create(
        key="default",
        name="Default",
        version=pk_label,
        status=status,
        content_sha256=content,
        disclaimer="",
        baseline_level="ASL-2",
        effective_compute_multiple=4.0,
        months_between_assessments=6,
        safeguard_reapproval_months=12,
        signoff_titles=titles,
    )


@pytest.mark.django_db(transaction=True)
def test_requests_and_title_approvals_move_into_one_model() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("core", "User")
    leader, rso, ceo = (User.objects.create(username=n) for n in ("leader", "rso", "ceo"))
    active = _version(old, "1", "active", "a" * 64, ["RSO", "CEO"])
    requested = _version(old, "2", "draft", "b" * 64, ["RSO"])
    approved = _version(old, "3", "draft", "c" * 64, ["RSO"])
    core_activation = old.get_model("core", "PolicyActivation").objects.create(
        version=requested,
        previous=active,
        dossier={"loosenings": ["fewer sign-offs"]},
        dossier_sha256="d" * 64,
        required_titles=["RSO", "CEO"],
        requested_by=leader,
    )
    old.get_model("core", "ActivationSignature").objects.create(
        activation=core_activation,
        signer=rso,
        requester=leader,
        title="RSO",
        verdict="approve",
        dossier_sha256="d" * 64,
    )
    Approval = old.get_model("policies", "ActivationApproval")
    Approval.objects.create(
        version=approved, rule_version=active, title="CEO", approver=ceo, content_sha256="c" * 64
    )
    Approval.objects.create(  # given for an earlier content: no longer counts
        version=approved, rule_version=active, title="RSO", approver=rso, content_sha256="0" * 64
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Activation = new.get_model("policies", "PolicyActivation")

    moved = Activation.objects.get(pk=core_activation.pk)
    assert (moved.status, moved.origin, moved.audited_as) == (
        "pending",
        "request",
        "core.policyactivation",
    )
    assert moved.dossier_sha256 == "d" * 64
    [signature] = moved.signatures.all()
    assert (signature.signer_id, signature.requester_id, signature.title) == (
        rso.pk,
        leader.pk,
        "RSO",
    )

    from_approvals = {
        row.content_sha256: row for row in Activation.objects.filter(version_id=approved.pk)
    }
    assert from_approvals["c" * 64].status == "pending"
    assert from_approvals["0" * 64].status == "stale"
    current = from_approvals["c" * 64]
    assert (current.origin, current.audited_as, current.requested_by_id) == (
        "approval",
        "policies.policyversion",
        ceo.pk,
    )
    assert current.required_titles == ["RSO", "CEO"]
    assert [(s.title, s.signer_id, s.requester_id) for s in current.signatures.all()] == [
        ("CEO", ceo.pk, None)
    ]
    # New activations get ids after the copied ones.
    fresh = Activation.objects.create(
        version_id=requested.pk,
        previous_id=active.pk,
        content_sha256="e" * 64,
        dossier={},
        dossier_sha256="e" * 64,
        required_titles=[],
        requested_by_id=leader.pk,
        status="stale",
    )
    assert fresh.pk > core_activation.pk

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # Re-applying append_only() installed the production trigger function; the test database
    # gets its flush escape back so the end-of-test flush works (audit.dbguard).
    install_test_flush_escape(connection)
