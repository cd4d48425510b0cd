"""Replace the append-only trigger function with one that honours no session setting.

The previous function honoured a session setting that every connected role can set, so anyone
could TRUNCATE append-only tables. Only the test runner installs such an escape now, in its own
throwaway database (docs/adr/0010).
"""

from django.db import migrations

from audit.dbguard import strict_function


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        strict_function(),
    ]
