"""Server-side charts: a metric across checkpoints against its warning and critical lines.

Pure geometry (plain numbers in, coordinates out) rendered as inline SVG by
``evaluations/_metric_chart.html``: no JavaScript, no chart library, no inline styles (the CSP
allows neither), colours come from classes in ``static/css/app.css``. Hover details are SVG
``<title>`` elements, which every browser shows as a tooltip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from core import words
from policies import rules

WIDTH = 560
HEIGHT = 180
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 40


@dataclass(frozen=True)
class Point:
    """The most capable result of one metric on one checkpoint, for one mitigation."""

    compute: float
    value: float
    checkpoint: str
    mitigation: str
    result_id: int
    results: int = 1
    stderr: float | None = None


@dataclass
class Chart:
    """Everything the SVG template draws, in SVG user units."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    x_ticks: list[tuple[str, str]] = field(default_factory=list)
    y_ticks: list[tuple[str, str]] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    points: list[dict[str, object]] = field(default_factory=list)
    path: str = ""
    empty: bool = False
    summary: str = ""


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    tick = first
    while tick <= hi + step * 1e-9:
        ticks.append(round(tick, 12))
        tick += step
    return ticks


def metric_chart(
    points: list[Point],
    *,
    warning: float | None,
    critical: float,
    higher_is_more_capable: bool,
    metric_min: float | None = None,
    metric_max: float | None = None,
) -> Chart:
    """The chart of one indicator: log effective compute across, the metric up."""
    chart = Chart()
    values = [p.value for p in points] + [critical] + ([warning] if warning is not None else [])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or max(abs(hi) * 0.1, 0.1)
    lo, hi = lo - pad, hi + pad
    if metric_min is not None and math.isfinite(metric_min):
        lo = max(lo, metric_min)
    if metric_max is not None and math.isfinite(metric_max):
        hi = min(hi, metric_max)
    if hi <= lo:
        hi = lo + 1.0
    computes = [math.log10(p.compute) for p in points if p.compute > 0]
    if computes:
        x_lo, x_hi = min(computes), max(computes)
    else:
        x_lo, x_hi = 23.0, 25.0
    if x_hi - x_lo < 1:
        middle = (x_hi + x_lo) / 2
        x_lo, x_hi = middle - 0.5, middle + 0.5
    x_lo, x_hi = x_lo - 0.1, x_hi + 0.1

    # Coordinates leave as strings: the template then prints them as they are, without the
    # per-number localisation Django applies to floats (hundreds per page).
    def x(log_compute: float) -> str:
        share = (log_compute - x_lo) / (x_hi - x_lo)
        return f"{chart.left + share * (chart.right - chart.left):.1f}"

    def y(value: float) -> str:
        clamped = min(max(value, lo), hi)
        return f"{chart.bottom - (clamped - lo) / (hi - lo) * (chart.bottom - chart.top):.1f}"

    chart.x_ticks = [
        (x(decade), f"1e{decade}") for decade in range(math.ceil(x_lo), math.floor(x_hi) + 1)
    ]
    chart.y_ticks = [(y(t), _fmt(t)) for t in _nice_ticks(lo, hi)]
    for kind, value in (("warning", warning), ("critical", critical)):
        if value is not None:
            label = (
                f"{kind} {rules.line_text(value, higher_is_more_capable=higher_is_more_capable)}"
            )
            chart.lines.append({"y": y(value), "kind": kind, "label": label})
    pre = []
    for p in sorted(points, key=lambda p: (p.compute, p.mitigation)):
        if p.compute <= 0:
            continue
        plus = f" ± {_fmt(p.stderr)}" if p.stderr else ""
        more = f", most capable of {p.results} results" if p.results > 1 else ""
        point = {
            "x": x(math.log10(p.compute)),
            "y": y(p.value),
            "post": p.mitigation == "post",
            "title": (
                f"{p.checkpoint} ({_fmt(p.compute)} FLOP): {_fmt(p.value)}{plus}, "
                f"{p.mitigation}-mitigation, result #{p.result_id}{more}"
            ),
        }
        point["rx"] = f"{float(point['x']) - 4:.1f}"  # type: ignore[arg-type]
        point["ry"] = f"{float(point['y']) - 4:.1f}"  # type: ignore[arg-type]
        chart.points.append(point)
        if not point["post"]:
            pre.append(point)
    chart.path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(pre))
    chart.empty = not chart.points
    chart.summary = (
        f"{len(chart.points)} checkpoint result{'s' if len(chart.points) != 1 else ''}"
        f"{'' if warning is None else f', warning line {_fmt(warning)}'}, "
        f"critical line {_fmt(critical)}"
    )
    return chart


@dataclass
class Timeline:
    """Approved / paused spans of one gate over time, in SVG user units."""

    width: int = WIDTH
    height: int = 34
    spans: list[dict[str, str]] = field(default_factory=list)
    start: str = ""
    end: str = ""


def gate_timeline(changes: list[tuple[datetime, str, str]], now: datetime) -> Timeline:
    """``changes`` are (moment, state entered, cause), oldest first; the last span runs to now."""
    timeline = Timeline()
    if not changes:
        return timeline
    first = changes[0][0]
    total = max((now - first).total_seconds(), 1.0)
    usable = timeline.width - 2
    for i, (moment, state, cause) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else now
        x = 1 + (moment - first).total_seconds() / total * usable
        width = max((until - moment).total_seconds() / total * usable, 1.0)
        timeline.spans.append(
            {
                "x": f"{x:.1f}",
                "width": f"{width:.1f}",
                "state": state,
                "title": f"{state} from {words.moment(moment)} ({words.cause_words(cause)})",
            }
        )
    timeline.start = words.moment(first)
    timeline.end = words.moment(now)
    return timeline
