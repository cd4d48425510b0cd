"""A test-only gate reason code, ``export_review_pending``.

In the product it is four files: its constant and row in ``governance/gate/codes.py``, its
check in the module of its topic (here a function like the ones in
``governance/gate/decisions.py``), the one call of that check in ``governance/gate/engine.py``,
its row in ``docs/how-the-gate-decides.md``. Here the row is added with ``codes.register`` and
the call by wrapping the engine's last check, so the product stays untouched.
"""

from __future__ import annotations

from governance.gate.codes import ReasonInfo
from governance.gate.inputs import GateInput
from governance.gate.verdict import Reason

ROW = ReasonInfo(
    "export_review_pending",
    "commitments",
    "Export review pending",
    "the export-control review of the model is not signed off",
    "Have the export-control review signed off.",
    "model-detail",
    "Model page",
)


def export_review_reasons(inp: GateInput) -> list[Reason]:
    """The check: every model in this test deployment awaits its export review."""
    return [Reason(code=ROW.code, message="The export-control review is not signed off.")]
