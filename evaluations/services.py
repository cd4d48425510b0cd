"""State changes of the evidence: models, checkpoints, results, corrections, imports.

Every write validates all of its input first, then writes in one transaction together with its
audit entries and the ``EVIDENCE_CHANGED`` event (the gate recomputes in its handler), so nothing
partial is ever committed. Validation failures raise :class:`EvidenceError`, whose
``message_dict`` names the offending field (``value``, ``results[3].metric``...); forms and
the API show those messages as they are.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import audit
from core.events import Event, Query, emit
from core.models import User
from evaluations import summary
from evaluations.lookup import Lookup
from evaluations.lowering import lowering_changes
from evaluations.models import (
    AIModel,
    Checkpoint,
    EvalResult,
)
from evaluations.policy import MetricInfo, PolicyView, active_policy_view
from rsp_portal.datetimes import utc_offset_error
from rsp_portal.errors import ConflictError, ServiceError, TooLargeError
from rsp_portal.rows import RowInsert

if TYPE_CHECKING:
    from rsp_portal.types import Actor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceChange:
    """The payload of ``EVIDENCE_CHANGED``: the AI model and what changed its evidence
    (``"result.create #12"``)."""

    model: AIModel
    cause: str
    #: A result write: its gate is recomputed by a worker (see :func:`record_results`), not
    #: in the write. Any other change is recomputed inside the write.
    result_write: bool = False
    #: For a result write: whether it is the first since the model's gate was last asked for
    #: (``EvidenceSummaryState.gate_due`` was clear), so it asks for the recomputation.
    due: bool = False


#: Emitted once per AI model whose evidence changed, with who changed it (the gate
#: recomputes in its handler, or for a result write asks a worker to:
#: ``EvidenceChange.result_write``),
#: inside the writing transaction, where a handler that raises rolls the write back.
EVIDENCE_CHANGED: Event[EvidenceChange] = Event(
    "evidence.changed", "an AI model's evidence changed (results, checkpoints, safeguards)"
)

#: The gate of an AI model as the API answers it (governance answers; ADR 0021).
GATE_OF: Query[AIModel, dict[str, Any]] = Query("gate.of", "the stored gate of an AI model")

#: Results in one bulk request.
MAX_BULK_RESULTS = 10_000

RESULT_FIELDS = frozenset(
    {
        "model",
        "checkpoint",
        "metric",
        "value",
        "stderr",
        "n_samples",
        "elicitation",
        "mitigation",
        "notes",
        "evidence_url",
        "provenance",
        "evaluated_at",
        "partial",
        "external_body",
    }
)
#: A correction may change everything but where the result belongs and where it came from.
CORRECTION_FIELDS = RESULT_FIELDS - {"model", "checkpoint", "provenance", "external_body"}
#: The longest name of an outside body that ran an evaluation.
MAX_BODY_NAME = 200
ELICITATION_FIELDS = {
    "scaffold": "a string",
    "attempts": "a positive integer",
    "pass_at_k": "a positive integer",
    "tools": "a list of strings",
    "safety_training_removed": "true or false",
    "fine_tuned": "true or false",
    "inference_budget": "a number or a string",
}
_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_MAX_TEXT = 10_000
_MAX_JSON_BYTES = 64 * 1024
_MAX_LISTED = 30


class EvidenceError(ServiceError):
    """Refused input; ``message_dict`` maps each offending field to its messages."""


class NoActivePolicyError(ConflictError):
    """Results cannot be checked (or triggers computed) without an active policy."""

    code = "policy_not_active"


def field_error(
    field_name: str, message: str, cls: type[ServiceError] = EvidenceError
) -> ServiceError:
    return cls({field_name: [message]})


def listing(names: Iterable[str]) -> str:
    names = sorted(names)
    if not names:
        return "(none)"
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _evidence_changed(
    models: Iterable[AIModel], cause: str = "evidence.change", actor: Actor = None
) -> None:
    """Emit ``EVIDENCE_CHANGED`` once per touched model, inside the caller's transaction;
    ``cause`` and ``actor`` say what changed the evidence and who, for the gate's record."""
    seen: set[int] = set()
    for model in models:
        if model.pk in seen:
            continue
        seen.add(model.pk)
        emit(EVIDENCE_CHANGED, EvidenceChange(model, cause), actor)


def rebuild_summaries(version: object, actor: Actor = None) -> None:
    """Re-summarise the evidence under the newly active policy (the handler of
    ``policies.services.POLICY_ACTIVATED``, before the gate's)."""
    policy = active_policy_view()
    if policy is not None:
        summary.rebuild_all(summary.lens_of_view(policy))


def _cause(action: str, rows: Sequence[EvalResult | Checkpoint]) -> str:
    ids = ", ".join(f"#{row.pk}" for row in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"{action} {ids}{more}"


def user_of(actor: Actor) -> User | None:
    return actor if isinstance(actor, User) else None


_Row = TypeVar("_Row", AIModel, Checkpoint)


def _create_evidence(
    cls: type[_Row],
    *,
    unique: dict[str, Any],
    conflict: tuple[str, str],
    values: dict[str, Any],
    audited: tuple[str, ...],
    data: dict[str, Any],
    action: tuple[str, str],
    actor: Actor,
    via: str | None,
) -> _Row:
    """Create a model or checkpoint in one transaction: refused with 409 (``conflict`` is the
    field and message) if a row matches ``unique``; audited as ``action`` (its name and the
    row's label) with ``data`` and the ``audited`` fields; then ``EVIDENCE_CHANGED`` is
    emitted for the AI model it belongs to."""
    name, label = action
    fields = {**unique, **values}
    with transaction.atomic():
        if cls._default_manager.filter(**unique).exists():
            raise field_error(*conflict, ConflictError)
        row = cls._default_manager.create(**fields)
        audit.record(name, row, {**data, **{f: fields[f] for f in audited}}, actor, via=via)
        ai_model = row if isinstance(row, AIModel) else row.model
        _evidence_changed([ai_model], f"{name} {label}", actor)
    return row


# --- Plain value checks --------------------------------------------------------------------


def finite_number(raw: object, field_name: str, *, required: bool = True) -> float | None:
    """A JSON number that is finite; strings, booleans, NaN and infinities are refused."""
    if raw is None:
        if required:
            raise field_error(field_name, "This field is required.")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise field_error(field_name, f"Must be a number, not {type(raw).__name__} {raw!r:.40}.")
    try:
        value = float(raw)
    except OverflowError:
        raise field_error(field_name, "Must be a finite number (this one is too large).") from None
    if not math.isfinite(value):
        raise field_error(field_name, f"Must be a finite number, not {value!r}.")
    return value


#: The largest value of a database ``integer`` and ``bigint`` column.
MAX_INT = 2**31 - 1
MAX_BIGINT = 2**63 - 1


def _integer(
    raw: object, field_name: str, *, minimum: int = 0, maximum: int = MAX_BIGINT
) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise field_error(field_name, f"Must be a whole number, not {raw!r:.40}.")
    if raw < minimum:
        raise field_error(field_name, f"Must be at least {minimum}.")
    if raw > maximum:
        raise field_error(field_name, f"Must be at most {maximum}.")
    return raw


def _text(raw: object, field_name: str, *, max_length: int = _MAX_TEXT) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise field_error(field_name, "Must be a string.")
    if len(raw) > max_length:
        raise field_error(field_name, f"Must be at most {max_length} characters.")
    return raw


def _json_object(raw: object, field_name: str) -> dict[str, Any]:
    """A JSON object of finite numbers only, under a size limit."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise field_error(field_name, "Must be a JSON object.")
    try:
        encoded = json.dumps(raw, allow_nan=False)
    except (ValueError, TypeError):
        raise field_error(field_name, "Must not contain NaN or infinite numbers.") from None
    if len(encoded) > _MAX_JSON_BYTES:
        raise field_error(field_name, f"Is larger than {_MAX_JSON_BYTES // 1024} KiB.")
    return raw


def _elicitation(raw: object, field_name: str) -> dict[str, Any]:
    data = _json_object(raw, field_name)
    unknown = sorted(set(data) - set(ELICITATION_FIELDS))
    if unknown:
        raise field_error(
            field_name,
            f"Unknown key(s) {', '.join(unknown)}; allowed: {', '.join(ELICITATION_FIELDS)}.",
        )
    for key, value in data.items():
        path = f"{field_name}.{key}"
        if value is None:
            continue
        if key == "scaffold":
            _text(value, path, max_length=200)
        elif key in ("attempts", "pass_at_k"):
            _integer(value, path, minimum=1)
        elif key == "tools":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise field_error(path, "Must be a list of strings.")
        elif key in ("safety_training_removed", "fine_tuned"):
            if not isinstance(value, bool):
                raise field_error(path, "Must be true or false.")
        elif key == "inference_budget" and not isinstance(value, str):
            finite_number(value, path)
    return data


#: How far in the future an ``evaluated_at`` may lie (clock skew between a client and us).
_FUTURE_SKEW = timedelta(minutes=5)


def evaluated_at(raw: object, field_name: str, *, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 date-time with a time zone, not in the future; ``None`` when absent."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str) and len(raw) <= 64:
        try:
            parsed = parse_datetime(raw.strip()) if raw.strip() else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise field_error(
                field_name, "Must be an ISO 8601 date-time, e.g. 2026-05-01T12:00:00Z."
            )
        value = parsed
    else:
        raise field_error(field_name, "Must be an ISO 8601 date-time string.")
    if value.tzinfo is None:
        raise field_error(field_name, "Must include a time zone (e.g. Z or +00:00).")
    offset_error = utc_offset_error(value)
    if offset_error:
        raise field_error(field_name, offset_error)
    if value > (now or timezone.now()) + _FUTURE_SKEW:
        raise field_error(field_name, "Is in the future.")
    return value


def _boolean(raw: object, field_name: str) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise field_error(field_name, "Must be true or false.")
    return raw


def _url(raw: object, field_name: str) -> str:
    text = _text(raw, field_name, max_length=500)
    if text:
        try:
            URLValidator(schemes=["http", "https"])(text)
        except ValidationError:
            raise field_error(field_name, "Must be an http(s) URL.") from None
    return text


def is_proportion(metric: MetricInfo) -> bool:
    """A metric whose range is exactly 0..1 is a proportion (ADR 0026): a share of samples
    passed, so a missing standard error can be derived from the sample count."""
    return metric.min == 0 and metric.max == 1


def binomial_stderr(value: float, n_samples: int) -> float:
    """The binomial standard error of a proportion ``value`` measured on ``n_samples``."""
    return math.sqrt(max(value * (1 - value), 0.0) / n_samples)


def _metric(policy: PolicyView, raw: object, field_name: str) -> MetricInfo:
    if not isinstance(raw, str) or not raw:
        raise field_error(field_name, f"Required: a metric key, one of {policy.valid_keys()}.")
    info = policy.metrics.get(raw)
    if info is None:
        raise field_error(
            field_name, f"Unknown metric {raw!r:.100}. Valid keys: {policy.valid_keys()}."
        )
    return info


def require_policy() -> PolicyView:
    policy = active_policy_view()
    if policy is None:
        raise field_error(
            "metric",
            "No policy version is active, so results cannot be checked; activate a policy first.",
            NoActivePolicyError,
        )
    return policy


# --- Models and checkpoints ----------------------------------------------------------------


def create_model(
    *,
    slug: object,
    name: object,
    family: object = "",
    parent: object = None,
    owner_team: object = "",
    actor: Actor = None,
    via: str | None = None,
) -> AIModel:
    """Register an AI model; ``parent`` is a model or the slug of one (lineage)."""
    if not isinstance(slug, str) or not slug:
        raise field_error("slug", "Required: letters, digits, hyphens and underscores.")
    if len(slug) > 100 or not _SLUG_RE.match(slug):
        raise field_error("slug", "Use at most 100 letters, digits, hyphens and underscores.")
    name_text = _text(name, "name", max_length=200) or slug
    family_text = _text(family, "family", max_length=100)
    team = _text(owner_team, "owner_team", max_length=100)
    parent_model = None
    if parent not in (None, ""):
        if isinstance(parent, AIModel):
            parent_model = parent
        elif isinstance(parent, str):
            parent_model = AIModel.objects.filter(slug=parent).first()
            if parent_model is None:
                raise field_error("parent", f"Unknown model {parent!r:.100}.")
        else:
            raise field_error("parent", "Must be a model slug.")
    return _create_evidence(
        AIModel,
        unique={"slug": slug},
        conflict=("slug", f"A model with slug {slug!r} already exists."),
        values={
            "name": name_text,
            "family": family_text,
            "parent": parent_model,
            "owner_team": team,
            "created_by": user_of(actor),
        },
        audited=("name", "family", "owner_team"),
        data={"model": slug, "parent": parent_model.slug if parent_model else None},
        action=("model.create", slug),
        actor=actor,
        via=via,
    )


def report_checkpoint(
    model: AIModel,
    *,
    name: object,
    effective_compute: object,
    step: object = None,
    stage: object = Checkpoint.Stage.PRETRAINING,
    metadata: object = None,
    actor: Actor = None,
    via: str | None = None,
) -> Checkpoint:
    """Record a checkpoint of ``model`` with its effective compute in FLOP (append-only)."""
    if not isinstance(name, str) or not name.strip():
        raise field_error("name", "Required: the checkpoint's name, unique within the model.")
    if len(name) > 200:
        raise field_error("name", "Must be at most 200 characters.")
    compute = finite_number(effective_compute, "effective_compute")
    assert compute is not None
    if compute < 0:
        raise field_error("effective_compute", "Must be zero or more (FLOP).")
    step_value = _integer(step, "step")
    stage_value = stage or Checkpoint.Stage.PRETRAINING
    if stage_value not in Checkpoint.Stage.values:
        raise field_error("stage", f"Must be one of {', '.join(Checkpoint.Stage.values)}.")
    meta = _json_object(metadata, "metadata")
    return _create_evidence(
        Checkpoint,
        unique={"model": model, "name": name},
        conflict=("name", f"Model {model.slug} already has a checkpoint named {name!r}."),
        values={
            "effective_compute": compute,
            "step": step_value,
            "stage": stage_value,
            "metadata": meta,
            "reported_by": user_of(actor),
        },
        audited=("name", "effective_compute", "step", "stage"),
        data={"model": model.slug},
        action=("checkpoint.report", name),
        actor=actor,
        via=via,
    )


# --- Results -------------------------------------------------------------------------------


def validate_result(
    item: object,
    policy: PolicyView,
    lookup: Lookup,
    *,
    prefix: str = "",
    allowed: frozenset[str] = RESULT_FIELDS,
) -> dict[str, Any]:
    """Check one result given by natural keys; returns the EvalResult field values."""
    if not isinstance(item, Mapping):
        raise field_error(prefix.rstrip(".") or "non_field_errors", "Must be a JSON object.")
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise field_error(
            f"{prefix}{unknown[0]}", f"Unknown field; allowed: {', '.join(sorted(allowed))}."
        )
    slug = item.get("model")
    model = lookup.models.get(slug) if isinstance(slug, str) else None
    if model is None:
        raise field_error(f"{prefix}model", f"Unknown model {slug!r:.100}.")
    name = item.get("checkpoint")
    checkpoint = lookup.checkpoints.get((model.pk, name)) if isinstance(name, str) else None
    if checkpoint is None:
        owners = lookup.owners(name) if isinstance(name, str) else []
        if owners:
            raise field_error(
                f"{prefix}checkpoint",
                f"Checkpoint {name!r:.100} belongs to model {listing(owners)}, not {model.slug}.",
            )
        raise field_error(
            f"{prefix}checkpoint", f"Model {model.slug} has no checkpoint {name!r:.100}."
        )
    metric = _metric(policy, item.get("metric"), f"{prefix}metric")
    value = finite_number(item.get("value"), f"{prefix}value")
    assert value is not None
    if not metric.min <= value <= metric.max:
        raise field_error(
            f"{prefix}value",
            f"{value!r} is outside the range of {metric.key}: [{metric.min!r}, {metric.max!r}].",
        )
    stderr = finite_number(item.get("stderr"), f"{prefix}stderr", required=False)
    if stderr is not None and stderr < 0:
        raise field_error(f"{prefix}stderr", "Must be zero or more.")
    if stderr is not None and stderr > metric.max - metric.min:
        raise field_error(
            f"{prefix}stderr",
            f"{stderr!r} is larger than the whole range of {metric.key} "
            f"({metric.max - metric.min!r}); give the standard error in the metric's unit.",
        )
    mitigation = item.get("mitigation") or EvalResult.Mitigation.PRE
    if mitigation not in EvalResult.Mitigation.values:
        raise field_error(f"{prefix}mitigation", "Must be 'pre' or 'post'.")
    n_samples = _integer(item.get("n_samples"), f"{prefix}n_samples", minimum=1, maximum=MAX_INT)
    derived = stderr is None and n_samples is not None and is_proportion(metric)
    if derived:
        assert n_samples is not None
        stderr = binomial_stderr(value, n_samples)
    return {
        "model": model,
        "checkpoint": checkpoint,
        "metric_key": metric.key,
        "value": value,
        "stderr": stderr,
        "stderr_derived": derived,
        "n_samples": n_samples,
        "elicitation": _elicitation(item.get("elicitation"), f"{prefix}elicitation"),
        "mitigation": mitigation,
        "notes": _text(item.get("notes"), f"{prefix}notes"),
        "evidence_url": _url(item.get("evidence_url"), f"{prefix}evidence_url"),
        "provenance": _json_object(item.get("provenance"), f"{prefix}provenance"),
        "evaluated_at": evaluated_at(item.get("evaluated_at"), f"{prefix}evaluated_at")
        or timezone.now(),
        "partial": _boolean(item.get("partial"), f"{prefix}partial"),
        "external_body": _external_body(item.get("external_body"), f"{prefix}external_body"),
    }


def _external_body(raw: object, field: str) -> str:
    """The outside body that ran the evaluation (e.g. a government institute), or ""."""
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw.strip()) > MAX_BODY_NAME or "\x00" in raw:
        raise field_error(field, f"The name of the outside body: text of at most {MAX_BODY_NAME}.")
    return raw.strip()


def result_source(fields: Mapping[str, object], channel: str) -> str:
    """Where a result came from: ``external`` when an outside body ran it (whatever channel
    brought it in), else the channel (browser, API, import, suite)."""
    return EvalResult.Source.EXTERNAL if fields.get("external_body") else channel


def result_audit_data(result: EvalResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": result.model.slug,
        "checkpoint": result.checkpoint.name,
        "metric": result.metric_key,
        "value": result.value,
        "stderr": result.stderr,
        "stderr_derived": result.stderr_derived,
        "n_samples": result.n_samples,
        "mitigation": result.mitigation,
        "source": result.source,
        "evaluated_at": result.evaluated_at.isoformat(),
        "partial": result.partial,
    }
    if result.external_body:
        data["external_body"] = result.external_body
    if result.supersedes_id is not None:
        data["supersedes"] = result.supersedes_id
        data["reason"] = result.correction_reason
    for key in ("eval_id", "file_sha256", "import_id", "suite_run_id"):
        if key in result.provenance:
            data[key] = result.provenance[key]
    return data


def record_results(
    items: Sequence[object],
    actor: Actor,
    source: str,
    *,
    via: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    indexed: bool = False,
    policy: PolicyView | None = None,
) -> list[EvalResult]:
    """Validate every result, then store all of them in one transaction (or none).

    Items name their references by natural key (``model`` slug, ``checkpoint`` name,
    ``metric`` key). ``provenance`` is merged under each item's own. With ``indexed`` the
    error fields carry the item's position: ``results[3].value``. ``policy``: the active
    policy as the caller read it (with its token, ADR 0056); read here when not given.
    """
    if source not in EvalResult.Source.values:
        raise ValueError(f"unknown source {source!r}")
    if len(items) > MAX_BULK_RESULTS:
        raise field_error(
            "results", f"At most {MAX_BULK_RESULTS} results per request.", TooLargeError
        )
    if not items:
        raise field_error("results", "No results given.")
    policy = policy or require_policy()
    lookup = Lookup.load(items)
    rows = []
    for index, item in enumerate(items):
        prefix = f"results[{index}]." if indexed else ""
        values = validate_result(item, policy, lookup, prefix=prefix)
        values["provenance"] = {**dict(provenance or {}), **values["provenance"]}
        rows.append(
            EvalResult(**values, source=result_source(values, source), submitted_by=user_of(actor))
        )
    # The write: the results and their audit entries, under the summary locks of the models
    # and their descendants, with one more owed write counted on each. The summaries and the
    # gates are brought up to date by a worker once per burst of writes (ADR 0052, ADR 0055):
    # the write that finds a model's gate not yet asked for asks for it, in this transaction
    # (an outbox message). Until then the reader ranks the rows above a summary's watermark,
    # and a model's gate is behind its count, which no reader serves (it recomputes); so
    # neither a failure nor a crash can leave a verdict that ignores these results.
    written = sorted({row.model_id for row in rows})
    # No savepoint inside a caller's transaction (the Idempotency-Key's): a failure here
    # rolls the caller's back too, which is what every caller wants (nothing half-written).
    with transaction.atomic(savepoint=False), audit.batch():
        # The summary states first, so no other writer's rows can fall below a watermark; the
        # claim's statement carries the INSERT where it can (ADR 0058).
        carried = _RESULTS.carried(rows, after=summary.CLAIMED)
        asked = summary.claim(written, carried)
        created = _RESULTS.insert(rows, carried)
        for result in created:
            audit.record("result.create", result, result_audit_data(result), actor, via=via)
        cause = _cause("result.create", created)
        models = {result.model_id: result.model for result in created}
        for pk in written:
            due = not asked[pk]
            change = EvidenceChange(models[pk], cause, result_write=True, due=due)
            emit(EVIDENCE_CHANGED, change, actor)
    return created


def catch_up_summaries(model_ids: Iterable[int]) -> None:
    """Fold the results written since into the models' evidence summaries (the worker, after
    result writes: ADR 0055), in one transaction. Nothing to fold under no active policy: the
    next activation rebuilds every summary."""
    policy = active_policy_view()
    if policy is None:
        return
    with transaction.atomic():
        summary.catch_up(model_ids, summary.lens_of_view(policy))


def catch_up_before_reading(model_ids: Iterable[int]) -> bool:
    """A reader's fold (ADR 0055): :func:`catch_up_summaries` when no transaction is open
    (inside a caller's, a reader takes no lock: it ranks the results instead). A database
    error is logged and left to the worker, so a read never fails for it. Returns whether it
    folded."""
    if connection.in_atomic_block:
        return False
    ids = list(model_ids)
    try:
        catch_up_summaries(ids)
    except DatabaseError:
        logger.warning("folding the evidence summaries of models %s failed", ids, exc_info=True)
        return False
    return True


# The results' INSERT, its statement built once (rsp_portal.rows, ADR 0047).
_RESULTS = RowInsert(EvalResult)


def correction_fields(
    old: EvalResult, values: Mapping[str, Any], reason: object
) -> tuple[dict[str, Any], str, PolicyView]:
    """Validate a correction of ``old``: the new row's field values, the reason, the policy."""
    reason_text = _text(reason, "correction_reason").strip()
    if not reason_text:
        raise field_error("correction_reason", "Say why the result is being corrected.")
    unknown = sorted(set(values) - CORRECTION_FIELDS)
    if unknown:
        raise field_error(unknown[0], "This field cannot be changed by a correction.")
    policy = require_policy()
    item = {
        "model": old.model.slug,
        "checkpoint": old.checkpoint.name,
        "metric": old.metric_key,
        "value": old.value,
        # A derived stderr follows the corrected value and count; a reported one is kept.
        "stderr": None if old.stderr_derived else old.stderr,
        "n_samples": old.n_samples,
        "elicitation": old.elicitation,
        "mitigation": old.mitigation,
        "notes": old.notes,
        "evidence_url": old.evidence_url,
        "evaluated_at": old.evaluated_at,
        "partial": old.partial,
        "external_body": old.external_body,
        **values,
    }
    lookup = Lookup(
        models={old.model.slug: old.model},
        checkpoints={(old.model_id, old.checkpoint.name): old.checkpoint},
    )
    fields = validate_result(item, policy, lookup)
    fields["provenance"] = {**old.provenance, "corrects": old.pk}
    return fields, reason_text, policy


def correct_result(
    old: EvalResult,
    values: Mapping[str, Any],
    reason: object,
    actor: Actor,
    *,
    via: str | None = None,
    source: str = EvalResult.Source.BROWSER,
    confirmed_by: Actor = None,
) -> EvalResult:
    """Supersede ``old`` with a corrected result; the old row stays as it was.

    ``values`` may change ``metric``, ``value``, ``stderr``, ``n_samples``, ``elicitation``,
    ``mitigation``, ``notes`` and ``evidence_url``; omitted ones are copied from ``old``.
    A correction that would lower a determination (:func:`lowering_changes`) is refused
    (409) unless ``confirmed_by`` names the second person who confirmed it: propose it with
    ``evaluations.corrections.propose`` instead.
    """
    fields, reason_text, policy = correction_fields(old, values, reason)
    changes = lowering_changes(old, fields, policy)
    if changes and confirmed_by is None:
        raise field_error(
            "non_field_errors",
            "This correction would lower a determination ("
            + "; ".join(changes)
            + "): it takes effect only once a second person confirms it.",
            ConflictError,
        )
    with transaction.atomic():
        states = summary.lock([old.model_id])
        # Lock the row being corrected so two concurrent corrections cannot both pass the check.
        locked = EvalResult.objects.select_for_update().get(pk=old.pk)
        if EvalResult.objects.filter(supersedes=locked).exists():
            raise field_error(
                "non_field_errors",
                f"Result #{old.pk} was already corrected; correct the current result instead.",
                ConflictError,
            )
        try:
            with transaction.atomic():
                new = EvalResult.objects.create(
                    **fields,
                    source=result_source(fields, source),
                    submitted_by=user_of(actor),
                    supersedes=locked,
                    correction_reason=reason_text,
                )
        except IntegrityError:
            raise field_error(
                "non_field_errors", f"Result #{old.pk} was already corrected.", ConflictError
            ) from None
        summary.sync(states, summary.lens_of_view(policy))
        data = result_audit_data(new)
        if confirmed_by is not None:
            data["confirmed_by"] = getattr(confirmed_by, "username", None)
            data["lowers"] = changes
        audit.record("result.correct", new, data, actor, via=via)
        _evidence_changed([new.model], f"result.correct #{new.pk} (supersedes #{old.pk})", actor)
    return new
