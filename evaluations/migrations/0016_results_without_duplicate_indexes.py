"""A result's foreign keys lose the indexes of their own that others already give (ADR 0056):
``model`` and ``checkpoint`` lead composite indexes, and ``result_superseded_once`` is the
unique index of ``supersedes``. Every result write paid for the three duplicates."""

import django.db.models.deletion
from django.db import migrations, models

from audit.dbguard import append_only


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0015_gate_due'),
    ]

    operations = [
        migrations.AlterField(
            model_name='evalresult',
            name='checkpoint',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='results', to='evaluations.checkpoint'),
        ),
        migrations.AlterField(
            model_name='evalresult',
            name='model',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='results', to='evaluations.aimodel'),
        ),
        migrations.AlterField(
            model_name='evalresult',
            name='supersedes',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='superseded_by', to='evaluations.evalresult'),
        ),
        # SQLite alters the fields by rebuilding the table, which drops its triggers.
        append_only('evaluations_evalresult'),
    ]
