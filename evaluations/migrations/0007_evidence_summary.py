"""The evidence summary (``evaluations.summary``), filled for the results already stored.

The fill reads the active policy's lens from the historical models; without an active policy
nothing is filled (the gate reads the results themselves until the first write or activation).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, Max, OuterRef


def fill(apps, schema_editor):
    from evaluations.summary import ROW_FIELDS, Lens, fold

    PolicyVersion = apps.get_model("policies", "PolicyVersion")
    Indicator = apps.get_model("policies", "Indicator")
    EvalResult = apps.get_model("evaluations", "EvalResult")
    Summary = apps.get_model("evaluations", "EvidenceSummary")
    State = apps.get_model("evaluations", "EvidenceSummaryState")
    version = PolicyVersion.objects.filter(status="active").first()
    if version is None:
        return
    lens = Lens.build(
        version.uncertainty_z,
        Indicator.objects.filter(version=version).values_list(
            "metric__key",
            "metric__higher_is_more_capable",
            "metric__min_samples",
            "warning",
            "critical",
        ),
    )
    later = EvalResult.objects.filter(supersedes=OuterRef("pk"))
    current = EvalResult.objects.filter(~Exists(later))
    for model_id in EvalResult.objects.values_list("model_id", flat=True).distinct():
        groups = fold(current.filter(model_id=model_id).values(*ROW_FIELDS), lens)
        Summary.objects.bulk_create(
            Summary(
                model_id=m,
                checkpoint_id=c,
                metric_key=k,
                results=g.results,
                strong=g.strong,
                best_strong_id=g.best_strong[1] if g.best_strong else None,
                best_strong_capability=g.best_strong[0] if g.best_strong else None,
                best_weak_id=g.best_weak[1] if g.best_weak else None,
                best_weak_capability=g.best_weak[0] if g.best_weak else None,
                latest_strong_at=g.latest_strong_at,
                weak_short=g.weak_short,
            )
            for (m, c, k), g in groups.items()
        )
        top = EvalResult.objects.filter(model_id=model_id).aggregate(top=Max("pk"))["top"]
        State.objects.create(model_id=model_id, lens=lens.digest, watermark=top or 0)


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0006_suites_move_to_their_app"),
        ("policies", "0007_self_assessment"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EvidenceSummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric_key", models.CharField(max_length=100)),
                ("results", models.PositiveIntegerField(default=0)),
                ("strong", models.PositiveIntegerField(default=0)),
                ("best_strong_capability", models.FloatField(blank=True, null=True)),
                ("best_weak_capability", models.FloatField(blank=True, null=True)),
                ("latest_strong_at", models.DateTimeField(blank=True, null=True)),
                ("weak_short", models.JSONField(blank=True, default=dict)),
            ],
        ),
        migrations.CreateModel(
            name="EvidenceSummaryState",
            fields=[
                (
                    "model",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="evaluations.aimodel",
                    ),
                ),
                ("lens", models.CharField(blank=True, default="", max_length=64)),
                ("watermark", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name="evalresult",
            index=models.Index(fields=["model", "id"], name="result_model_id"),
        ),
        migrations.AddField(
            model_name="evidencesummary",
            name="best_strong",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="evaluations.evalresult",
            ),
        ),
        migrations.AddField(
            model_name="evidencesummary",
            name="best_weak",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="evaluations.evalresult",
            ),
        ),
        migrations.AddField(
            model_name="evidencesummary",
            name="checkpoint",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="evaluations.checkpoint",
            ),
        ),
        migrations.AddField(
            model_name="evidencesummary",
            name="model",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="evaluations.aimodel",
            ),
        ),
        migrations.AddConstraint(
            model_name="evidencesummary",
            constraint=models.UniqueConstraint(
                fields=("model", "checkpoint", "metric_key"), name="summary_per_group"
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
