"""A result run by an outside body: source ``external`` and the body named.

SQLite rebuilds the table to add a column, which drops its triggers: the append-only guard is
installed again (a no-op change on PostgreSQL, which alters the table in place)."""

from django.conf import settings
from django.db import migrations, models

from audit.dbguard import append_only


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0010_pending_correction'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='evalresult',
            name='external_body',
            field=models.CharField(blank=True, default='', max_length=200),
        ),
        migrations.AlterField(
            model_name='evalresult',
            name='source',
            field=models.CharField(choices=[('browser', 'Browser'), ('api', 'API'), ('import', 'Import'), ('suite', 'Suite run'), ('external', 'Outside body')], max_length=10),
        ),
        migrations.AlterField(
            model_name='pendingcorrection',
            name='source',
            field=models.CharField(choices=[('browser', 'Browser'), ('api', 'API'), ('import', 'Import'), ('suite', 'Suite run'), ('external', 'Outside body')], max_length=10),
        ),
        migrations.AddConstraint(
            model_name='evalresult',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('source', 'external'), models.Q(('external_body', ''), _negated=True)), models.Q(models.Q(('source', 'external'), _negated=True), ('external_body', '')), _connector='OR'), name='result_external_names_its_body'),
        ),
        append_only('evaluations_evalresult'),
    ]
