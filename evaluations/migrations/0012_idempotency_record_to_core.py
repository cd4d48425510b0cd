# The model moved to core (core 0007); the table stays, under its name: state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('evaluations', '0011_claimed_lineage'),
        ('core', '0007_idempotency_record_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyRecord')],
            database_operations=[],
        ),
    ]
