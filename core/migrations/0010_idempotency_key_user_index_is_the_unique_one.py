"""An ``Idempotency-Key`` row's user loses its index of its own: the unique (user, key) index
starts with it (ADR 0056)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0009_idempotency_record_to_core'),
    ]

    operations = [
        migrations.AlterField(
            model_name='idempotencyrecord',
            name='user',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
    ]
