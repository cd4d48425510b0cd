"""Procedural commitments the policy marks as gating: one reason per commitment past its
deadline (``commitment_overdue``). Pure: the due items come in the input."""

from __future__ import annotations

from governance.gate.codes import COMMITMENT_OVERDUE
from governance.gate.inputs import OverdueCommitment
from governance.gate.values import fmt_date
from governance.gate.verdict import Reason


def commitment_reasons(overdue: tuple[OverdueCommitment, ...]) -> list[Reason]:
    return [
        Reason(
            code=COMMITMENT_OVERDUE,
            message=(
                f"The policy's commitment “{item.text}” ({item.source}) was due on "
                f"{fmt_date(item.due_at)} and is not recorded as kept; record its fulfilment "
                "on the Commitments page."
            ),
            commitment=item.code,
        )
        for item in overdue
    ]
