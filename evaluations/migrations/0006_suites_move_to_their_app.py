"""Suites, runs, their results and the outbox move to the ``suites`` app, in state only.

The tables stay where they are (``evaluations_*``); ``suites.0001_initial`` takes the models
over with the same table names (docs/adr/0015-suites-app.md).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0005_import_mappings_per_task"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SuiteRunResult"),
                migrations.DeleteModel(name="SuiteRun"),
                migrations.DeleteModel(name="EvalSuite"),
                migrations.DeleteModel(name="OutboxMessage"),
            ],
            database_operations=[],
        ),
    ]
