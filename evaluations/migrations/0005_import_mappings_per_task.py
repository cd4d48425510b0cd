"""Mappings are remembered per task; imports carry a run identity (``run_key``).

Mappings stored before this migration had no task: they keep ``format = task = ""``, are listed
for review, and are never applied again (they were the cross-task hazard of issue 11).
Successful Inspect imports get ``run_key = "inspect:<eval_id>"``; lm-eval imports cannot be
re-keyed without their file, so they keep the old identity (the file's SHA-256).
"""

from django.conf import settings
from django.db import migrations, models


def backfill_run_keys(apps, schema_editor):
    ImportRecord = apps.get_model("evaluations", "ImportRecord")
    for record in ImportRecord.objects.filter(format="inspect", eval_id__isnull=False):
        record.run_key = f"inspect:{record.eval_id}"
        record.save(update_fields=["run_key"])


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0004_result_dates'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='metricmapping',
            options={'ordering': ['metric_key', 'format', 'task', 'source_name']},
        ),
        migrations.AddField(
            model_name='importrecord',
            name='run_key',
            field=models.CharField(blank=True, max_length=250, null=True),
        ),
        migrations.RunPython(backfill_run_keys, migrations.RunPython.noop),
        migrations.AddField(
            model_name='metricmapping',
            name='format',
            field=models.CharField(blank=True, default='', max_length=20),
        ),
        migrations.AddField(
            model_name='metricmapping',
            name='task',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.AlterField(
            model_name='importrecord',
            name='format',
            field=models.CharField(choices=[('inspect', 'Inspect AI'), ('lm_eval', 'lm-evaluation-harness'), ('results_json', 'results JSON')], max_length=20),
        ),
        migrations.AlterField(
            model_name='metricmapping',
            name='source_name',
            field=models.CharField(max_length=300),
        ),
        migrations.AddIndex(
            model_name='importrecord',
            index=models.Index(fields=['run_key'], name='import_run_key'),
        ),
        migrations.AddIndex(
            model_name='metricmapping',
            index=models.Index(fields=['metric_key'], name='mapping_metric'),
        ),
        migrations.AddConstraint(
            model_name='importrecord',
            constraint=models.UniqueConstraint(condition=models.Q(('run_key__isnull', False), ('status', 'success')), fields=('run_key',), name='import_run_key_once'),
        ),
        migrations.AddConstraint(
            model_name='metricmapping',
            constraint=models.UniqueConstraint(fields=('format', 'task', 'source_name'), name='mapping_per_task_source'),
        ),
    ]
