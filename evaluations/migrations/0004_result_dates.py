"""Results record when the evaluation ran (``evaluated_at``) and whether it was a partial run.

Existing results are dated from when they were recorded, the only date known for them. The
append-only guard is lifted for that one backfill and put back at once.
"""

import django.utils.timezone
from django.db import migrations, models

from audit.dbguard import _drop_statements, append_only


def backfill_evaluated_at(apps, schema_editor):
    for statement in _drop_statements(schema_editor.connection.vendor, "evaluations_evalresult"):
        schema_editor.execute(statement, params=None)
    schema_editor.execute(
        "UPDATE evaluations_evalresult SET evaluated_at = recorded_at WHERE evaluated_at IS NULL",
        params=None,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0003_idempotency_response_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='evalresult',
            name='evaluated_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name='evalresult',
            name='partial',
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(backfill_evaluated_at, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='evalresult',
            name='evaluated_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        append_only('evaluations_evalresult'),
    ]
