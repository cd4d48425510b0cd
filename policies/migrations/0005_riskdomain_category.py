"""Risk domains carry a framework-neutral category (cross-framework comparison, issue 17)."""

from django.db import migrations, models

from policies.dbguard import _drop, freeze_policy_versions

# Unchanged since 0003: every column of policies_policyversion except ``status``.
VERSION_COLUMNS = [
    "id", "key", "name", "version", "content_sha256", "source", "disclaimer",
    "baseline_level", "baseline_standards", "effective_compute_multiple",
    "months_between_assessments", "safeguard_reapproval_months", "warning_behaviour",
    "signoff_titles", "advisory_titles", "uncertainty_z", "created_at", "created_by_id",
    "activated_at", "activated_by_id",
]
CHILD_TABLES = [
    "policies_safetylevel", "policies_standard", "policies_safeguardrequirement",
    "policies_riskdomain", "policies_metric", "policies_capabilitythreshold",
    "policies_indicator",
]


def drop_freeze_triggers(apps, schema_editor):
    # SQLite may rebuild a table to add a column; triggers naming the old table would break it.
    for statement in _drop(schema_editor.connection.vendor, CHILD_TABLES):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("policies", "0004_standard_alignment_kind"),
    ]

    operations = [
        migrations.RunPython(drop_freeze_triggers, migrations.RunPython.noop),
        migrations.AddField(
            model_name="riskdomain",
            name="category",
            field=models.CharField(
                blank=True,
                choices=[
                    ("cbrn", "CBRN weapons"),
                    ("cyber", "Cyber operations"),
                    ("ai_rd", "AI R&D and self-improvement"),
                    ("autonomy", "Autonomy and replication"),
                    ("manipulation", "Manipulation and persuasion"),
                    ("misalignment", "Misalignment and loss of control"),
                    ("general", "General (precursor) capabilities"),
                    ("other", "Other"),
                ],
                default="",
                max_length=32,
            ),
        ),
        freeze_policy_versions(VERSION_COLUMNS, CHILD_TABLES),
    ]
