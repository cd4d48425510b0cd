# The model moves from evaluations to core (the idempotency helper is a shared API piece,
# rsp_portal.idempotency); its table, created by evaluations 0001, stays as it is: state only.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0008_user_time_zone'),
        ('evaluations', '0012_claimed_lineage'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=255)),
                ('method', models.CharField(max_length=10)),
                ('path', models.CharField(max_length=500)),
                ('request_sha256', models.CharField(max_length=64)),
                ('response_code', models.PositiveSmallIntegerField(default=0)),
                ('response_body', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'evaluations_idempotencyrecord',
                'indexes': [models.Index(fields=['created_at'], name='idempotency_created')],
                'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='idempotency_key_per_user')],
            },
        )], database_operations=[]),
    ]
