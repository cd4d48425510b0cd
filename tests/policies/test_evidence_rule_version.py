"""The evidence rule's version moves with the rule, so a summary chosen under an older rule
reads as stale.

Stored evidence summaries keep the most capable result of each group as chosen when it was
written; they name the policy lens and the rule's version (``EVIDENCE_RULE_VERSION``). Two
fingerprints of the rule are recorded per version below: its behaviour on a fixed corpus of
evidence (which result each rule picks, every bound, weak flag and line), and its code (the
syntax tree of its functions, written back without docstrings and comments, so a reformat
changes nothing). Changing the
rule without bumping the version fails here; a bump records the new fingerprints.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import random
import textwrap
from typing import Any

from policies import rules

#: version -> (behaviour fingerprint, code fingerprint). Append; never edit a recorded row.
RECORDED: dict[int, tuple[str, str]] = {
    1: (
        "5de51f0fbfcb163c4bd3bfb49bfb39edfc2d386ec7ce4bab6727e7a3353ace07",
        "59cd450c79516d40ab9dd10f6c2b87a0e099b7c01010a214dda5228cfe75e24c",
    ),
}

#: The functions that make up the rule.
RULE = (
    rules.conservative_bound,
    rules.capability,
    rules.more_capable,
    rules.most_capable,
    rules.below_line,
    rules.is_weak,
    rules.classify,
    rules.short_of,
)


def _corpus() -> list[dict[str, Any]]:
    """A fixed corpus: values around the lines, ties, NaN and infinities, missing errors."""
    rng = random.Random(2026)
    values = [0.0, -0.0, 0.5, 0.5, 0.2, 0.8, 1.0, math.nan, math.inf, -math.inf, 1e-300]
    rows = []
    for pk in range(1, 161):
        rows.append(
            {
                "id": pk,
                "value": rng.choice(values) if rng.random() < 0.3 else round(rng.random(), 3),
                "stderr": rng.choice([None, 0.0, 0.01, 0.05, 0.2]),
                "n_samples": rng.choice([None, 0, 10, 49, 50, 51, 200]),
                "partial": rng.random() < 0.25,
            }
        )
    return rows


def _f(x: float) -> str:
    return repr(x)  # NaN and the infinities as text; -0.0 kept apart from 0.0


def behaviour_fingerprint() -> str:
    corpus = _corpus()
    out: list[Any] = []
    for z in (0.0, 1.0, 1.96):
        for higher in (True, False):
            for min_samples in (None, 50):
                for warning, critical in ((None, 0.5), (0.3, 0.6), (0.7, 0.4)):
                    line = rules.below_line(warning, critical, higher)
                    rows = []
                    for r in corpus:
                        bound = rules.conservative_bound(r["value"], r["stderr"], z, higher)
                        cap = rules.capability(r["value"], r["stderr"], z, higher)
                        weak = rules.is_weak(
                            partial=r["partial"], n_samples=r["n_samples"], min_samples=min_samples
                        )
                        status = rules.classify(
                            bound, warning=warning, critical=critical, higher_is_more_capable=higher
                        )
                        short = rules.short_of(bound, line, higher)
                        rows.append((r["id"], _f(bound), _f(cap), weak, status, short))
                    picks = []
                    for want_weak in (False, True):
                        best = rules.most_capable(
                            (rules.capability(r["value"], r["stderr"], z, higher), r["id"])
                            for r in corpus
                            if rules.is_weak(
                                partial=r["partial"],
                                n_samples=r["n_samples"],
                                min_samples=min_samples,
                            )
                            == want_weak
                        )
                        picks.append(None if best is None else best[1])
                    out.append([z, higher, min_samples, warning, critical, _f(line), rows, picks])
    return hashlib.sha256(json.dumps(out, separators=(",", ":")).encode()).hexdigest()


def code_fingerprint() -> str:
    trees = []
    for fn in RULE:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node = tree.body[0]
        assert isinstance(node, ast.FunctionDef)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            node.body = body[1:]  # the docstring is not the rule
        trees.append(ast.unparse(node))  # comments and layout dropped; stable across versions
    return hashlib.sha256("\n".join(trees).encode()).hexdigest()


def test_the_rule_version_is_bumped_with_any_change_to_the_rule():
    version = rules.EVIDENCE_RULE_VERSION
    found = (behaviour_fingerprint(), code_fingerprint())
    assert version == max(RECORDED), "the current version is the last one recorded"
    assert RECORDED[version] == found, (
        "The evidence rule changed (policies.rules): bump EVIDENCE_RULE_VERSION and record "
        f"{found!r} for the new version, so stored summaries chosen under the old rule read "
        "as stale."
    )


def test_every_recorded_version_names_a_different_rule():
    behaviours = [b for b, _ in RECORDED.values()]
    assert len(set(behaviours)) == len(behaviours) or len(RECORDED) == 1


def test_the_fingerprints_see_a_changed_pick(monkeypatch):
    """The property can fail: a rule that breaks ties to the earlier id changes the
    behaviour fingerprint, and a changed function body the code fingerprint."""
    before = behaviour_fingerprint(), code_fingerprint()

    def earlier_wins(a: tuple[float, Any], b: tuple[float, Any]) -> bool:
        if a[0] != a[0]:
            return b[0] == b[0] or a[1] < b[1]
        if b[0] != b[0]:
            return False
        return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])

    def most(candidates: Any) -> Any:
        best = None
        for c in candidates:
            if best is None or earlier_wins(c, best):
                best = c
        return best

    monkeypatch.setattr(rules, "most_capable", most)
    monkeypatch.setattr(rules, "more_capable", earlier_wins)
    global RULE
    saved = RULE
    RULE = (*saved[:2], earlier_wins, most, *saved[4:])
    try:
        after = behaviour_fingerprint(), code_fingerprint()
    finally:
        RULE = saved
    assert after[0] != before[0]
    assert after[1] != before[1]


def test_the_summary_lens_names_the_rule_version(monkeypatch):
    """The lens digest names the version: a bump makes every stored summary stale (the
    reader then ranks the results; see ``tests/governance/test_evidence_summary.py``)."""
    from evaluations import summary

    indicators = [("m", True, None, 0.3, 0.6)]
    now = summary.Lens.build(1.0, indicators).digest
    monkeypatch.setattr(rules, "EVIDENCE_RULE_VERSION", rules.EVIDENCE_RULE_VERSION + 1)
    assert summary.Lens.build(1.0, indicators).digest != now
