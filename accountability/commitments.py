"""Procedural commitments: due items computed from the record, fulfilments recorded.

A policy version declares commitments (``PolicyVersion.commitments``, from the pack): a text, a
trigger, a deadline in days, whether it gates, and its source. Each event of the trigger's
kind makes one **due item**: a decision requested or approved, a deployment approved, a report
of a kind signed, a threshold first crossed, the policy's activation, or each period since it.
Due items are derived, never stored, so none can be lost or forgotten; what is stored is the
**fulfilment** (``CommitmentFulfilment``: evidence, who, when), append-only and audited. An item
is *open* until its deadline, *late* after it, *fulfilled* (on time or late) once kept; a
gating item past its deadline pauses the model's gate with ``commitment_overdue``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

import audit
from accountability.models import (
    CommitmentFulfilment,
    CommitmentReminder,
    Report,
    ReportStatus,
)
from accountability.reports import recompute_gates
from core import events
from evaluations.models import AIModel
from governance.gate.inputs import OverdueCommitment
from governance.models import DecisionStatus, GateTransition, ScalingDecision, Scope
from policies.models import PolicyVersion
from rsp_portal.authz import require
from rsp_portal.errors import ConflictError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from rsp_portal.types import Actor

#: Periodic items listed ahead of today (so people see the next one coming).
_PERIODS_AHEAD = 1


@dataclass(frozen=True)
class DueItem:
    """One occasion on which a commitment must be kept."""

    policy_version_id: int
    code: str
    text: str
    trigger: str
    gating: bool
    source: str
    subject_type: str
    subject_id: str
    subject_label: str
    model_slug: str | None
    due_at: datetime
    fulfilment: CommitmentFulfilment | None

    @property
    def key(self) -> str:
        """The item's stable identifier in URLs and the API."""
        return f"{self.policy_version_id}.{self.code}.{self.subject_type}.{self.subject_id}"

    def status(self, now: datetime) -> str:
        if self.fulfilment is not None:
            return "fulfilled_late" if self.fulfilment.fulfilled_at > self.due_at else "fulfilled"
        return "late" if now > self.due_at else "open"

    def days_late(self, now: datetime) -> float:
        end = self.fulfilment.fulfilled_at if self.fulfilment else now
        return max(0.0, (end - self.due_at).total_seconds() / 86400)


#: Late first (kept late next), then open, then kept on time: the order every list shows.
_STATUS_ORDER = {"late": 0, "fulfilled_late": 1, "open": 2, "fulfilled": 3}


def late_first(items: Iterable[DueItem], now: datetime) -> list[DueItem]:
    """``items`` as every page and API lists them: late ones first, then by deadline."""
    return sorted(items, key=lambda i: (_STATUS_ORDER[i.status(now)], i.due_at))


def _commitments(
    version: PolicyVersion, triggers: Iterable[str] | None = None
) -> list[Mapping[str, Any]]:
    wanted = set(triggers) if triggers is not None else None
    return [
        c
        for c in (version.commitments or [])
        if isinstance(c, Mapping) and (wanted is None or c.get("trigger") in wanted)
    ]


def _item(
    version: PolicyVersion,
    c: Mapping[str, Any],
    subject: tuple[str, str, str],
    model_slug: str | None,
    start: datetime,
    fulfilments: Mapping[tuple[str, str, str], CommitmentFulfilment],
) -> DueItem:
    subject_type, subject_id, label = subject
    return DueItem(
        policy_version_id=version.pk,
        code=str(c["code"]),
        text=str(c.get("text", "")),
        trigger=str(c.get("trigger", "")),
        gating=bool(c.get("gating")),
        source=str(c.get("source", "pack choice")),
        subject_type=subject_type,
        subject_id=subject_id,
        subject_label=label,
        model_slug=model_slug,
        due_at=start + timedelta(days=float(c.get("deadline_days") or 0)),
        fulfilment=fulfilments.get((str(c["code"]), subject_type, subject_id)),
    )


def due_items(
    version: PolicyVersion,
    *,
    model: AIModel | None = None,
    now: datetime | None = None,
    triggers: Iterable[str] | None = None,
) -> list[DueItem]:
    """Every due item of the version's commitments (only ``model``'s and the policy-wide ones
    when a model is given), soonest deadline first. A fixed number of queries: one per kind
    of event the commitments name, and one for the fulfilments."""
    now = now or timezone.now()
    commitments = _commitments(version, triggers)
    if not commitments:
        return []
    kinds = {str(c.get("trigger")) for c in commitments}
    fulfilments = {
        (f.code, f.subject_type, f.subject_id): f
        for f in CommitmentFulfilment.objects.filter(policy_version=version).select_related(
            "fulfilled_by"
        )
    }
    # Per trigger: (subject, model slug, when it happened, report kind).
    events: dict[str, list[tuple[tuple[str, str, str], str | None, datetime, str]]] = {
        k: [] for k in kinds
    }
    decisions = ScalingDecision.objects.filter(policy_version=version).select_related("model")
    if model is not None:
        decisions = decisions.filter(model=model)
    if kinds & {"decision_requested", "decision_approved", "deployment"}:
        for d in decisions:
            label = f"decision #{d.pk} ({d.scope}, {d.model.slug})"
            subject = ("decision", str(d.pk), label)
            events.setdefault("decision_requested", []).append(
                (subject, d.model.slug, d.requested_at, "")
            )
            if d.status == DecisionStatus.APPROVED and d.decided_at:
                approved = (subject, d.model.slug, d.decided_at, "")
                events.setdefault("decision_approved", []).append(approved)
                if d.scope == Scope.DEPLOYMENT:
                    events.setdefault("deployment", []).append(approved)
    if "report_signed" in kinds:
        reports = Report.objects.filter(
            policy_version=version,
            status__in=[ReportStatus.SIGNED, ReportStatus.PUBLISHED],
            signed_at__isnull=False,
        ).select_related("model")
        if model is not None:
            reports = reports.filter(Q(model=model) | Q(model__isnull=True))
        for r in reports:
            slug = r.model.slug if r.model else None
            subject = ("report", str(r.pk), f"{r.kind_name} #{r.pk}")
            events["report_signed"].append((subject, slug, r.signed_at or r.created_at, r.kind))
    if "crossing" in kinds:
        for model_slug, threshold, at in _first_crossings(version, model):
            subject = (
                "crossing",
                f"{model_slug}:{threshold}",
                f"{threshold} crossed on {model_slug}",
            )
            events["crossing"].append((subject, model_slug, at, ""))
    activated = version.activated_at or version.created_at
    if "policy_activated" in kinds:
        events["policy_activated"].append(
            (("activation", str(version.pk), f"activation of {version.name}"), None, activated, "")
        )
    items: list[DueItem] = []
    for c in commitments:
        trigger = str(c.get("trigger"))
        if trigger == "periodic":
            items.extend(_periodic(version, c, activated, now, fulfilments))
            continue
        report_kind = c.get("report_kind")
        for subject, slug, at, kind in events.get(trigger, []):
            if report_kind and kind != report_kind:
                continue
            items.append(_item(version, c, subject, slug, at, fulfilments))
    return sorted(items, key=lambda i: (i.due_at, i.code, i.subject_id))


def _periodic(
    version: PolicyVersion,
    c: Mapping[str, Any],
    activated: datetime,
    now: datetime,
    fulfilments: Mapping[tuple[str, str, str], CommitmentFulfilment],
) -> list[DueItem]:
    days = float(c.get("deadline_days") or 0)
    if days <= 0:
        return []
    items = []
    n = 1
    while True:
        start = activated + timedelta(days=days * (n - 1))
        item = _item(version, c, ("period", str(n), f"period {n}"), None, start, fulfilments)
        items.append(item)
        if item.due_at > now and n >= _PERIODS_AHEAD:
            break
        n += 1
        if n > 1000:  # a typo in a pack cannot make a page loop for ever
            break
    return items


def _first_crossings(
    version: PolicyVersion, model: AIModel | None
) -> list[tuple[str, str, datetime]]:
    """When each threshold was first recorded crossed (or presumed) for each model, under
    ``version``: from the gate's transitions, which record every change as it happened."""
    transitions = GateTransition.objects.filter(scope=Scope.SCALING).select_related("model")
    if model is not None:
        transitions = transitions.filter(model=model)
    first: dict[tuple[str, str], datetime] = {}
    for t in transitions.order_by("created_at", "pk").only("model__slug", "verdict", "created_at"):
        verdict = t.verdict if isinstance(t.verdict, Mapping) else {}
        policy = verdict.get("policy_version")
        if isinstance(policy, Mapping) and policy.get("id") not in (None, version.pk):
            continue
        for threshold in verdict.get("crossed_thresholds") or []:
            first.setdefault((t.model.slug, str(threshold)), t.created_at)
    return [(slug, threshold, at) for (slug, threshold), at in first.items()]


# --- The gate's question ---------------------------------------------------------------------


def overdue_gating(
    question: tuple[AIModel, int, frozenset[str], datetime],
) -> tuple[OverdueCommitment, ...]:
    """The gating commitments of ``model`` (and the policy-wide ones) past their deadline."""
    model, version_id, triggers, now = question
    version = PolicyVersion.objects.get(pk=version_id)
    return tuple(
        OverdueCommitment(code=i.code, text=i.text, due_at=i.due_at, source=i.source)
        for i in due_items(version, model=model, now=now, triggers=triggers)
        if i.gating and i.fulfilment is None and now > i.due_at
    )


# --- Keeping a commitment --------------------------------------------------------------------


def find_item(key: str, now: datetime | None = None) -> DueItem:
    """The due item named by ``key`` (``<version>.<code>.<subject type>.<subject id>``)."""
    parts = key.split(".", 3) if isinstance(key, str) else []
    if len(parts) != 4 or not parts[0].isdigit():
        raise NotFoundError({"commitment": ["No such commitment item."]})
    version = PolicyVersion.objects.filter(pk=int(parts[0])).first()
    if version is None:
        raise NotFoundError({"commitment": ["No such commitment item."]})
    for item in due_items(version, now=now):
        if item.key == key:
            return item
    raise NotFoundError({"commitment": ["No such commitment item."]})


def fulfil(key: str, evidence_url: str, notes: str, actor: Actor) -> CommitmentFulfilment:
    """Record that the due item ``key`` was kept (audited; once per item)."""
    user = require(actor, "commitment.fulfil")
    if not (isinstance(notes, str) and notes.strip()) and not (
        isinstance(evidence_url, str) and evidence_url.strip()
    ):
        raise ServiceError(
            {"evidence_url": ["Give the evidence (a link) or notes saying how it was kept."]}
        )
    item = find_item(key)
    if item.fulfilment is not None:
        raise ConflictError({"commitment": ["This item is already recorded as kept."]})
    try:
        with transaction.atomic():
            fulfilment = CommitmentFulfilment.objects.create(
                policy_version_id=item.policy_version_id,
                code=item.code,
                subject_type=item.subject_type,
                subject_id=item.subject_id,
                model=_model(item.model_slug),
                evidence_url=(evidence_url or "").strip()[:500],
                notes=(notes or "").strip(),
                fulfilled_by=user,
            )
            audit.record(
                "commitment.fulfil",
                fulfilment,
                {
                    "model": item.model_slug or "",
                    "commitment": item.code,
                    "subject": f"{item.subject_type}:{item.subject_id}",
                    "due_at": item.due_at.isoformat(),
                    "late": fulfilment.fulfilled_at > item.due_at,
                    "evidence_url": fulfilment.evidence_url,
                },
                user,
            )
            recompute_gates(fulfilment.model, "commitment.fulfil", user)
    except IntegrityError:
        raise ConflictError({"commitment": ["This item is already recorded as kept."]}) from None
    return fulfilment


def _model(slug: str | None) -> AIModel | None:
    return AIModel.objects.filter(slug=slug).first() if slug else None


# --- Reminders -------------------------------------------------------------------------------

#: How long before a deadline the people concerned are reminded (``COMMITMENT_REMINDER_DAYS``).
DEFAULT_REMINDER_DAYS = 3.0


def send_reminders(now: datetime | None = None, actor: Actor = "worker") -> int:
    """Remind safety and leadership of each open due item whose deadline is near, once.

    A reminder is a row (``CommitmentReminder``, unique per due item) written with its
    notification and its audit entry in one transaction: a retried or doubled beat tick finds
    the row and sends nothing again. Returns how many reminders were sent."""
    now = now or timezone.now()
    version = PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()
    if version is None:
        return 0
    ahead = timedelta(
        days=float(getattr(settings, "COMMITMENT_REMINDER_DAYS", DEFAULT_REMINDER_DAYS))
    )
    near = [
        i
        for i in due_items(version, now=now)
        if i.fulfilment is None and now < i.due_at <= now + ahead
    ]
    if not near:
        return 0
    sent_already = set(
        CommitmentReminder.objects.filter(policy_version=version).values_list(
            "code", "subject_type", "subject_id"
        )
    )
    sent = 0
    for item in near:
        if (item.code, item.subject_type, item.subject_id) in sent_already:
            continue
        try:
            with transaction.atomic():
                reminder = CommitmentReminder.objects.create(
                    policy_version=version,
                    code=item.code,
                    subject_type=item.subject_type,
                    subject_id=item.subject_id,
                    due_at=item.due_at,
                    sent_at=now,
                )
                data = {
                    "model": item.model_slug or "",
                    "commitment": item.code,
                    "text": item.text,
                    "subject": item.subject_label,
                    "due_at": item.due_at.isoformat(),
                    "source": item.source,
                    "gating": item.gating,
                }
                audit.record("commitment.remind", reminder, data, actor)
                events.emit(
                    events.NOTIFY,
                    events.Notice("commitment.reminder", data, ("safety", "leadership")),
                    actor,
                )
        except IntegrityError:
            continue  # another run reminded of it first
        sent += 1
    return sent
