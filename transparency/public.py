"""The public view (``/transparency/``, ``GET /api/v1/transparency/``): what anyone may check.

Built from the record only, and only from what recorded acts made public: the policy and its
history, the latest signed log head, the gate history of models marked public (states, reason
codes and dates; threshold statuses only where values are public), public editions of reports
with their redactions, commitments (late first), the late-evaluation register, noncompliance
counts and public incidents. A model not marked public appears nowhere: items about it are only
counted. Every item carries the hash of the audit entry it comes from (``audit_hash``), so an
outsider holding an export bundle can find it in the verified log.

The result is cached under the audit log's size and head hash: every write appends an entry,
so a cached view is never older than the record it claims to show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accountability import commitments, late
from accountability.models import Report, ReportStatus
from audit.checkpoints import public_key_pem
from audit.models import AuditCheckpoint, AuditEntry, LogHead, WitnessCosignature
from audit.verify_bundle import cosigner_verifier_key
from audit.witness import cosigner_keys
from policies.diff import PolicyDiff, diff_policies
from policies.models import PolicyVersion
from policies.packs import Pack
from policies.services import to_pack
from transparency.models import Incident, NoncomplianceReport, NoncomplianceStatus
from transparency.services import public_models

CACHE_SECONDS = 300


def _hashes(object_type: str, ids: Iterable[object], actions: Iterable[str]) -> dict[str, str]:
    """The newest matching audit entry's leaf hash per object id."""
    found: dict[str, str] = {}
    rows = AuditEntry.objects.filter(
        object_type=object_type, object_id__in=[str(i) for i in ids], action__in=list(actions)
    ).order_by("seq")
    for object_id, leaf in rows.values_list("object_id", "leaf_hash"):
        found[object_id] = leaf
    return found


def _versions() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    versions = list(
        PolicyVersion.objects.exclude(status=PolicyVersion.Status.DRAFT)
        .order_by("activated_at", "pk")
        .with_children()
    )
    hashes = _hashes("policies.policyversion", [v.pk for v in versions], ["policy.activate"])
    out: list[dict[str, Any]] = []
    active = None
    previous: Pack | None = None
    for version in versions:
        pack = to_pack(version)
        diff: PolicyDiff | None = diff_policies(previous, pack) if previous is not None else None
        item = {
            "id": version.pk,
            "key": version.key,
            "name": version.name,
            "version": version.version,
            "status": version.status,
            "family": getattr(version, "family", ""),
            "source": version.source,
            "content_sha256": version.content_sha256,
            "activated_at": version.activated_at.isoformat() if version.activated_at else None,
            "changes": len(diff) if diff is not None else 0,
            "loosenings": [
                {"section": c.section, "key": c.key, "field": c.field, "why": c.why}
                for c in (diff.loosenings if diff is not None else [])
            ],
            "audit_hash": hashes.get(str(version.pk)),
        }
        out.append(item)
        if version.status == PolicyVersion.Status.ACTIVE:
            active = item
        previous = pack
    return active, out


def _log_head() -> dict[str, Any] | None:
    checkpoint = AuditCheckpoint.objects.order_by("-size").first()
    if checkpoint is None:
        return None
    keys = {name: cosigner_verifier_key(name, key) for name, key in _cosigner_keys().items()}
    cosignatures = WitnessCosignature.objects.filter(
        size=checkpoint.size, root_hash=checkpoint.root_hash
    ).order_by("witness")
    hashes = _hashes(
        "audit.witnesscosignature", [c.pk for c in cosignatures], ["audit.cosignature"]
    )
    return {
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash,
        "signature": checkpoint.note,
        "key_id": checkpoint.key_id,
        "signed_at": checkpoint.created_at.isoformat(),
        "origin": settings.AUDIT_ORIGIN,
        # The witnesses' cosignatures of this head (C2SP cosignature/v1), each verified with
        # the witness's key before it was kept; the key is listed for outsiders to compare
        # with the witness's own publication.
        "witnesses": [
            {
                "name": c.witness,
                "verifier_key": keys.get(c.witness, ""),
                "cosigned_at": datetime.fromtimestamp(c.timestamp, UTC).isoformat(),
                "cosignature": c.signature,
                "audit_hash": hashes.get(str(c.pk)),
            }
            for c in cosignatures
        ],
        # Where each signed checkpoint is sent to be witnessed.
        "sent_to": [url.split("/")[2] for url in settings.AUDIT_WITNESS_URLS if "//" in url],
    }


def _cosigner_keys() -> dict[str, Ed25519PublicKey]:
    try:
        return cosigner_keys()
    except ValueError:  # misconfigured: the cosignatures still show, without a key
        return {}


def _gate_history(slug: str, values_public: bool) -> list[dict[str, Any]]:
    history = []
    for entry in AuditEntry.objects.filter(action="gate.transition", model_slug=slug).order_by(
        "seq"
    ):
        data = entry.parsed.get("data", {})
        # One code per threshold or requirement it applies to: shown once, with how often.
        counts = Counter(str(code) for code in data.get("reasons") or [])
        item: dict[str, Any] = {
            "at": entry.ts.isoformat(),
            "scope": data.get("scope"),
            "state": data.get("to"),
            "reasons": list(counts),
            "reason_counts": dict(counts),
            "audit_hash": entry.leaf_hash,
        }
        if values_public:
            item["determinations"] = data.get("determinations")
        history.append(item)
    return history


def _reports(public_slugs: set[str]) -> list[dict[str, Any]]:
    rows = list(
        Report.objects.filter(status=ReportStatus.PUBLISHED)
        .select_related("model")
        .prefetch_related("redactions")
        .order_by("-published_at", "-pk")
    )
    rows = [r for r in rows if r.model is None or r.model.slug in public_slugs]
    hashes = _hashes("accountability.report", [r.pk for r in rows], ["report.publish"])
    return [
        {
            "id": r.pk,
            "kind": r.kind_name,
            "title": r.title,
            "version": r.version,
            "model": r.model.slug if r.model else None,
            "published_at": r.published_at.isoformat() if r.published_at else None,
            "snapshot_sha256": r.snapshot_sha256,
            "sections": r.public_sections,
            "redactions": [
                {"section": x.section, "heading": x.heading, "reason": x.reason}
                for x in r.redactions.all()
            ],
            "audit_hash": hashes.get(str(r.pk)),
        }
        for r in rows
    ]


def _commitments(active: PolicyVersion | None, public_slugs: set[str]) -> dict[str, Any]:
    if active is None:
        return {"items": [], "not_public": {"total": 0, "late": 0}}
    now = timezone.now()
    items = commitments.due_items(active, now=now)
    hidden = [i for i in items if i.model_slug and i.model_slug not in public_slugs]
    shown = commitments.late_first(
        (i for i in items if not i.model_slug or i.model_slug in public_slugs), now
    )
    fulfilled = [i.fulfilment.pk for i in shown if i.fulfilment is not None]
    hashes = _hashes("accountability.commitmentfulfilment", fulfilled, ["commitment.fulfil"])
    return {
        "items": [
            {
                "code": i.code,
                "text": i.text,
                "source": i.source,
                "gating": i.gating,
                "model": i.model_slug,
                "occasion": i.subject_label,
                "due_at": i.due_at.isoformat(),
                "status": i.status(now),
                "days_late": round(i.days_late(now), 1),
                "fulfilled_at": i.fulfilment.fulfilled_at.isoformat() if i.fulfilment else None,
                "audit_hash": hashes.get(str(i.fulfilment.pk)) if i.fulfilment else None,
            }
            for i in shown
        ],
        "not_public": {
            "total": len(hidden),
            "late": sum(1 for i in hidden if i.status(now) in ("late", "fulfilled_late")),
        },
    }


def _late(public: list[Any]) -> list[dict[str, Any]]:
    now = timezone.now()
    return [e.to_dict(now) for e in late.register(public)] if public else []


def _incidents(public_slugs: set[str]) -> list[dict[str, Any]]:
    rows = [
        i
        for i in Incident.objects.filter(public=True).select_related("model")
        if i.model is None or i.model.slug in public_slugs
    ]
    hashes = _hashes("transparency.incident", [i.pk for i in rows], ["incident.publicity"])
    return [
        {
            "id": i.pk,
            "title": i.title,
            "model": i.model.slug if i.model else None,
            "measures": [Incident.Measure(m).label for m in i.measures],
            "status": i.status,
            "opened_at": i.opened_at.isoformat(),
            "closed_at": i.closed_at.isoformat() if i.closed_at else None,
            "closure": i.closure,
            "audit_hash": hashes.get(str(i.pk)),
        }
        for i in rows
    ]


def _noncompliance() -> dict[str, int]:
    counts = {status: 0 for status in NoncomplianceStatus.values}
    for status in NoncomplianceReport.objects.values_list("status", flat=True):
        counts[status] += 1
    return counts


def build() -> dict[str, Any]:
    """The public view, freshly computed from the record."""
    models = public_models()
    slugs = {m.slug for m, _ in models}
    active, versions = _versions()
    active_version = PolicyVersion.objects.filter(status=PolicyVersion.Status.ACTIVE).first()
    key = public_key_pem()
    return {
        "generated_at": timezone.now().isoformat(),
        "policy": active,
        "versions": versions,
        "log_head": _log_head(),
        "public_key": key.decode("ascii") if key else None,
        "models": [
            {
                "slug": m.slug,
                "name": m.name,
                "values_public": values,
                "gate_history": _gate_history(m.slug, values),
            }
            for m, values in models
        ],
        "reports": _reports(slugs),
        "commitments": _commitments(active_version, slugs),
        "late_evaluations": _late([m for m, _ in models]),
        "noncompliance": _noncompliance(),
        "incidents": _incidents(slugs),
    }


def view() -> Mapping[str, Any]:
    """The public view, cached under the audit log's size (a write invalidates it)."""
    size, head = LogHead.objects.values_list("size", "head_hash").first() or (0, "")
    key = f"transparency:v1:{size}:{head}"
    found = cache.get(key)
    if found is None:
        found = build()
        cache.set(key, found, CACHE_SECONDS)
    return found  # type: ignore[no-any-return]
