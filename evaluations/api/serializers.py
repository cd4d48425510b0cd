"""API representations of the evidence. Input is checked by the services (one validator for
the API and the forms); the input serializers here describe request bodies for the schema."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework import serializers

from core.models import User
from evaluations.importers import accepted_files
from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
    ImportRecord,
    MetricMapping,
    PendingCorrection,
)
from evaluations.services import CORRECTION_FIELDS, RESULT_FIELDS
from rsp_portal import parsers


class AIModelSerializer(serializers.ModelSerializer[AIModel]):
    # Any: named like Field.parent (DRF pops declared fields off the class)
    parent: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    lineage = serializers.ChoiceField(
        choices=AIModel.Lineage.choices,
        read_only=True,
        allow_null=True,
        help_text="the parent link: `claimed` at registration, `confirmed` by a second person "
        "(safety or leadership); null without a parent",
    )
    lineage_confirmed_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AIModel
        fields = [
            "slug",
            "name",
            "family",
            "parent",
            "lineage",
            "lineage_confirmed_at",
            "lineage_confirmed_by",
            "owner_team",
            "created_at",
            "created_by",
        ]


class AIModelInputSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200, required=False)
    family = serializers.CharField(max_length=100, required=False)
    parent: Any = serializers.SlugField(  # a field named like Field.parent; DRF pops it
        required=False, help_text="slug of the parent model (lineage)"
    )
    owner_team = serializers.CharField(max_length=100, required=False)


class LineageConfirmSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=2000, help_text="how you know the model derives from its parent"
    )


class DetectInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="the file, or its first 65536 bytes (enough to tell its format)"
    )
    size = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="the whole file's size in bytes, when only its head is sent",
    )


class DetectOutputSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(
        choices=["results", "log"],
        help_text="`results`: post its results to /results/bulk/; `log`: import it at "
        "/results/import/",
    )
    format = serializers.CharField(allow_null=True, help_text="the import format, for a log")
    label: Any = serializers.CharField(allow_null=True)  # named like Field.label; DRF pops it


class TriggersSerializer(serializers.Serializer[Any]):
    latest_checkpoint = serializers.CharField(allow_null=True)
    last_fully_evaluated_checkpoint = serializers.CharField(allow_null=True)
    evaluated_at = serializers.DateTimeField(allow_null=True)
    compute_multiple = serializers.FloatField(allow_null=True)
    months_since = serializers.IntegerField(allow_null=True)
    policy_compute_multiple = serializers.FloatField(allow_null=True)
    policy_months = serializers.IntegerField(allow_null=True)
    due_compute = serializers.BooleanField()
    due_time = serializers.BooleanField()
    never_evaluated = serializers.BooleanField()
    evaluation_due = serializers.BooleanField()


class AIModelDetailSerializer(AIModelSerializer):
    triggers = serializers.SerializerMethodField()

    class Meta(AIModelSerializer.Meta):
        fields = [*AIModelSerializer.Meta.fields, "triggers"]

    def get_triggers(self, obj: AIModel) -> dict[str, Any]:
        t = self.context["triggers"]
        return {
            "latest_checkpoint": t.latest_checkpoint.name if t.latest_checkpoint else None,
            "last_fully_evaluated_checkpoint": t.last_full.name if t.last_full else None,
            "evaluated_at": t.evaluated_at,
            "compute_multiple": t.compute_multiple,
            "months_since": t.months_since,
            "policy_compute_multiple": t.policy_multiple,
            "policy_months": t.policy_months,
            "due_compute": t.due_compute,
            "due_time": t.due_time,
            "never_evaluated": t.never_evaluated,
            "evaluation_due": t.evaluation_due,
        }


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    reported_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Checkpoint
        fields = [
            "model",
            "name",
            "effective_compute",
            "step",
            "stage",
            "metadata",
            "reported_at",
            "reported_by",
        ]


class CheckpointInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    effective_compute = serializers.FloatField(min_value=0, help_text="FLOP, e.g. 3e25")
    step = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    stage = serializers.ChoiceField(choices=Checkpoint.Stage.choices, required=False)
    metadata = serializers.DictField(required=False)


class EvalResultSerializer(serializers.ModelSerializer[EvalResult]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    checkpoint: serializers.SlugRelatedField[Checkpoint] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    metric = serializers.CharField(source="metric_key", read_only=True)
    submitted_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    current = serializers.SerializerMethodField()

    class Meta:
        model = EvalResult
        fields = [
            "id",
            "model",
            "checkpoint",
            "metric",
            "value",
            "stderr",
            "stderr_derived",
            "n_samples",
            "elicitation",
            "mitigation",
            "source",
            "external_body",
            "provenance",
            "submitted_by",
            "notes",
            "evidence_url",
            "supersedes",
            "correction_reason",
            "evaluated_at",
            "partial",
            "recorded_at",
            "current",
        ]

    def get_current(self, obj: EvalResult) -> bool:
        """False once a correction supersedes the result (annotated by the list query)."""
        return bool(getattr(obj, "is_current", True))


# The result list's rows without model instances or per-field serializer calls: the same
# dicts as ``EvalResultSerializer(many=True).data`` (a test compares them), from one
# ``values()`` query. The OpenAPI schema still comes from EvalResultSerializer.
RESULT_VALUES = (
    "id",
    "model__slug",
    "checkpoint__name",
    "metric_key",
    "value",
    "stderr",
    "stderr_derived",
    "n_samples",
    "elicitation",
    "mitigation",
    "source",
    "external_body",
    "provenance",
    "submitted_by__username",
    "notes",
    "evidence_url",
    "supersedes",
    "correction_reason",
    "evaluated_at",
    "partial",
    "recorded_at",
    "is_current",
)
_DATETIME = serializers.DateTimeField()


def _iso_in(tz: tzinfo) -> Callable[[datetime], str]:
    """``DateTimeField().to_representation`` (ISO 8601 in ``tz``, ``Z`` for UTC) for the aware
    datetimes the database returns, with the time zone looked up once per list."""

    def when(value: datetime) -> str:
        if value.tzinfo is None:
            return str(_DATETIME.to_representation(value))
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return when


def result_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, object]]:
    """The representation of rows read with ``values(*RESULT_VALUES)``."""
    when = _iso_in(timezone.get_current_timezone())
    return [
        {
            "id": r["id"],
            "model": r["model__slug"],
            "checkpoint": r["checkpoint__name"],
            "metric": r["metric_key"],
            "value": float(r["value"]),
            "stderr": None if r["stderr"] is None else float(r["stderr"]),
            "stderr_derived": bool(r["stderr_derived"]),
            "n_samples": None if r["n_samples"] is None else int(r["n_samples"]),
            "elicitation": r["elicitation"],
            "mitigation": r["mitigation"],
            "source": r["source"],
            "external_body": r["external_body"],
            "provenance": r["provenance"],
            "submitted_by": r["submitted_by__username"],
            "notes": r["notes"],
            "evidence_url": r["evidence_url"],
            "supersedes": r["supersedes"],
            "correction_reason": r["correction_reason"],
            "evaluated_at": None if r["evaluated_at"] is None else when(r["evaluated_at"]),
            "partial": bool(r["partial"]),
            "recorded_at": None if r["recorded_at"] is None else when(r["recorded_at"]),
            "current": bool(r["is_current"]),
        }
        for r in rows
    ]


def result_of(result: EvalResult) -> dict[str, object]:
    """``EvalResultSerializer(result).data`` without building the serializer's fields (a test
    compares them): the representation of one stored result, through :func:`result_rows`.
    Its model, checkpoint and submitter are read as the serializer reads them."""
    submitter = result.submitted_by
    (row,) = result_rows(
        [
            {
                "id": result.pk,
                "model__slug": result.model.slug,
                "checkpoint__name": result.checkpoint.name,
                "metric_key": result.metric_key,
                "value": result.value,
                "stderr": result.stderr,
                "stderr_derived": result.stderr_derived,
                "n_samples": result.n_samples,
                "elicitation": result.elicitation,
                "mitigation": result.mitigation,
                "source": result.source,
                "external_body": result.external_body,
                "provenance": result.provenance,
                "submitted_by__username": submitter.username if submitter else None,
                "notes": result.notes,
                "evidence_url": result.evidence_url,
                "supersedes": result.supersedes_id,
                "correction_reason": result.correction_reason,
                "evaluated_at": result.evaluated_at,
                "partial": result.partial,
                "recorded_at": result.recorded_at,
                "is_current": getattr(result, "is_current", True),
            }
        ]
    )
    return row


class ElicitationSerializer(serializers.Serializer[Any]):
    scaffold = serializers.CharField(required=False)
    attempts = serializers.IntegerField(min_value=1, required=False)
    pass_at_k = serializers.IntegerField(min_value=1, required=False)
    tools = serializers.ListField(child=serializers.CharField(), required=False)
    safety_training_removed = serializers.BooleanField(required=False)
    fine_tuned = serializers.BooleanField(required=False)
    inference_budget = serializers.CharField(required=False, help_text="a number or a string")


#: How the schema describes each field of a result, given whether it is required. Which fields
#: a result takes is ``services.RESULT_FIELDS`` (and ``CORRECTION_FIELDS``), the one list the
#: services validate against: the input serializers below are built from it.
_RESULT_FIELD_SCHEMA: dict[str, Callable[[bool], object]] = {
    "model": lambda required: serializers.SlugField(required=required, help_text="model slug"),
    "checkpoint": lambda required: serializers.CharField(
        required=required, help_text="checkpoint name within the model"
    ),
    "metric": lambda required: serializers.CharField(
        required=required, help_text="metric key of the active policy"
    ),
    "value": lambda required: serializers.FloatField(
        required=required, help_text="a finite JSON number within the metric's range"
    ),
    "stderr": lambda required: serializers.FloatField(
        required=required,
        allow_null=True,
        min_value=0,
        help_text="standard error in the metric's unit; when absent for a proportion (range "
        "0..1) the binomial one is derived from n_samples and flagged stderr_derived",
    ),
    "n_samples": lambda required: serializers.IntegerField(
        required=required, allow_null=True, min_value=1
    ),
    "elicitation": lambda required: ElicitationSerializer(required=required),
    "mitigation": lambda required: serializers.ChoiceField(
        choices=EvalResult.Mitigation.choices, required=required
    ),
    "notes": lambda required: serializers.CharField(required=required),
    "evidence_url": lambda required: serializers.URLField(required=required),
    "provenance": lambda required: serializers.DictField(required=required),
    "evaluated_at": lambda required: serializers.DateTimeField(
        required=required, help_text="when the evaluation ran (default: now); freshness uses it"
    ),
    "partial": lambda required: serializers.BooleanField(
        required=required,
        help_text="true for a run with a sample limit: it can show a crossing, never safety",
    ),
    "external_body": lambda required: serializers.CharField(
        required=required,
        max_length=200,
        help_text="the outside body that ran the evaluation (e.g. a government institute's "
        "pre-deployment tests): the result's source is then 'external'",
    ),
}
_REQUIRED_RESULT_FIELDS = frozenset({"model", "checkpoint", "metric", "value"})


def input_serializer(
    name: str, fields: frozenset[str], required: frozenset[str], **extra: object
) -> type[serializers.Serializer[object]]:
    """A schema-only input serializer with exactly ``fields`` (plus ``extra``); a field the
    services accept but the schema does not describe fails at import, naming it."""
    undescribed = sorted(fields - _RESULT_FIELD_SCHEMA.keys())
    if undescribed:
        raise ImproperlyConfigured(f"{name}: no schema for the fields {undescribed}")
    declared = {key: _RESULT_FIELD_SCHEMA[key](key in required) for key in sorted(fields)}
    return type(name, (serializers.Serializer,), {**extra, **declared})


EvalResultInputSerializer = input_serializer(
    "EvalResultInputSerializer", RESULT_FIELDS, _REQUIRED_RESULT_FIELDS
)


class BulkInputSerializer(serializers.Serializer[Any]):
    # As the service checks it (evaluations.services.MAX_BULK_RESULTS): 1 to 10,000 results.
    results = serializers.ListField(
        child=EvalResultInputSerializer(), min_length=1, max_length=10_000
    )


class BulkOutputSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    results = EvalResultSerializer(many=True)


CorrectionInputSerializer = input_serializer(
    "CorrectionInputSerializer",
    CORRECTION_FIELDS,
    frozenset(),
    correction_reason=serializers.CharField(),
)


class ImportRecordSerializer(serializers.ModelSerializer[ImportRecord]):
    model: serializers.SlugRelatedField[AIModel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    checkpoint: serializers.SlugRelatedField[Checkpoint] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    imported_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ImportRecord
        fields = [
            "id",
            "file_sha256",
            "original_name",
            "format",
            "eval_id",
            "run_key",
            "status",
            "error",
            "model",
            "checkpoint",
            "results_created",
            "imported_by",
            "imported_at",
        ]


class ImportInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text=f"One of: {accepted_files()}")
    model = serializers.SlugField()
    checkpoint = serializers.CharField()
    mapping = serializers.JSONField(
        required=False,
        help_text='{"<source name>": "<metric key>"}, remembered for the same task; '
        '"" opts a source out for this import',
    )
    confirm_direction = serializers.BooleanField(
        required=False,
        help_text="import sources whose higher_is_better contradicts the metric's direction",
    )
    preview = serializers.BooleanField(required=False, help_text="parse only, write nothing")


class MappingField(serializers.Field):  # type: ignore[type-arg]
    """A mapping given as JSON text (multipart) or an object; bounded like any JSON body."""

    def to_internal_value(self, data: Any) -> Any:
        if data in (None, ""):
            return None
        try:
            if isinstance(data, str):
                return parsers.loads(data, field=self.field_name or "")
            parsers.check_json(data, self.field_name or "")
        except serializers.ValidationError as exc:
            # Inside a serializer the error belongs to this field: "mapping.a/b: ...".
            detail = exc.detail if isinstance(exc.detail, dict) else {"": exc.detail}
            raise serializers.ValidationError(
                [
                    f"{path}: {message}" if path != self.field_name else str(message)
                    for path, messages in detail.items()
                    for message in (messages if isinstance(messages, list) else [messages])
                ]
            ) from None
        return data


class ImportFieldsSerializer(serializers.Serializer[Any]):
    """The text fields of an import form, checked before the file is read; the importer checks
    what they name (the model, its checkpoint, the mapping's metric keys)."""

    model = serializers.CharField(max_length=100)
    checkpoint = serializers.CharField(max_length=200)
    mapping = MappingField(required=False)


class PreviewRowSerializer(serializers.Serializer[Any]):
    source_name = serializers.CharField()
    task = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    stderr = serializers.FloatField(allow_null=True)
    n_samples = serializers.IntegerField(allow_null=True)
    metric_key = serializers.CharField(allow_null=True)
    origin = serializers.CharField(help_text='"request", "remembered", "opted out" or ""')
    remembered_by = serializers.CharField(allow_null=True)
    remembered_at = serializers.DateTimeField(allow_null=True)
    higher_is_better = serializers.BooleanField(allow_null=True)
    direction_conflict = serializers.BooleanField()
    other_tasks = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="[{task, metric}]: this source's mappings for other tasks, never applied here",
    )
    error = serializers.CharField()


class ImportOutputSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    already_imported = serializers.BooleanField()
    preview = serializers.BooleanField()
    status = serializers.CharField(help_text="the log's status: success, error, cancelled...")
    format = serializers.CharField(allow_null=True)
    task = serializers.CharField(allow_null=True)
    file_sha256 = serializers.CharField()
    eval_id = serializers.CharField(allow_null=True)
    run_key = serializers.CharField(allow_null=True)
    evaluated_at = serializers.DateTimeField(allow_null=True, help_text="when the evaluation ran")
    partial: Any = serializers.BooleanField(help_text="run with a sample limit")  # DRF pops it
    partial_reasons = serializers.ListField(child=serializers.CharField())
    record = ImportRecordSerializer(allow_null=True)
    results = EvalResultSerializer(many=True)
    metrics = PreviewRowSerializer(many=True)
    unmapped = serializers.ListField(child=serializers.CharField())
    mapping = serializers.DictField(child=serializers.CharField())
    errors: Any = serializers.DictField()  # DRF pops declared fields off the class


class MetricMappingSerializer(serializers.ModelSerializer[MetricMapping]):
    metric = serializers.CharField(source="metric_key", read_only=True)
    updated_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = MetricMapping
        fields = ["format", "task", "source_name", "metric", "updated_by", "updated_at"]


class PendingCorrectionSerializer(serializers.ModelSerializer[PendingCorrection]):
    """A correction that lowers a determination and waits for a second person."""

    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    changes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = PendingCorrection
        fields = [
            "id",
            "result",
            "values",
            "reason",
            "changes",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "note",
            "applied",
        ]


class CorrectionRejectSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True)
