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
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import verify_bundle as vb
from tests.bundle_fixtures import ORIGIN, make_log

PREV = bytes(range(32))

#: The fast path's parses (ADR 0058): msgspec's, installed with the project, and the standard
#: library's, which an auditor without msgspec runs. Every test here runs with each.
PARSES = {"json": vb._parse_with_json, "msgspec": vb._parse_with_msgspec}


@pytest.fixture(scope="module", autouse=True, params=sorted(PARSES))
def parse(request: pytest.FixtureRequest) -> Iterator[str]:
    kept = vb._parse_body
    vb._parse_body = PARSES[request.param]
    yield request.param
    vb._parse_body = kept


# The timestamp's field pattern before the fast path (every field's digits, no range).
RFC3339_SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z"
)


def reference_is_rfc3339_utc(value: object) -> bool:
    if not isinstance(value, str) or not RFC3339_SHAPE.fullmatch(value):
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


def assert_plain_proof_is_sound(body: bytes) -> None:
    """``_plainly_canonical`` says True only for a body the canonical encoder writes exactly."""
    try:
        text = body.decode("utf-8")
        obj, end = vb._SCAN_BODY(text, 0)
    except (ValueError, RecursionError, StopIteration):
        return
    if end != len(text) or type(obj) is not dict:
        return
    members = [obj.get(name) for name in ("actor", "data", "object")]
    if not all(type(member) is dict for member in members):
        return
    if vb._plainly_canonical(text, obj, *members):
        assert vb.canonical_json(obj) == body


def assert_same_verdict(seq: int, body: bytes) -> None:
    assert_plain_proof_is_sound(body)
    expected = reference_verdict(seq, body)
    assert (vb._accepted_body(seq, body, PREV.hex(), ORIGIN) is not None) is (expected is None)
    assert fast_verdict(seq, body) == expected


# Keys and strings drawn from a small alphabet, so that objects collide, reorder and nest the
# body's own field names; text with escapes, controls, non-ASCII and astral characters.
KEYS = st.sampled_from(["v", "origin", "seq", "prev", "ts", "type", "id", "a", "b", "é", "Z"])
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    [
        *('"', "\\", "\n", "\x01", "\x7f", "é", "\U0001f600", "\ud800", "a/b", ORIGIN),
        *(":", ":a", '":', "-0,", "-0}", "-0]", "x-0", "{", "}", " ", "a b", "\t", "\u2028"),
    ]
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


def compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spell_with(fields: dict[str, Any], where: str, extra: list[tuple[str, str]]) -> str:
    """``fields`` spelled canonically but for members added to the object ``where`` (the body
    itself when ``""``): each ``(key, raw JSON text)`` written in its sorted place, after a
    member of the same key (so a repeated key, or a number spelled as given)."""

    def spell(obj: dict[str, Any], added: list[tuple[str, str]]) -> str:
        members = [(name, compact(value)) for name, value in obj.items()]
        if obj is fields and where:
            members = [
                (name, spell(fields[where], extra) if name == where else text)
                for name, text in members
            ]
        members = sorted(members + added, key=lambda member: member[0])  # stable: added last
        return "{" + ",".join(f"{compact(name)}:{text}" for name, text in members) + "}"

    if where and type(fields.get(where)) is not dict:
        where = ""
    return spell(fields, [] if where else extra)


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
    spelling = draw(
        st.sampled_from(
            ["canonical"] * 4 + ["ascii", "spaced", "unsorted", "indent", "repeated", "minus zero"]
        )
    )
    if spelling in ("repeated", "minus zero"):
        # A key written twice in sorted place, or a member -0: canonical but for that.
        where = draw(st.sampled_from(["", "actor", "data", "object"]))
        target = fields.get(where, fields) if where else fields
        names = sorted(target) if type(target) is dict else []
        key = draw(st.sampled_from(names) if names and spelling == "repeated" else KEYS)
        raw = (
            compact(draw(VALUES))
            if spelling == "repeated"
            else draw(st.sampled_from(["-0", "[-0]", "[1,-0]", "[[-0],2]"]))
        )
        body = spell_with(fields, where, [(key, raw)]).encode("utf-8", "surrogatepass")
    elif spelling == "canonical":
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
        b"-0",
        b'":',
        b'"a":1,',
        b'"id":1,',
        b"{",
        b'{"a":1}',
        b"\t",
        b": ",
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


def valid_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A valid body's members for entry 1 after ``PREV``, with ``data``."""
    return {
        "v": 1,
        "origin": ORIGIN,
        "seq": 1,
        "prev": PREV.hex(),
        "ts": "2026-03-01T12:00:00Z",
        "action": "a",
        "actor": {},
        "object": {"type": "t", "id": 1},
        "data": data,
    }


def test_the_fast_path_accepts_a_valid_log_and_its_cases_are_not_all_rejections():
    """The properties above must see acceptances too, or they would hold vacuously."""
    prev = vb.GENESIS_PREV
    for seq, body, leaf in make_log(20):
        assert vb._accepted_body(seq, body, prev.hex(), ORIGIN) is not None
        prev = leaf
    body = vb.canonical_json(valid_fields({"é": ["\n", '"', "\x01", "\U0001f600", -3, None, True]}))
    assert reference_verdict(1, body) is None
    assert_same_verdict(1, body)


@pytest.mark.parametrize("number", ["1.5", "2.0", "1e5", "1E400", "-0.0", "[1,0.5]"])
def test_a_float_is_refused_by_every_parse_as_by_the_original_check(number: str):
    """A float in a body otherwise valid and spelled canonically: the parse's float hook is
    what refuses it (the canonical checks after the parse do not look at numbers)."""
    body = compact(valid_fields({"a": "NUMBER"})).replace('"NUMBER"', number).encode()
    assert reference_verdict(1, body) is not None
    assert_same_verdict(1, body)


def test_a_remembered_key_order_changes_no_verdict(monkeypatch: pytest.MonkeyPatch):
    """A key order found sorted is remembered; a body is judged the same before and after,
    an unsorted order is never remembered, and a bundle with a new order in every entry
    leaves the memory at its bound."""
    monkeypatch.setattr(vb, "_SORTED_SHAPES", set())
    monkeypatch.setattr(vb, "_MAX_SHAPES", 50)
    sorted_body = vb.canonical_json(sample_fields())
    unsorted = sorted_body.replace(b'"id":4,"roles":["pipeline"]', b'"roles":["pipeline"],"id":4')
    duplicate = sorted_body.replace(b'"id":4,', b'"id":4,"id":4,')
    for _ in range(2):  # first found, then remembered
        assert vb._accepted_body(1, sorted_body, PREV.hex(), ORIGIN) is not None
        for refused in (unsorted, duplicate):
            assert vb._accepted_body(1, refused, PREV.hex(), ORIGIN) is None
            assert reference_verdict(1, refused) == "body is not canonical JSON"
    assert len(vb._SORTED_SHAPES) == 1
    for index in range(120):
        body = vb.canonical_json(sample_fields(data={f"k{index:03d}": index}))
        assert vb._accepted_body(1, body, PREV.hex(), ORIGIN) is not None
    assert len(vb._SORTED_SHAPES) == 50


@settings(max_examples=400, deadline=None)
@given(TIMESTAMPS | st.text(max_size=30))
def test_the_timestamp_check_is_the_strptime_one(value: str):
    assert vb._is_rfc3339_utc(value) is reference_is_rfc3339_utc(value)


def reference_is_rfc3339_utc_exhaustive_cases() -> list[str]:
    """Every year with the days that depend on it, every month and day of the month in leap,
    common and century years, every hour, minute and second from 00 to 99."""
    cases = [
        f"{year:04d}-{month_day}T00:00:00Z"
        for year in range(10_000)
        for month_day in ("02-28", "02-29", "02-30", "01-01", "12-31", "00-01", "13-01", "01-00")
    ]
    for year in ("2024", "2023", "1900", "2000", "0001", "0004", "0100", "0400", "9999"):
        cases += [
            f"{year}-{month:02d}-{day:02d}T12:30:45.5Z"
            for month in range(100)
            for day in range(100)
        ]
    for a in range(100):
        for b in range(100):
            cases += [
                f"2026-01-01T{a:02d}:{b:02d}:00Z",
                f"2026-01-01T00:{a:02d}:{b:02d}Z",
                f"2026-01-01T{a:02d}:00:{b:02d}.123456789Z",
            ]
    return cases


def test_the_timestamp_pattern_is_the_strptime_check_on_every_date_and_time():
    """The one pattern (ranges included) against the field pattern followed by strptime."""
    cases = reference_is_rfc3339_utc_exhaustive_cases()
    assert [c for c in cases if vb._is_rfc3339_utc(c) is not reference_is_rfc3339_utc(c)] == []
    accepted = {c for c in cases if vb._is_rfc3339_utc(c)}
    assert {"2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "0004-02-29T00:00:00Z"} <= accepted
    assert not {"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "0000-01-01T00:00:00Z"} & accepted
    assert "2026-01-01T23:00:59.123456789Z" in accepted
    assert not {"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z"} & accepted


def sample_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "v": 1,
        "origin": ORIGIN,
        "seq": 1,
        "prev": PREV.hex(),
        "ts": "2026-03-01T12:00:00.000001Z",
        "action": "result.create",
        "actor": {"id": 4, "roles": ["pipeline"], "username": "bench-pipeline"},
        "object": {"type": "evaluations.evalresult", "id": "1"},
        "data": {"model": "bench-model", "n_samples": 200, "partial": False, "value": "2.0"},
    }
    fields.update(changes)
    return fields


def plain_proof(body: bytes) -> bool:
    text = body.decode("utf-8")
    obj = json.loads(text)
    return vb._plainly_canonical(text, obj, obj["actor"], obj["data"], obj["object"])


def test_the_proof_without_reencoding_covers_the_writers_bodies():
    """The writer's bodies take the proof without re-encoding (so the properties above see it
    vouch), spaces inside strings included; bodies outside its reach are re-encoded and still
    accepted."""
    for _, body, _ in make_log(5):
        assert plain_proof(body)
    spaced = vb.canonical_json(sample_fields(data={"note": "a b", "x": " -0,"}))
    assert plain_proof(spaced) is False  # "-0," inside a string: re-encoded
    assert plain_proof(vb.canonical_json(sample_fields(data={"note": "a b : c"})))
    assert plain_proof(vb.canonical_json(sample_fields(data={"n": {}, "m": [{}]})))
    assert plain_proof(vb.canonical_json(sample_fields(data={"n": {"a": 1}}))) is False
    for accepted in (
        spaced,
        vb.canonical_json(sample_fields(data={"nested": {"a": 1}})),  # a fifth object
        vb.canonical_json(sample_fields(data={"nested": {}})),  # a fifth object, empty
        vb.canonical_json(sample_fields(data={"s": "{"})),  # a brace in a string
        vb.canonical_json(sample_fields(data={"s": ":x", "t": "\\"})),  # a backslash
        vb.canonical_json(sample_fields(data={":": ":"})),  # strings that start with ":"
        vb.canonical_json(sample_fields(data={"s": 'a" b', "t": ":"})),  # an escaped quote
    ):
        assert reference_verdict(1, accepted) is None
        assert_same_verdict(1, accepted)


@pytest.mark.parametrize(
    "body",
    [
        # a key written twice, in sorted place, with and without a string that starts with ":"
        b'{"action":"result.create","actor":{"id":4,"id":5},"data":{},'
        b'"object":{"id":"1","type":"t"},"origin":"'
        + ORIGIN.encode()
        + b'","prev":"'
        + PREV.hex().encode()
        + b'","seq":1,"ts":"2026-03-01T12:00:00Z","v":1}',
        b'{"action":":x","actor":{"id":4,"id":5},"data":{},'
        b'"object":{"id":"1","type":"t"},"origin":"'
        + ORIGIN.encode()
        + b'","prev":"'
        + PREV.hex().encode()
        + b'","seq":1,"ts":"2026-03-01T12:00:00Z","v":1}',
        # -0 as a member, in a list, before "}"
        spell_with(sample_fields(), "data", [("z", "-0")]).encode(),
        spell_with(sample_fields(), "data", [("z", "[1,-0]")]).encode(),
        spell_with(sample_fields(), "actor", [("zz", "-0")]).encode(),
        # an escape the encoder would not write, in a body plain otherwise
        vb.canonical_json(sample_fields()).replace(b"bench-model", b"bench\\u002dmodel"),
        vb.canonical_json(sample_fields()).replace(b"bench-model", b"bench\\/model"),
        # a fifth object, its keys out of order or repeated
        vb.canonical_json(sample_fields(data={"n": {"a": 1, "b": 2}})).replace(
            b'{"a":1,"b":2}', b'{"b":2,"a":1}'
        ),
        vb.canonical_json(sample_fields(data={"n": {"a": 1, "b": 2}})).replace(
            b'{"a":1,"b":2}', b'{"a":1,"a":2}'
        ),
        # unsorted keys in one of the four objects
        vb.canonical_json(sample_fields()).replace(
            b'"id":4,"roles":["pipeline"]', b'"roles":["pipeline"],"id":4'
        ),
        # whitespace between tokens: a space after a colon, a tab, a line feed
        vb.canonical_json(sample_fields()).replace(b'"n_samples":200', b'"n_samples": 200'),
        vb.canonical_json(sample_fields()).replace(b',"partial"', b',\t"partial"'),
        vb.canonical_json(sample_fields()).replace(b"}", b"\n}", 1),
    ],
)
def test_what_the_proof_without_reencoding_must_refuse(body: bytes):
    """Each body misses canonical form by one thing the proof checks; all are refused, for
    the original check's reason."""
    assert reference_verdict(1, body) is not None
    assert_same_verdict(1, body)
    try:
        parses = plain_proof(body)
    except ValueError:  # json.loads refuses it outright
        parses = False
    assert parses is False


# Text the proof without re-encoding reads: no quote, backslash or control character, but the
# characters its count and searches look for (colons, spaces, braces, -0, commas).
PLAIN_TEXT = st.text(alphabet=st.sampled_from(list(':- 0,{}[]aé"\\')), max_size=6).filter(
    lambda text: '"' not in text and "\\" not in text
)
PLAIN_SCALARS = st.none() | st.booleans() | st.integers(min_value=-3, max_value=3) | PLAIN_TEXT
PLAIN_VALUES = st.recursive(PLAIN_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
PLAIN_KEYS = KEYS | PLAIN_TEXT


@st.composite
def plain_bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    """Valid bodies with exactly four objects and plain strings (where the proof applies),
    spelled canonically or with one fault of the kind the proof must find: a key repeated in
    sorted place, a member -0, one object's keys out of order, a space or a tab between
    tokens, an escape, a fifth object (keys in any order, maybe repeated)."""
    members = st.dictionaries(PLAIN_KEYS, PLAIN_VALUES, max_size=4)
    fields = sample_fields(
        action=draw(PLAIN_TEXT.filter(bool)),
        actor=draw(members),
        data=draw(members),
        object={"type": draw(PLAIN_VALUES), "id": draw(PLAIN_VALUES), **draw(members)},
    )
    fields.update(draw(st.dictionaries(PLAIN_KEYS, PLAIN_VALUES, max_size=2)))
    where = draw(st.sampled_from(["", "actor", "data", "object"]))
    target = fields[where] if where else fields
    fault = draw(
        st.sampled_from(
            ["none"] * 3 + ["repeated", "minus zero", "order", "space", "escape", "fifth object"]
        )
    )
    if fault in ("repeated", "minus zero"):
        key = draw(
            st.sampled_from(sorted(target)) if fault == "repeated" and target else PLAIN_KEYS
        )
        raw = compact(draw(PLAIN_VALUES)) if fault == "repeated" else "-0"
        text = spell_with(fields, where, [(key, raw)])
    elif fault == "order":
        reordered = dict(reversed(sorted(target.items())))
        ordered = {k: dict(sorted(v.items())) if type(v) is dict else v for k, v in fields.items()}
        if where:
            ordered[where] = reordered
        else:
            ordered = {k: ordered[k] for k in reordered}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)
    elif fault == "fifth object":
        # an object inside a member, spelled as drawn: sorted or not, a key repeated or not
        keys = draw(st.lists(PLAIN_KEYS, min_size=1, max_size=3))
        raw = "{" + ",".join(f"{compact(key)}:{compact(draw(PLAIN_VALUES))}" for key in keys) + "}"
        text = spell_with(fields, where, [(draw(PLAIN_KEYS), raw)])
    else:
        text = compact(fields)
        if fault == "escape":
            # one character of the text spelled as an escape (in a string or not)
            at = draw(st.integers(0, len(text) - 1))
            escape = draw(st.sampled_from(["\\u{:04x}", "\\u{:04X}", "\\/"]))
            text = text[:at] + escape.format(ord(text[at])) + text[at + 1 :]
        if fault == "space":
            spaces = draw(st.sampled_from([(",", ", "), (":", ": "), ("[", "[ "), ("}", "\t}")]))
            text = text.replace(*spaces)
    return 1, text.encode("utf-8")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_bodies())
def test_the_fast_path_agrees_on_bodies_within_the_proofs_reach(case: tuple[int, bytes]):
    seq, body = case
    assert_same_verdict(seq, body)
