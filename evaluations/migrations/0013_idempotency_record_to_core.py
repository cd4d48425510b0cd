# The model moved to core (core 0009); the table stays, under its name: state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0012_claimed_lineage'),
        ('core', '0009_idempotency_record_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyRecord')],
            database_operations=[],
        ),
    ]
