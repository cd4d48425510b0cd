"""Type aliases shared by the apps (for annotations only; nothing here runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from core.models import User

#: Whoever a request is made by: ``request.user`` (a user, or anonymous before sign-in).
PortalUser: TypeAlias = "User | AnonymousUser"
#: Who changes state: a user, or a system process named by a string (None means "system").
Actor: TypeAlias = "User | AnonymousUser | str | None"
