"""What the evidence app needs from the active policy, cached per version.

Results name metrics by key, so validation and the model pages only need the active version's
metrics (key, range, direction), its indicators (warning and critical lines per metric) and the
two reassessment triggers. :func:`active_policy_view` reads exactly that into plain data,
once per version and process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from policies import rules
from policies.models import Indicator, Metric, PolicyVersion, active_ref


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """A metric of the active policy."""

    key: str
    name: str
    unit: str
    min: float
    max: float
    higher_is_more_capable: bool
    min_samples: int | None = None


@dataclass(frozen=True, kw_only=True)
class IndicatorInfo:
    """An indicator line of a threshold of the active policy."""

    threshold_code: str
    threshold_name: str
    metric_key: str
    warning: float | None
    critical: float
    higher_is_more_capable: bool

    def status(self, value: float | None) -> str:
        """``below``, ``warning`` or ``crossed`` (``missing`` without a value), by the same
        rule the gate uses (:func:`policies.rules.classify`)."""
        if value is None:
            return "missing"
        return rules.classify(
            value,
            warning=self.warning,
            critical=self.critical,
            higher_is_more_capable=self.higher_is_more_capable,
        )


@dataclass(frozen=True, kw_only=True)
class PolicyView:
    """The active policy as the evidence app sees it."""

    version_id: int
    label: str
    metrics: dict[str, MetricInfo]
    indicators: tuple[IndicatorInfo, ...]
    effective_compute_multiple: float
    months_between_assessments: int
    indicator_metric_keys: frozenset[str] = field(default_factory=frozenset)
    uncertainty_z: float = 0.0

    def valid_keys(self) -> str:
        """The metric keys, for error messages."""
        return ", ".join(sorted(self.metrics)) or "(the active policy defines no metrics)"


# Active and superseded versions are immutable, so a view keyed by (id, content hash) never goes
# stale: a result write then checks its metrics against the policy in one query instead of
# three. Bounded: a handful of versions per process.
_VIEWS: dict[tuple[int, str], PolicyView] = {}
_VIEWS_LOCK = threading.Lock()


def active_policy_view() -> PolicyView | None:
    """The active policy's metrics, indicators and triggers; None when none is active.

    One query (the active version's id and hash) when the view is cached, else four.
    """
    return policy_view(active_ref())


def policy_view(ref: tuple[int, str, str] | None) -> PolicyView | None:
    """:func:`active_policy_view` for an active reference already read (``active_ref``, or
    its rider read with a bearer token: ADR 0056); None for none. No query when cached."""
    if ref is None:
        return None
    key = ref[:2]
    with _VIEWS_LOCK:
        cached = _VIEWS.get(key)
    if cached is not None:
        return cached
    view, content_sha256 = _read_view(ref[0])
    if view is not None and content_sha256 == key[1]:
        with _VIEWS_LOCK:
            if len(_VIEWS) > 8:
                _VIEWS.clear()
            _VIEWS[key] = view
    return view


def _read_view(version_id: int) -> tuple[PolicyView | None, str]:
    """The view of one version, and its content hash (three queries)."""

    version = PolicyVersion.objects.filter(pk=version_id).first()
    if version is None:  # deleted since: nothing is active any more
        return None, ""
    metrics = {
        m.key: MetricInfo(
            key=m.key,
            name=m.name,
            unit=m.unit or "",
            min=m.min,
            max=m.max,
            higher_is_more_capable=m.higher_is_more_capable,
            min_samples=m.min_samples,
        )
        for m in Metric.objects.filter(version=version).order_by("key")
    }
    indicators = tuple(
        IndicatorInfo(
            threshold_code=i.threshold.code,
            threshold_name=i.threshold.name,
            metric_key=i.metric.key,
            warning=i.warning,
            critical=i.critical,
            higher_is_more_capable=i.metric.higher_is_more_capable,
        )
        for i in Indicator.objects.filter(version=version)
        .select_related("threshold", "metric")
        .order_by("threshold__code", "metric__key")
    )
    view = PolicyView(
        version_id=version.pk,
        label=f"{version.name} {version.version}",
        metrics=metrics,
        indicators=indicators,
        effective_compute_multiple=float(version.effective_compute_multiple),
        months_between_assessments=int(version.months_between_assessments),
        indicator_metric_keys=frozenset(i.metric_key for i in indicators),
        uncertainty_z=float(version.uncertainty_z or 0.0),
    )
    return view, version.content_sha256
