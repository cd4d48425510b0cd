"""Keyed fingerprints of stored credentials, kept in the audit trail.

The password column is authority too: whoever can write a hash of a password they know over a
title holder's can sign in as the holder. So every password the application stores is
fingerprinted in the trail, in the transaction that stores it (``user.create``'s
``credential``, then ``user.password`` on every change, including Django's rehash at sign-in;
``core.models.User.save``). The fingerprint is an HMAC-SHA256 of the stored hash under a key
derived from ``SECRET_KEY``, which the database does not hold: the trail (and every exported
bundle) never carries the hash itself, and the table owner cannot fingerprint a hash of their
own. Signing refuses, and verification names, an account whose column does not match its last
fingerprint (``core.authority``, ``audit.reconcile``). The e-mail address, where reset links go,
is fingerprinted and checked the same way, and a reset link is not sent to an address the trail
does not back (``core.password_reset``).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.utils.crypto import salted_hmac

_SALT = "rsp_portal.core.credential.fingerprint.v1"
#: The e-mail address is authority too: a password-reset link goes to it. It is fingerprinted
#: the same way (``user.create``'s ``address``, then ``user.email``), under its own salt, so
#: the trail never carries the address itself.
ADDRESS = "rsp_portal.core.address.fingerprint.v1"


def fingerprint(stored: str, secret: str | None = None, *, salt: str = _SALT) -> str:
    """The keyed fingerprint of a stored password hash (hex), or of an e-mail address with
    ``salt=ADDRESS``."""
    key = str(settings.SECRET_KEY) if secret is None else secret
    return salted_hmac(salt, stored, secret=key, algorithm="sha256").hexdigest()


def matches(stored: str | None, recorded: str | None, *, salt: str = _SALT) -> bool:
    """Whether ``stored`` is the value the trail fingerprinted; a rotated ``SECRET_KEY`` still
    matches through ``SECRET_KEY_FALLBACKS``."""
    if stored is None or not recorded:
        return False
    secrets = [str(settings.SECRET_KEY), *map(str, getattr(settings, "SECRET_KEY_FALLBACKS", []))]
    return any(hmac.compare_digest(fingerprint(stored, s, salt=salt), recorded) for s in secrets)
