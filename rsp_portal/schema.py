"""OpenAPI post-processing: every operation documents the API's error answers.

The views describe their successes; the errors come from one exception handler and one
middleware (``rsp_portal.api``, ``rsp_portal.middleware``), so they are described here once:
``{"errors": {field: [messages]}}`` for refused input, ``{"detail": ...}`` otherwise.
"""

from __future__ import annotations

from typing import Any

DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "object",
            "description": "messages per field; a nested field's errors nest the same way",
            "additionalProperties": {
                "oneOf": [
                    {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
                    {"type": "object", "description": "a nested field's errors, by name or index"},
                ]
            },
        },
        "code": {
            "type": "string",
            "description": "machine-readable kind of refusal (`invalid`, `conflict`, "
            "`too_large`, `activation_refused`...); absent on a serializer's 400",
        },
    },
    "required": ["errors"],
}

_DETAIL_REF = {"$ref": "#/components/schemas/ErrorDetail"}
_FIELDS_REF = {"$ref": "#/components/schemas/FieldErrors"}
_EITHER = {"oneOf": [_FIELDS_REF, _DETAIL_REF]}

_COMMON = {
    "401": ("Not authenticated: no or an invalid token or session.", _DETAIL_REF),
    "403": ("The role or the token's scopes do not allow this.", _DETAIL_REF),
    "404": ("No such object, or not visible to the caller.", _EITHER),
    "405": ("The route does not support this method.", _DETAIL_REF),
    "500": ("Internal error (never for bad input).", _DETAIL_REF),
    "503": ("The database is unreachable; retry after `Retry-After` seconds.", _DETAIL_REF),
}
_WRITES = {
    "400": ("Refused input, naming each field; or a body that is not valid JSON.", _EITHER),
    "409": ("Conflicts with the stored state.", _EITHER),
    "413": ("The request body is too large.", _EITHER),
    "415": ("Unsupported content type.", _DETAIL_REF),
}
_READS = {"400": ("A query parameter is invalid, naming it.", _EITHER)}
#: Operations whose body drf-spectacular cannot tell is required (several media types, one of
#: them raw text).
REQUIRED_BODIES = {("/api/v1/audit/witness/", "post")}


def add_error_responses(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOK: add the error answers to every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorDetail"] = DETAIL
    schemas["FieldErrors"] = FIELD_ERRORS
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if (path, method) in REQUIRED_BODIES and "requestBody" in operation:
                operation["requestBody"]["required"] = True
            extra = {**_COMMON, **(_READS if method == "get" else _WRITES)}
            responses = operation.setdefault("responses", {})
            for status, (description, schema) in extra.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": schema}},
                    },
                )
    return result
