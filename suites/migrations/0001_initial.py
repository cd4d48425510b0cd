"""The suite models, taken over from the evidence app with their tables unchanged.

State only: the tables were created by ``evaluations.0002_suites`` and keep their names, so
no row moves. Existing content types are relabelled so admin history follows the models
(docs/adr/0015-suites-app.md).
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("evalsuite", "suiterun", "suiterunresult", "outboxmessage")


def _relabel(apps, schema_editor, old, new):
    types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    taken = set(types.filter(app_label=new, model__in=MOVED).values_list("model", flat=True))
    types.filter(app_label=old, model__in=set(MOVED) - taken).update(app_label=new)


def relabel_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "evaluations", "suites")


def restore_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "suites", "evaluations")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("evaluations", "0006_suites_move_to_their_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="EvalSuite",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=100, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True)),
                ("metrics", models.JSONField(default=dict)),
                ("runner", models.CharField(choices=[("inspect", "Inspect AI task"), ("command", "Command")], max_length=10)),
                ("config", models.JSONField(default=dict)),
                ("schedule", models.CharField(blank=True, max_length=100)),
                ("enabled", models.BooleanField(default=True)),
                ("max_attempts", models.PositiveSmallIntegerField(default=3)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("periodic_task", models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="django_celery_beat.periodictask")),
                ("targets", models.ManyToManyField(blank=True, db_table="evaluations_evalsuite_targets", related_name="suites", to="evaluations.aimodel")),
            ],
            options={
                "db_table": "evaluations_evalsuite",
                "ordering": ["slug"],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("max_attempts__gte", 1), ("max_attempts__lte", 10)), name="suite_max_attempts_range"),
                ],
            },
        ),
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("topic", models.CharField(max_length=100)),
                ("payload", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("published_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "evaluations_outboxmessage",
                "ordering": ["id"],
                "indexes": [
                    models.Index(condition=models.Q(("published_at__isnull", True)), fields=["id"], name="outbox_unpublished"),
                    models.Index(fields=["published_at"], name="outbox_published"),
                ],
            },
        ),
        migrations.CreateModel(
            name="SuiteRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("cancelled", "Cancelled")], default="queued", max_length=10)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("max_attempts", models.PositiveSmallIntegerField(default=3)),
                ("lease_expires_at", models.DateTimeField(blank=True, null=True)),
                ("worker", models.CharField(blank=True, max_length=200)),
                ("progress_done", models.PositiveIntegerField(default=0)),
                ("progress_total", models.PositiveIntegerField(default=0)),
                ("log_excerpt", models.TextField(blank=True)),
                ("log_file", models.CharField(blank=True, max_length=500)),
                ("error", models.TextField(blank=True)),
                ("triggered_by", models.CharField(choices=[("schedule", "Schedule"), ("user", "User"), ("api", "API")], max_length=10)),
                ("scheduled_for", models.DateTimeField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("checkpoint", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="suite_runs", to="evaluations.checkpoint")),
                ("model", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="suite_runs", to="evaluations.aimodel")),
                ("requested_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("suite", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="runs", to="suites.evalsuite")),
            ],
            options={
                "db_table": "evaluations_suiterun",
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["status", "lease_expires_at"], name="suite_run_lease"),
                    models.Index(fields=["suite", "-created_at"], name="suite_run_history"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("suite", "model", "scheduled_for"), name="suite_run_once_per_slot"),
                    models.CheckConstraint(condition=models.Q(("attempts__lte", models.F("max_attempts"))), name="suite_run_attempts_capped"),
                ],
            },
        ),
        migrations.CreateModel(
            name="SuiteRunResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("metric_key", models.CharField(max_length=100)),
                ("result", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="suite_run_link", to="evaluations.evalresult")),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="run_results", to="suites.suiterun")),
            ],
            options={
                "db_table": "evaluations_suiterunresult",
                "constraints": [
                    models.UniqueConstraint(fields=("run", "metric_key"), name="suite_result_once"),
                ],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
        migrations.RunPython(relabel_content_types, restore_content_types),
    ]
