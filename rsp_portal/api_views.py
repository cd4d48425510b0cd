"""API views shared by every app."""

from __future__ import annotations

from typing import Any


class SchemaPermissionMixin:
    """The OpenAPI schema and docs are for any signed-in user or token holder."""

    actions = {"GET": "policy.view"}

    @classmethod
    def wrap(cls, view_class: type[Any]) -> type[Any]:
        return type(view_class.__name__, (cls, view_class), {})
