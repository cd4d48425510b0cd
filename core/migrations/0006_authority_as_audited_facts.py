"""Roles become a fixed code on the user (no longer an editable group name); one sign-off title
per person; pending title grants (two holders approve in turn).

Each user's role is copied from their single role group. A user holding two titles cannot be
migrated silently: the migration stops and names them (revoke one title first).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


ROLES = ["safety", "leadership", "auditor", "admin", "pipeline"]


def copy_roles(apps, schema_editor):
    User = apps.get_model("core", "User")
    for user in User.objects.all():
        names = sorted(n for n in user.groups.values_list("name", flat=True) if n in ROLES)
        if len(names) == 1:
            User.objects.filter(pk=user.pk).update(role=names[0])


def refuse_two_titles(apps, schema_editor):
    from django.db.models import Count

    SignoffTitle = apps.get_model("core", "SignoffTitle")
    twice = (
        SignoffTitle.objects.values("user__username")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("user__username", flat=True)
    )
    if twice:
        raise RuntimeError(
            "One person holds one sign-off title; revoke all but one title of "
            + ", ".join(sorted(twice))
            + " (manage.py account revoke-title) and migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("core", "0005_outbox"),
    ]

    operations = [
        migrations.CreateModel(
            name="TitleGrant",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=32)),
                ("proposed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting for a second title holder"),
                            ("granted", "Granted"),
                            ("refused", "Refused"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
            ],
        ),
        migrations.RemoveConstraint(
            model_name="signofftitle",
            name="signoff_title_once_per_user",
        ),
        migrations.AddField(
            model_name="user",
            name="role",
            field=models.CharField(
                blank=True,
                choices=[
                    ("safety", "Safety team"),
                    ("leadership", "Leadership"),
                    ("auditor", "Auditor"),
                    ("admin", "Administrator"),
                    ("pipeline", "Training pipeline"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.RunPython(copy_roles, migrations.RunPython.noop),
        migrations.RunPython(refuse_two_titles, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="signofftitle",
            constraint=models.UniqueConstraint(
                fields=("user",), name="signoff_title_one_per_person"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("role__in", ["", "safety", "leadership", "auditor", "admin", "pipeline"])
                ),
                name="user_role_is_a_known_code",
            ),
        ),
        migrations.AddField(
            model_name="titlegrant",
            name="decided_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="titlegrant",
            name="proposed_by",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="titlegrant",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="title_grants",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="titlegrant",
            constraint=models.CheckConstraint(
                condition=models.Q(("proposed_by", models.F("user")), _negated=True),
                name="title_grant_not_proposed_by_recipient",
            ),
        ),
        migrations.AddConstraint(
            model_name="titlegrant",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("decided_by", models.F("user")), _negated=True),
                    models.Q(("decided_by", models.F("proposed_by")), _negated=True),
                ),
                name="title_grant_second_approver_is_a_third_person",
            ),
        ),
        migrations.AddConstraint(
            model_name="titlegrant",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")),
                fields=("user",),
                name="title_grant_one_pending_per_person",
            ),
        ),
    ]
