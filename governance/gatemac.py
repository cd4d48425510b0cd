"""The stored gate is authenticated: a MAC the database cannot make.

``governance_gatestate`` is a memo of the engine's verdict that the API serves without
recomputing. Anyone with owner rights could ``UPDATE ... SET state = 'approved'``. So each row
carries an HMAC-SHA256 over (model, scope, state, verdict, computed_at, valid_until) with a key
the database never holds: the file GATE_MAC_KEY_FILE when set, otherwise a key derived from
SECRET_KEY (Django's ``salted_hmac``; docs/adr/0023). A row whose MAC does not verify is never
served: the reader answers ``paused`` saying the stored gate failed its check and what to run,
and the periodic sweep (``manage.py sweep_gates``) records the mismatch and recomputes it.

``computed_at`` and ``valid_until`` are the verdict's watermark: an older authentic row put
back (a replay) is stale after GATE_MAX_AGE or its ``valid_until`` and is recomputed on read.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.crypto import salted_hmac

from governance.gate.codes import INTERNAL_ERROR
from governance.gate.verdict import Reason, Verdict

if TYPE_CHECKING:
    from governance.models import GateState

_SALT = "rsp_portal.governance.gatestate.mac.v1"

UNVERIFIED_MESSAGE = (
    "The stored gate failed its integrity check: its MAC does not match, so the row was "
    "changed outside the application. It is not served and the model stays paused. Run "
    "`manage.py verify_audit` and `manage.py sweep_gates` (which records the mismatch and "
    "recomputes the gate), and find out who changed governance_gatestate."
)


@functools.lru_cache(maxsize=4)
def _key_from(path: str, secret: str) -> bytes:
    if path:
        data = Path(path).read_bytes().strip()
        if len(data) < 32:
            raise ValueError(f"GATE_MAC_KEY_FILE {path} holds fewer than 32 bytes")
        return hashlib.sha256(data).digest()
    return salted_hmac(_SALT, "key", secret=secret, algorithm="sha256").digest()


def _key() -> bytes:
    path = getattr(settings, "GATE_MAC_KEY_FILE", None)
    return _key_from(str(path) if path else "", str(settings.SECRET_KEY))


def _canonical(value: object) -> object:
    """JSON columns hand numbers back as int or float as they please: compare as floats."""
    # The exact JSON types first (a verdict holds hundreds of values); anything else, subclasses
    # included, takes the general rules below, which the fast path agrees with.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): _canonical(v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind is list:
        return [_canonical(v) for v in value]  # type: ignore[attr-defined]
    if kind is float or kind is int:
        return repr(float(value))  # type: ignore[arg-type]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def _moment(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def compute_mac(
    model_id: int,
    scope: str,
    state: str,
    verdict: Mapping[str, object],
    computed_at: dt.datetime,
    valid_until: dt.datetime | None,
) -> str:
    message = json.dumps(
        [
            "gate-state-v1",
            int(model_id),
            str(scope),
            str(state),
            _canonical(verdict),
            _moment(computed_at),
            _moment(valid_until),
        ],
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def seal(state: GateState) -> None:
    """Set ``state.mac`` (a GateState about to be saved)."""
    state.mac = compute_mac(
        state.model_id,
        state.scope,
        state.state,
        state.verdict,
        state.computed_at,
        state.valid_until,
    )


def verifies(state: GateState) -> bool:
    """Whether a stored GateState's MAC matches its columns (and its state its verdict)."""
    mac = getattr(state, "mac", "") or ""
    if not mac or state.verdict.get("state") != state.state:
        return False
    try:
        expected = compute_mac(
            state.model_id,
            state.scope,
            state.state,
            state.verdict,
            state.computed_at,
            state.valid_until,
        )
    except (TypeError, ValueError, AttributeError):
        return False
    return hmac.compare_digest(mac, expected)


def unverified_verdict() -> dict[str, object]:
    """What is served instead of a row that failed its check: paused, saying what to run."""
    return Verdict(
        state="paused", reasons=(Reason(code=INTERNAL_ERROR, message=UNVERIFIED_MESSAGE),)
    ).to_dict()


def first_unverified(_: None = None) -> str | None:
    """The first stored gate row whose MAC does not verify, described with what to run (the
    answer to ``audit.reconcile.STORED_VERDICT_FAULT``); None when every sealed row verifies."""
    from governance.models import GateState

    for state in GateState.objects.exclude(mac="").select_related("model").order_by("pk"):
        if not verifies(state):
            return (
                f"governance_gatestate row {state.pk} ({state.model.slug}, {state.scope}) "
                "fails its MAC check: it was changed outside the application; it is not "
                "served, and `manage.py sweep_gates` records the mismatch and recomputes it"
            )
    return None
