"""The policy's rules as pure functions: the one place that says what a line, a standard's
closure and an evaluation trigger mean.

The gate engine (``governance.gate``), the engine's input adapter, the policy diff and the
model pages all call these, so a page can never contradict the gate. No Django, no I/O.

* **Lines.** "At or past" a line means ``value >= line`` when higher is more capable and
  ``value <= line`` otherwise. Every comparison asks "is it safely short of the line?", so a
  NaN lands on the capable side.
* **Words.** A line is written with the comparison that crosses it: ``≥ 0.5`` when higher is
  more capable, ``≤ 0.25`` otherwise (``line_text``, the ``line`` template filter), so a
  lower-is-more-capable line never reads like a value past it.
* **Conservative bound.** A result is pushed ``z`` standard errors toward "more capable"
  before it is compared with a line (the policy's ``uncertainty_z``).
* **Strength.** A result from a partial run, or with fewer samples than the metric's
  ``min_samples`` (or an unknown count when a minimum is set), is weak: it can show a
  crossing, never safety.
* **Closure.** A standard requires its own requirements and those of every standard it
  includes, transitively; cycles terminate.
* **Triggers.** An evaluation is due at ``multiple`` times the effective compute of the last
  full evaluation, or ``months`` calendar months after it; both boundaries are inclusive.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

LineStatus = Literal["below", "warning", "crossed"]
K = TypeVar("K", bound=Hashable)

#: Threshold tiers. An early warning never pauses by itself.
RED_LINE: Final = "red_line"
EARLY_WARNING: Final = "early_warning"
TIERS: Final[tuple[str, ...]] = (RED_LINE, EARLY_WARNING)


def short_of(value: float, line: float, higher_is_more_capable: bool) -> bool:
    """True only when ``value`` is strictly on the less capable side of ``line``."""
    return value < line if higher_is_more_capable else value > line


def line_sign(higher_is_more_capable: bool) -> str:
    """The comparison that crosses a line: ``≥`` when higher is more capable, else ``≤``."""
    return "≥" if higher_is_more_capable else "≤"


def number_text(value: float) -> str:
    """A number for people: integers as they are, others to three significant digits."""
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def line_text(value: float | None, *, higher_is_more_capable: bool | None) -> str:
    """A line as people read it: ``≥ 0.4`` or ``≤ 0.25``; the bare number when the direction
    is unknown (a record frozen before it was kept), ``—`` for no line."""
    if value is None:
        return "—"
    number = number_text(float(value))
    if higher_is_more_capable is None:
        return number
    return f"{line_sign(higher_is_more_capable)} {number}"


def classify(
    value: float, *, warning: float | None, critical: float, higher_is_more_capable: bool
) -> LineStatus:
    """``crossed`` at or past the critical line, ``warning`` at or past the warning line."""
    if not short_of(value, critical, higher_is_more_capable):
        return "crossed"
    if warning is not None and not short_of(value, warning, higher_is_more_capable):
        return "warning"
    return "below"


def conservative_bound(
    value: float, stderr: float | None, z: float, higher_is_more_capable: bool
) -> float:
    """``value`` moved ``z`` standard errors toward "more capable" (unchanged without stderr)."""
    if not stderr or not z:
        return value
    shift = z * stderr
    return value + shift if higher_is_more_capable else value - shift


#: The version of the evidence rule: how the most capable value of a metric is chosen
#: (:func:`capability`, :func:`more_capable`, :func:`is_weak`, :func:`below_line` and
#: :func:`conservative_bound`). Stored evidence summaries name it (``evaluations.summary``), so
#: a summary chosen under another rule reads as stale. Bump it with any change to those
#: functions; ``tests/policies/test_evidence_rule_version.py`` fails until it is bumped and the
#: new rule's fingerprint recorded.
EVIDENCE_RULE_VERSION: Final = 1

#: A tiebreak between equally capable results: a result id, or its ``id_order`` key.
T = TypeVar("T", int, tuple[int, int, str])


def capability(value: float, stderr: float | None, z: float, higher_is_more_capable: bool) -> float:
    """The conservative bound as "larger is more capable": the bound, negated when lower
    values are more capable, so one order ranks every metric."""
    bound = conservative_bound(value, stderr, z, higher_is_more_capable)
    return bound if higher_is_more_capable else -bound


def more_capable(a: tuple[float, T], b: tuple[float, T]) -> bool:
    """Is the ``(capability, tiebreak)`` pair ``a`` more capable than ``b``? A NaN is the most
    capable value there is (a NaN never shows safety); then the larger capability; a tie goes
    to the larger tiebreak (the later result id)."""
    if a[0] != a[0]:
        return b[0] == b[0] or a[1] > b[1]
    if b[0] != b[0]:
        return False
    if a[0] != b[0]:
        return a[0] > b[0]
    return a[1] > b[1]


def most_capable(candidates: Iterable[tuple[float, T]]) -> tuple[float, T] | None:
    """The most capable ``(capability, tiebreak)`` pair of ``candidates`` (:func:`more_capable`);
    None when there are none."""
    best: tuple[float, T] | None = None
    for candidate in candidates:
        if best is None or more_capable(candidate, best):
            best = candidate
    return best


def below_line(warning: float | None, critical: float, higher_is_more_capable: bool) -> float:
    """The line a conservative bound must be short of to read ``below`` (:func:`classify`):
    the less capable of the warning and critical lines."""
    if warning is None:
        return critical
    return min(warning, critical) if higher_is_more_capable else max(warning, critical)


def is_weak(*, partial: bool, n_samples: int | None, min_samples: int | None) -> bool:
    """Weak evidence: a partial run, or fewer (or unknown) samples than the minimum."""
    if partial:
        return True
    if min_samples is None:
        return False
    return n_samples is None or n_samples < min_samples


def expand_standards(
    codes: Iterable[str], includes: Mapping[str, Iterable[str]]
) -> tuple[str, ...]:
    """``codes`` plus every standard they include, transitively; sorted, cycle-safe.

    ``includes`` maps a standard code to the codes it includes. Codes it does not know are
    kept (so they can be reported as undefined) but expand to nothing.
    """
    seen: set[str] = set()
    stack = list(codes)
    while stack:
        code = stack.pop()
        if code in seen:
            continue  # also what makes include cycles terminate
        seen.add(code)
        stack.extend(includes.get(code, ()))
    return tuple(sorted(seen))


def requirement_owners(
    codes: Iterable[str],
    includes: Mapping[str, Iterable[str]],
    requirements: Mapping[str, Iterable[str]],
) -> dict[str, str]:
    """Each requirement of the closure of ``codes``, mapped to the standard listing it.

    When several standards list the same requirement, the alphabetically first one is named.
    """
    owners: dict[str, str] = {}
    for code in expand_standards(codes, includes):
        for requirement in requirements.get(code, ()):
            owners.setdefault(requirement, code)
    return dict(sorted(owners.items()))


def add_months(dt: datetime, months: int) -> datetime:
    """``dt`` moved by ``months`` calendar months, keeping time and tzinfo.

    The day is clamped to the end of the target month (31 Aug + 6 months is 28 Feb, or 29 Feb
    in a leap year), so "n months old" is never postponed into the following month.
    """
    if isinstance(months, bool) or not isinstance(months, int):
        raise ValueError(f"months must be an int, got {months!r}")
    index = dt.year * 12 + (dt.month - 1) + months
    year, month0 = divmod(index, 12)
    day = min(dt.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.replace(year=year, month=month0 + 1, day=day)


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is earlier)."""
    months = max(0, (end.year - start.year) * 12 + end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months


def due_by_compute(planned: float, evaluated: float, multiple: float) -> bool:
    """An evaluation is due when ``planned`` reaches ``multiple`` x the evaluated compute.

    Written as "not below" so that a NaN anywhere makes the evaluation due. A zero-compute
    evaluated checkpoint makes any positive planned compute due.
    """
    if evaluated > 0:
        return not planned < multiple * evaluated
    if math.isnan(evaluated):
        return True
    return not planned <= 0  # over a zero base, any positive (or NaN) compute is due


def due_by_time(evaluated_at: datetime, now: datetime, months: int) -> bool:
    """An evaluation is due ``months`` calendar months after it ran (inclusive)."""
    return not now < add_months(evaluated_at, months)


def compute_multiple(planned: float, evaluated: float) -> float:
    """How many times the evaluated compute ``planned`` is (1 for 0/0, inf for x/0)."""
    if evaluated > 0:
        return planned / evaluated
    return 1.0 if planned == 0 else math.inf


def last_full_evaluation(
    checkpoints: Iterable[tuple[K, tuple[Any, ...], datetime]],
    dated: Mapping[tuple[Any, str], datetime],
    metrics: Iterable[str],
) -> tuple[K | None, datetime | None]:
    """The reference full evaluation: the largest fully evaluated checkpoint and the date its
    evaluation dates from.

    ``checkpoints`` are ``(id, order key, registered at)`` triples; the order key ranks by
    effective compute first (:func:`checkpoint_rank`), so a smaller checkpoint registered
    later (a distillation) never becomes the reference. ``dated`` maps
    ``(checkpoint id, metric)`` to the date of the latest *strong*, pre-mitigation evaluation
    of that metric there. A checkpoint is fully evaluated when every metric is dated on it;
    its evaluation is as old as its stalest metric. With no metrics at all, a checkpoint
    counts from its registration. ``(None, None)`` when none qualifies.
    """
    wanted = list(metrics)
    best: tuple[K, tuple[Any, ...]] | None = None
    best_at: datetime | None = None
    for checkpoint_id, order, registered in checkpoints:
        dates = [dated.get((checkpoint_id, metric)) for metric in wanted]
        present = [d for d in dates if d is not None]
        if len(present) != len(dates):
            continue
        if best is None or order > best[1]:
            best, best_at = (checkpoint_id, order), min(present, default=registered)
    return (best[0], best_at) if best is not None else (None, None)


def checkpoint_rank(
    effective_compute: float, registered: datetime, tiebreak: K
) -> tuple[float, datetime, K]:
    """How checkpoints rank: the largest effective compute first, whatever the order they
    were registered in (the largest checkpoint decides); registration time and
    then ``tiebreak`` (the id) only break ties."""
    return (effective_compute, registered, tiebreak)
