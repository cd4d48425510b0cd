"""Move both activation sign-off records into ``policies.PolicyActivation``.

``core.PolicyActivation`` rows keep their ids and signatures (their audit entries name
``core.policyactivation``); ``policies.ActivationApproval`` rows become one activation per
draft content and rule version, opened by its first approval, with one signature per
approval (their audit entries are ``policy.activation_approve`` on the version). ``audited_as``
records which, so reconciliation keeps finding each signature's entry.
"""

import hashlib
import json
from itertools import groupby

from django.core.management.color import no_style
from django.db import migrations


def _sha256(dossier):
    text = json.dumps(dossier, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _copy_core(apps, schema_editor):
    OldActivation = apps.get_model("core", "PolicyActivation")
    OldSignature = apps.get_model("core", "ActivationSignature")
    Activation = apps.get_model("policies", "PolicyActivation")
    Signature = apps.get_model("policies", "ActivationSignature")
    for old in OldActivation.objects.select_related("version").order_by("pk"):
        Activation.objects.create(
            pk=old.pk,
            version_id=old.version_id,
            previous_id=old.previous_id,
            content_sha256=old.version.content_sha256,
            dossier=old.dossier,
            dossier_sha256=old.dossier_sha256,
            required_titles=old.required_titles,
            origin="request",
            requested_by_id=old.requested_by_id,
            requested_at=old.requested_at,
            status=old.status,
            decided_at=old.decided_at,
            audited_as="core.policyactivation",
        )
    for old in OldSignature.objects.order_by("pk"):
        Signature.objects.create(
            activation_id=old.activation_id,
            signer_id=old.signer_id,
            requester_id=old.requester_id,
            title=old.title,
            verdict=old.verdict,
            dossier_sha256=old.dossier_sha256,
            created_at=old.created_at,
        )
    connection = schema_editor.connection
    for sql in connection.ops.sequence_reset_sql(no_style(), [Activation]):
        schema_editor.execute(sql, params=None)


def _status(version, rule, content, titles, approvals, pending_exists):
    complete = bool(titles) and all(t in {a.title for a in approvals} for t in titles)
    if version.status != "draft":
        return "activated" if complete else "stale"
    current = rule.status == "active" and content == version.content_sha256
    return "pending" if current and not complete and not pending_exists else "stale"


def _copy_approvals(apps, schema_editor):
    Approval = apps.get_model("policies", "ActivationApproval")
    Activation = apps.get_model("policies", "PolicyActivation")
    Signature = apps.get_model("policies", "ActivationSignature")
    rows = (
        Approval.objects.filter(rule_version__isnull=False)  # approve_activation never wrote null
        .select_related("version", "rule_version")
        .order_by("version_id", "rule_version_id", "content_sha256", "created_at", "pk")
    )
    key = lambda row: (row.version_id, row.rule_version_id, row.content_sha256)  # noqa: E731
    for (_, _, content), group in groupby(rows, key=key):
        approvals = list(group)
        first, last = approvals[0], approvals[-1]
        version, rule = first.version, first.rule_version
        titles = list(rule.signoff_titles)
        pending_exists = Activation.objects.filter(version=version, status="pending").exists()
        status = _status(version, rule, content, titles, approvals, pending_exists)
        dossier = {
            "version": version.pk,
            "label": version.version,
            "previous_version": rule.pk,
            "previous_label": rule.version,
            "content_sha256": content,
            "loosenings": [],
            "migrated_from": "policies.ActivationApproval",
        }
        activation = Activation.objects.create(
            version=version,
            previous=rule,
            content_sha256=content,
            dossier=dossier,
            dossier_sha256=_sha256(dossier),
            required_titles=titles,
            origin="approval",
            requested_by_id=first.approver_id,
            requested_at=first.created_at,
            status=status,
            decided_at=None if status == "pending" else last.created_at,
            audited_as="policies.policyversion",
        )
        for row in approvals:
            Signature.objects.create(
                activation=activation,
                signer_id=row.approver_id,
                requester_id=None,
                title=row.title,
                verdict="approve",
                dossier_sha256=activation.dossier_sha256,
                created_at=row.created_at,
            )


def forwards(apps, schema_editor):
    _copy_core(apps, schema_editor)
    _copy_approvals(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0008_policy_activation"),
        ("core", "0003_policy_activation_signoff"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
