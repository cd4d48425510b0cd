"""Policy activation sign-off now lives in ``policies`` (its rows were copied by
``policies.0009_migrate_activation_signoffs``); the core tables go."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_policy_activation_signoff"),
        ("policies", "0009_migrate_activation_signoffs"),
    ]

    operations = [
        migrations.DeleteModel(name="ActivationSignature"),
        migrations.DeleteModel(name="PolicyActivation"),
    ]
