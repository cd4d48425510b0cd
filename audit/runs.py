"""Signed verification runs: which recorded outcome the gate may trust.

A stored ``VerificationRun`` is a row anyone with owner rights can insert. So a run counts only
when it carries the audit signing key's Ed25519 signature over what it claims (origin, kind,
time, outcome, log size, head hash and, when recorded, the Merkle frontier the next quick check
resumes from) and its time is not in the future beyond ``CLOCK_SKEW``. The worker holds the
key; web processes hold only the public key, so they can check runs but never make one count
(their runs are recorded unsigned, for information).

The gate trusts the *decisive* run: walking the newest runs by time, the first validly signed
run decides; an unsigned failure also decides (a failure pauses, whoever recorded it); an
unsigned or forged success, and any run from the future, is ignored. Verification itself then
names every forged run newer than the newest valid one (:func:`check_runs`).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from audit.models import VerificationRun
from audit.verify_bundle import VerificationError, public_key_from_pem, rfc3339_utc

#: How far in the future a run's time may lie (clocks of worker and database host differ).
CLOCK_SKEW = dt.timedelta(seconds=60)
#: How many of the newest runs the gate looks at for a decisive one; forged runs beyond this
#: many in a row leave the gate without a trusted run (paused), never trusting a forgery.
WINDOW = 20
_CONTEXT = "rsp-portal verification run v1"


def run_message(run: VerificationRun) -> bytes:
    """The exact bytes a run's signature covers."""
    lines = [
        _CONTEXT,
        settings.AUDIT_ORIGIN,
        str(run.kind),
        rfc3339_utc(run.started_at),
        "ok" if run.ok else "failed",
        str(int(run.entries)),
        str(run.head_hash),
        "-" if run.first_bad_seq is None else str(int(run.first_bad_seq)),
    ]
    if run.frontier:
        # Only runs that record a frontier sign it: older runs' messages are unchanged, and
        # a frontier added to or stripped from a signed run breaks its signature.
        lines.append(f"frontier {run.frontier}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign_run(run: VerificationRun, key: Ed25519PrivateKey) -> None:
    """Set ``run.signature`` (the run's fields must be final, ``started_at`` included)."""
    run.signature = base64.b64encode(key.sign(run_message(run))).decode("ascii")


@functools.lru_cache(maxsize=4)
def _key_at(path: str, mtime_ns: int) -> Ed25519PublicKey | None:
    try:
        return public_key_from_pem(Path(path).read_bytes())
    except (OSError, ValueError):
        return None


def verifying_key() -> Ed25519PublicKey | None:
    """The public key (AUDIT_PUBLIC_KEY_FILE), parsed once per file version."""
    path = Path(settings.AUDIT_PUBLIC_KEY_FILE)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _key_at(str(path), mtime)


@functools.lru_cache(maxsize=256)
def _verifies(key_bytes: bytes, message: bytes, signature: str) -> bool:
    key = Ed25519PublicKey.from_public_bytes(key_bytes)
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def signature_valid(run: VerificationRun, key: Ed25519PublicKey | None = None) -> bool:
    """Whether ``run`` carries a valid signature by the audit key."""
    if not run.signature:
        return False
    key = key or verifying_key()
    if key is None:
        return False
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _verifies(raw, run_message(run), run.signature)


def from_future(run: VerificationRun, now: dt.datetime) -> bool:
    return run.started_at > now + CLOCK_SKEW


def decisive(
    runs: Iterable[VerificationRun], now: dt.datetime | None = None
) -> VerificationRun | None:
    """The run the gate relies on among ``runs`` (newest first): the first validly signed one,
    or an earlier-found unsigned failure; forged successes and future runs are skipped."""
    now = now or timezone.now()
    key = verifying_key()
    for run in runs:
        if from_future(run, now):
            continue
        if signature_valid(run, key):
            return run
        if not run.ok and not run.signature:
            return run  # a failure pauses, whoever recorded it
    return None


def newest_runs() -> list[VerificationRun]:
    return list(VerificationRun.objects.order_by("-started_at", "-pk")[:WINDOW])


def trusted_run(now: dt.datetime | None = None) -> VerificationRun | None:
    """The decisive run now (what the gate and ``GET /api/v1/audit/verify/`` rely on)."""
    return decisive(newest_runs(), now)


def forgery(run: VerificationRun, now: dt.datetime) -> str | None:
    """Why ``run`` is a forgery, or None."""
    if from_future(run, now):
        return f"verification run #{run.pk} is dated {rfc3339_utc(run.started_at)}, in the future"
    if run.signature and not signature_valid(run):
        return f"verification run #{run.pk} carries a signature the audit key did not make"
    return None


def recent_runs(now: dt.datetime) -> list[VerificationRun]:
    """The newest runs not from the future at ``now`` (at most ``WINDOW``), newest first."""
    return list(
        VerificationRun.objects.filter(started_at__lte=now + CLOCK_SKEW).order_by(
            "-started_at", "-pk"
        )[:WINDOW]
    )


def check_runs(now: dt.datetime | None = None, recent: list[VerificationRun] | None = None) -> None:
    """Raise VerificationError naming a forged run recorded after the newest valid one (by
    time or by id): a wrong signature, or a time in the future. ``recent``: the
    ``recent_runs(now)`` already read (the quick check reads them once for its anchor)."""
    now = now or timezone.now()
    key = verifying_key()
    runs = recent_runs(now) if recent is None else recent
    newest_valid = next((run for run in runs if signature_valid(run, key)), None)
    suspects = VerificationRun.objects.all()
    if newest_valid is not None:
        suspects = suspects.filter(
            Q(pk__gt=newest_valid.pk) | Q(started_at__gt=newest_valid.started_at)
        )
    else:
        suspects = suspects.filter(started_at__gt=now + CLOCK_SKEW)
    for run in suspects.order_by("pk")[:1000]:
        reason = forgery(run, now)
        if reason is not None:
            raise VerificationError(
                None,
                f"{reason} (a forged verification run: find who inserted it; it never counts)",
            )
