"""Database triggers: active and superseded policy versions and their parts are immutable."""

from django.db import migrations

from policies.dbguard import freeze_policy_versions

# Every column of policies_policyversion except ``status`` (which may go active → superseded).
VERSION_COLUMNS = [
    "id",
    "key",
    "name",
    "version",
    "content_sha256",
    "source",
    "disclaimer",
    "baseline_level",
    "baseline_standards",
    "effective_compute_multiple",
    "months_between_assessments",
    "safeguard_reapproval_months",
    "warning_behaviour",
    "signoff_titles",
    "created_at",
    "created_by_id",
    "activated_at",
    "activated_by_id",
]
CHILD_TABLES = [
    "policies_safetylevel",
    "policies_standard",
    "policies_safeguardrequirement",
    "policies_riskdomain",
    "policies_metric",
    "policies_capabilitythreshold",
    "policies_indicator",
]


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [freeze_policy_versions(VERSION_COLUMNS, CHILD_TABLES)]
