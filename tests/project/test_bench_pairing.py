"""``make bench`` divides each app run by its baseline's rate at the same moment."""

from __future__ import annotations

import pytest

from tests.bench_support import bench_module


@pytest.fixture(scope="module")
def run_module():
    with bench_module("run") as module:
        yield module


def _runs(*rates: float):
    from load import Sample

    return [Sample(rps=r, p50_ms=1, p99_ms=1, requests=1, errors=0) for r in rates]


def test_a_baseline_is_interpolated_between_the_runs_around_the_moment(run_module):
    runs, times = _runs(800, 600, 400), [0.0, 10.0, 20.0]
    # A machine slowing down: an app run measured between two baseline runs is divided by
    # the rate between them, not by the earlier run's.
    assert run_module.baseline_at(runs, times, 5.0) == pytest.approx(700)
    assert run_module.baseline_at(runs, times, 17.5) == pytest.approx(450)
    assert run_module.baseline_at(runs, times, 10.0) == pytest.approx(600)
    # Outside the runs: the nearest one's rate.
    assert run_module.baseline_at(runs, times, -1.0) == 800
    assert run_module.baseline_at(runs, times, 25.0) == 400


def test_the_runs_may_come_in_any_order(run_module):
    runs, times = _runs(400, 800), [20.0, 0.0]
    assert run_module.baseline_at(runs, times, 10.0) == pytest.approx(600)
