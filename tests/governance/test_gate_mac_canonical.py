"""The stored gate's MAC covers the canonical form of its verdict: the fast path for JSON's own
types gives exactly what the general rules give, for every value, subclasses included."""

from __future__ import annotations

import enum
from collections import OrderedDict
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from governance import gatemac


def general_rules(value: object) -> object:
    """The canonical form as the MAC has always defined it (isinstance rules only)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, dict):
        return {str(k): general_rules(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [general_rules(v) for v in value]
    return str(value)


class Level(enum.IntEnum):
    HIGH = 3


class Code(enum.StrEnum):
    HALT = "halt"


class Text(str):
    pass


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from([Level.HIGH, Code.HALT, Text("x"), Decimal("1.5")]),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=3).map(OrderedDict),
    ),
    max_leaves=30,
)


@given(values)
def test_the_canonical_form_is_the_general_rules(value: object) -> None:
    assert gatemac._canonical(value) == general_rules(value)


def test_a_verdicts_numbers_compare_as_floats_whatever_json_hands_back() -> None:
    verdict = {"state": "approved", "score": 1, "lines": [0.5, 2], "flag": True, "none": None}
    same = {"state": "approved", "score": 1.0, "lines": [0.5, 2.0], "flag": True, "none": None}
    assert gatemac._canonical(verdict) == gatemac._canonical(same)
    assert gatemac._canonical({"flag": True}) != gatemac._canonical({"flag": 1})
