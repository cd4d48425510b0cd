"""``make bench-compare``: two codes side by side on one database (``bench/compare.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.bench_support import bench_module


@pytest.fixture(scope="module")
def compare() -> Any:
    with bench_module("compare") as module:
        yield module


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "app" / "migrations").mkdir(parents=True)
    (tmp_path / "app" / "migrations" / "0001_initial.py").write_text("# one\n")
    (tmp_path / "app" / "views.py").write_text("# a view\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_commit_with_other_migrations_is_refused(compare: Any, repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "app" / "views.py").write_text("# a faster view\n")
    compare.same_schema(first, repo)  # code alone differs: one schema serves both

    (repo / "app" / "migrations" / "0002_more.py").write_text("# two\n")
    with pytest.raises(compare.BenchError, match="migrations differ"):
        compare.same_schema(first, repo)  # new, not yet added
    _git(repo, "add", ".")
    with pytest.raises(compare.BenchError, match="migrations differ"):
        compare.same_schema(first, repo)  # staged, not committed: still this tree's schema
    _git(repo, "commit", "-q", "-m", "second")
    with pytest.raises(compare.BenchError, match="migrations differ"):
        compare.same_schema(first, repo)
    compare.same_schema("HEAD", repo)


def test_an_unknown_commit_is_named(compare: Any, repo: Path) -> None:
    with pytest.raises(compare.BenchError, match="git cannot read 'no-such-ref'"):
        compare.same_schema("no-such-ref", repo)


def test_the_codes_take_turns_going_first(compare: Any) -> None:
    assert [compare.code_order(n)[0] for n in range(4)] == ["this", "ref", "this", "ref"]
    assert all(sorted(compare.code_order(n)) == ["ref", "this"] for n in range(4))


def test_the_table_divides_each_run_by_the_baseline_at_its_moment(compare: Any) -> None:
    from load import Endpoint, Sample

    def sample(rps: float, web: float) -> Any:
        return Sample(
            rps=rps,
            p50_ms=5,
            p99_ms=20,
            requests=100,
            errors=0,
            cpu_ms={"web": web, "worker": 0.0, "postgres": 1.0},
        )

    post = Endpoint("post", "app", "/p/", compare="create")
    runs = {
        # The baseline slows from 1,000/s to 600/s over the run.
        ("create", "baseline"): compare.Runs([sample(1000, 2), sample(600, 2)], [0.0, 10.0]),
        ("post", "this"): compare.Runs([sample(400, 3), sample(300, 3)], [2.5, 7.5]),
        ("post", "ref"): compare.Runs([sample(300, 4), sample(250, 4)], [5.0, 5.0]),
    }
    table = compare.render("abc123", [post], runs)
    # 400 / 900 and 300 / 700: median 43.7 %; 300 / 800 and 250 / 800: median 34.4 %.
    assert "| post | this tree | 350 (300-400) | 20.0 | 43.7 % (42.9-44.4 %) |" in table
    assert "| 3.00 / 0.00 / 1.00 / 4.00 |" in table
    assert "| post | abc123 | 275 (250-300) | 20.0 | 34.4 % (31.2-37.5 %) |" in table
