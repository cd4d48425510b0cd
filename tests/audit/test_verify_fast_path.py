"""The verifier's fast path accepts exactly the bodies the original check accepted.

``verify_entries`` checks each body with ``_accepted_body`` (one parse, one canonical
re-encoding compared as text, the field checks) and falls back to ``_check_body`` to say why
when it does not accept. ``reference_check_body`` below is the check as it was before the
fast path, kept verbatim (``json.loads`` with the float and constant hooks, ``canonical_json``
compared as bytes, ``strptime`` for the timestamp): the properties hold the fast path to it on
random bodies and on bodies mutated byte by byte.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import verify_bundle as vb
from tests.bundle_fixtures import ORIGIN, make_log

PREV = bytes(range(32))


def reference_is_rfc3339_utc(value: object) -> bool:
    if not isinstance(value, str) or not vb._RFC3339_UTC.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


def reference_check_body(seq: int, body: bytes, prev: bytes, origin: str) -> None:
    """The body check before the fast path (raises VerificationError)."""
    try:
        obj = json.loads(
            body.decode("utf-8"),
            parse_float=vb._reject_float,
            parse_constant=vb._reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise vb.VerificationError(seq, f"body is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise vb.VerificationError(seq, "body is not a JSON object")
    try:
        canonical = vb.canonical_json(obj) == body
    except (TypeError, ValueError):
        canonical = False
    if not canonical:
        raise vb.VerificationError(seq, "body is not canonical JSON")
    if obj.get("v") != vb.BODY_VERSION or type(obj.get("v")) is not int:
        raise vb.VerificationError(seq, f"body version is not {vb.BODY_VERSION}")
    if obj.get("origin") != origin:
        raise vb.VerificationError(seq, f"body origin {obj.get('origin')!r} is not {origin!r}")
    body_seq = obj.get("seq")
    if type(body_seq) is not int or body_seq != seq:
        raise vb.VerificationError(seq, f"body says seq {body_seq!r}")
    if obj.get("prev") != prev.hex():
        if seq == 0:
            raise vb.VerificationError(seq, "prev is not the genesis value (64 zeros)")
        raise vb.VerificationError(seq, f"prev does not match hash of entry {seq - 1}")
    if not reference_is_rfc3339_utc(obj.get("ts")):
        raise vb.VerificationError(seq, "ts is not an RFC 3339 UTC timestamp")
    action = obj.get("action")
    if not isinstance(action, str) or not action:
        raise vb.VerificationError(seq, "action is missing")
    for key in ("actor", "object", "data"):
        if not isinstance(obj.get(key), dict):
            raise vb.VerificationError(seq, f"{key} is not an object")
    if "type" not in obj["object"] or "id" not in obj["object"]:
        raise vb.VerificationError(seq, "object lacks type or id")


def reference_verdict(seq: int, body: bytes) -> str | None:
    try:
        reference_check_body(seq, body, PREV, ORIGIN)
    except vb.VerificationError as exc:
        return exc.message
    return None


def fast_verdict(seq: int, body: bytes) -> str | None:
    """What ``verify_entries`` decides for this body: the fast path, else the explanation."""
    if vb._accepted_body(seq, body, PREV.hex(), ORIGIN) is not None:
        return None
    try:
        vb._check_body(seq, body, PREV, ORIGIN)
    except vb.VerificationError as exc:
        return exc.message
    return None


def assert_same_verdict(seq: int, body: bytes) -> None:
    expected = reference_verdict(seq, body)
    assert (vb._accepted_body(seq, body, PREV.hex(), ORIGIN) is not None) is (expected is None)
    assert fast_verdict(seq, body) == expected


# Keys and strings drawn from a small alphabet, so that objects collide, reorder and nest the
# body's own field names; text with escapes, controls, non-ASCII and astral characters.
KEYS = st.sampled_from(["v", "origin", "seq", "prev", "ts", "type", "id", "a", "b", "é", "Z"])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ['"', "\\", "\n", "\x01", "\x7f", "é", "\U0001f600", "\ud800", "a/b", ORIGIN]
)
CLEAN_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.sampled_from([0, -1, 1, 2])
    | TEXT
)
CLEAN = st.recursive(
    CLEAN_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
# Also floats, NaN and infinities, which no body may hold.
ANY = st.recursive(
    CLEAN_SCALARS | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
VALUES = st.sampled_from([CLEAN] * 12 + [ANY]).flatmap(lambda values: values)
VALID_TIMESTAMPS = st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC)).map(
    vb.rfc3339_utc
)
TIMESTAMPS = (
    VALID_TIMESTAMPS
    | VALID_TIMESTAMPS
    | st.builds(
        lambda digits, fraction: (
            "{}{}{}{}-{}{}-{}{}T{}{}:{}{}:{}{}".format(*digits) + fraction + "Z"
        ),
        st.lists(st.sampled_from("0123456789"), min_size=14, max_size=14),
        st.sampled_from(["", ".5", ".000001", ".1234567890"]),
    )
    | st.sampled_from(
        [
            "2026-03-01T12:00:00Z",
            "2026-02-29T12:00:00Z",
            "2024-02-29T23:59:59.999999Z",
            "2026-03-01T12:00:60Z",
            "2026-03-01T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-03-01 12:00:00Z",
            "2026-03-01T12:00:00+00:00",
        ]
    )
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    """A body near the valid ones: each field right, wrong or missing, extra members, and
    the whole encoded canonically or in one of json's other spellings."""
    seq = draw(st.sampled_from([0, 1, 7]))
    fields: dict[str, Any] = {
        "v": 1,
        "origin": ORIGIN,
        "seq": seq,
        "prev": PREV.hex(),
        "ts": draw(TIMESTAMPS),
        "action": "result.create",
        "actor": draw(st.dictionaries(KEYS, VALUES, max_size=3)),
        "object": {"type": "t", "id": draw(VALUES), **draw(st.dictionaries(KEYS, VALUES))},
        "data": draw(st.dictionaries(KEYS, VALUES, max_size=4)),
    }
    wrong: dict[str, list[Any]] = {
        "v": [2, True, "1", 1.0, 0],
        "origin": ["other.example/log", "", None],
        "seq": [seq + 1, True, str(seq), -1],
        "prev": ["00" * 32, PREV.hex().upper(), PREV.hex()[:-1]],
        "action": ["", 3, None],
        "actor": ["someone", [], None],
        "object": [{"type": "t"}, {"id": 1}, [], "o"],
        "data": [[], "d", 1],
    }
    breaks = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=breaks, unique=True)):
        if name in wrong and draw(st.booleans()):
            fields[name] = draw(st.sampled_from(wrong[name]) | VALUES)
        else:
            del fields[name]
    if draw(st.integers(0, 3)) == 0:
        fields.update(draw(st.dictionaries(KEYS, VALUES, max_size=2)))
    spelling = draw(st.sampled_from(["canonical"] * 4 + ["ascii", "spaced", "unsorted", "indent"]))
    if spelling == "canonical":
        try:
            body = vb.canonical_json(fields)
        except (TypeError, ValueError):
            body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    else:
        text = json.dumps(
            fields,
            sort_keys=spelling != "unsorted",
            ensure_ascii=spelling == "ascii",
            separators=None if spelling == "spaced" else (",", ":"),
            indent=1 if spelling == "indent" else None,
        )
        body = text.encode("utf-8", "surrogatepass")
    return seq, body


MUTATIONS = st.sampled_from(
    [
        b" ",
        b"\n",
        b"\\",
        b'"',
        b",",
        b":",
        b"-",
        b"0",
        b"-0",
        b"1.0",
        b"NaN",
        b"\\u0041",
        b"\\/",
        b"\xef\xbb\xbf",
        b"\xff",
        b"\xc3",
        b'"v":1,',
        b'"action":"x",',
        b"}",
        b"]",
        b"",
    ]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_fast_path_accepts_exactly_what_the_original_check_accepted(case: tuple[int, bytes]):
    seq, body = case
    assert_same_verdict(seq, body)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bodies(),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=3), MUTATIONS),
        min_size=1,
        max_size=3,
    ),
)
def test_the_fast_path_agrees_on_mutated_bodies(
    case: tuple[int, bytes], edits: list[tuple[int, int, bytes]]
):
    """Bytes inserted, replaced or deleted anywhere in a body (valid or not)."""
    seq, body = case
    for where, cut, insert in edits:
        at = where % (len(body) + 1)
        body = body[:at] + insert + body[at + cut :]
    assert_same_verdict(seq, body)


def test_the_fast_path_accepts_a_valid_log_and_its_cases_are_not_all_rejections():
    """The properties above must see acceptances too, or they would hold vacuously."""
    prev = vb.GENESIS_PREV
    for seq, body, leaf in make_log(20):
        assert vb._accepted_body(seq, body, prev.hex(), ORIGIN) is not None
        prev = leaf
    obj = {
        "v": 1,
        "origin": ORIGIN,
        "seq": 1,
        "prev": PREV.hex(),
        "ts": "2026-03-01T12:00:00Z",
        "action": "a",
        "actor": {},
        "object": {"type": "t", "id": 1},
        "data": {"é": ["\n", '"', "\x01", "\U0001f600", -3, None, True]},
    }
    body = vb.canonical_json(obj)
    assert reference_verdict(1, body) is None
    assert_same_verdict(1, body)


@settings(max_examples=400, deadline=None)
@given(TIMESTAMPS | st.text(max_size=30))
def test_the_timestamp_check_is_the_strptime_one(value: str):
    assert vb._is_rfc3339_utc(value) is reference_is_rfc3339_utc(value)
