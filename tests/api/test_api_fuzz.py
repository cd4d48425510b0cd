"""The fuzzer's classes of bad input, over every API route: never a 5xx, always JSON.

Routes come from the schema generator's enumeration, so a new endpoint is covered without
editing this file. Each route gets, for each of its methods, bodies of every class (NaN and
infinities, huge numbers, wrong types, NUL, lone surrogates, deep nesting, an oversized body,
bad content types and undecodable bytes) and hostile query strings, from a user who holds every
role, so that requests reach validation rather than stopping at a 403. Bounded and
deterministic: a few thousand requests, seconds on SQLite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import EndpointEnumerator

from core.models import Role, User
from evaluations.services import RESULT_FIELDS
from governance import services as governance
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.conftest import client_for
from tests.governance_fixtures import activate_default_policy, make_model

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]

#: The fields of one evidence result (a bulk upload's rows).
RESULT_BODY_FIELDS = sorted(RESULT_FIELDS)
#: Field names used anywhere in the API's request bodies.
FIELDS = [
    "slug",
    "name",
    "family",
    "parent",
    "owner_team",
    *RESULT_BODY_FIELDS,
    "effective_compute",
    "step",
    "stage",
    "metadata",
    "results",
    "mapping",
    "correction_reason",
    "compute_limit",
    "rationale",
    "scope",
    "reason",
    "status",
    "dossier_sha256",
    "comment",
]
DEEP = "[" * 5000 + "]" * 5000

#: One value of each class, as JSON text.
BAD_VALUES = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus_infinity": "-Infinity",
    "huge_float": "1e400",
    "huge_int": str(10**40),
    "negative_huge_int": str(-(10**40)),
    "int64_overflow": str(2**63),
    "int32_overflow": str(2**31),
    "list": '["atlas", ["x"]]',
    "object": '{"slug": "atlas", "x": {}}',
    "true": "true",
    "null": "null",
    "number_for_text": "12345",
    "empty_string": '""',
    "nul": '"a\\u0000b"',
    "surrogate": '"a\\ud800b"',
    "low_surrogate": '"\\udfff"',
    "long_text": json.dumps("x" * 100_000),
    "deep": DEEP,
    "deep_object": '{"a": ' * 200 + "1" + "}" * 200,
}

RAW_BODIES = {
    "invalid_json": (b'{"model": ', "application/json"),
    "not_utf8": (b'{"model": "\xff\xfe"}', "application/json"),
    "top_level_list": (b"[1, 2, 3]", "application/json"),
    "top_level_string": (b'"atlas"', "application/json"),
    "top_level_deep": (DEEP.encode(), "application/json"),
    "text_plain": (b"model=atlas", "text/plain"),
    "xml": (b"<model>atlas</model>", "application/xml"),
    "form": (b"model=atlas&value=NaN&results=%00", "application/x-www-form-urlencoded"),
    "bad_multipart": (b"--x\r\nnot a part\r\n--x--", "multipart/form-data; boundary=x"),
    "multipart_no_boundary": (b"garbage", "multipart/form-data"),
    "empty": (b"", "application/json"),
}

BAD_QUERIES = [
    "scope=%00&compute=NaN",
    "compute=1e400&as_of=not-a-date",
    "compute=-1&scope=deployment%00",
    "page=-1&page_size=99999999999999999999",
    "page=%00&ordering=%00",
    "from=1e400&to=%00",
    "from=99999999999999999999&to=-1",
    "model=%00&checkpoint=%00&metric=%00&current=maybe&source=%00",
    "status=%00&key=%00&action=%00&since=nope",
    "as_of=2026-13-45T99:99:99Z",
    "wait=NaN",
]


def endpoints() -> list[tuple[str, str]]:
    """Every (path template, method) of the API, as the schema generator enumerates them."""
    found = EndpointEnumerator().get_api_endpoints()
    return sorted({(path, method) for path, _regex, method, _view in found})


def concrete(path: str, context: dict[str, str]) -> Iterator[str]:
    """The path with real identifiers and with hostile ones."""
    names = re.findall(r"{(\w+)}", path)
    for choice in ("real", "missing", "hostile"):
        text = path
        for name in names:
            if choice == "real":
                value = context.get(name, "1")
            elif choice == "missing":
                value = "999999" if name in ("pk", "id") else "no-such-thing"
            else:
                value = "99999999999999999999999" if name in ("pk", "id") else "%00%ff"
            text = text.replace("{" + name + "}", value)
        yield text


def bodies() -> Iterator[tuple[str, bytes, str]]:
    for label, bad in BAD_VALUES.items():
        everything = "{" + ", ".join(f'"{field}": {bad}' for field in FIELDS) + "}"
        yield f"all-{label}", everything.encode(), "application/json"
        bulk = '{"results": [{' + ", ".join(f'"{f}": {bad}' for f in RESULT_BODY_FIELDS) + "}]}"
        yield f"bulk-{label}", bulk.encode(), "application/json"
    for label, (raw, content_type) in RAW_BODIES.items():
        yield label, raw, content_type


class _EveryRole:
    """Sends each write as an administrator, an RSO and a safety user in turn (one person holds
    one role), so every request reaches validation under some role; reads as the admin."""

    def __init__(self, clients: list[Client]) -> None:
        self.clients = clients
        self.raise_request_exception = True

    def _each(self, method: str, *args: Any, **kwargs: Any) -> Any:
        response = None
        for client in self.clients:
            client.raise_request_exception = self.raise_request_exception
            response = getattr(client, method)(*args, **kwargs)
            if response.status_code != 403:
                return response
        return response

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self.clients[0].raise_request_exception = self.raise_request_exception
        return self.clients[0].get(*args, **kwargs)

    def __getattr__(self, method: str) -> Any:
        return lambda *args, **kwargs: self._each(method, *args, **kwargs)


@pytest.fixture
def fuzzer(db: None) -> _EveryRole:
    """Users of the roles that write, one a title holder, so requests reach validation."""
    from core.services import create_user

    people = [
        create_user("fuzz-admin", Role.ADMIN, password="fuzzer-password-123"),
        create_user("fuzz-rso", Role.LEADERSHIP, titles=["RSO"], password="fuzzer-password-123"),
        create_user("fuzz-safety", Role.SAFETY, password="fuzzer-password-123"),
    ]
    return _EveryRole([client_for(user) for user in people])


@pytest.fixture
def context(safety: User) -> dict[str, str]:
    activate_default_policy()
    model = make_model()
    decision = governance.request_decision(model, 1e24, "fuzz", safety)
    return {
        "slug": model.slug,
        "pk": str(decision.pk),
        "id": str(decision.pk),
        "requirement_code": "ASL2S.access_control",
        "key_id": "none",
    }


def check(response: Any, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{response.status_code} {what}: {response.content[:200]!r}")
    elif response.status_code >= 400 and not response["Content-Type"].startswith(
        "application/json"
    ):
        # Successes may be other media (the audit export is a zip, the docs a page); errors not.
        failures.append(f"{response.status_code} not JSON ({response['Content-Type']}) {what}")


@pytest.mark.usefixtures("audit_keys")  # a missing signing key is a (deliberate) config 500
def test_no_route_answers_5xx_or_non_json_to_any_class_of_bad_input(fuzzer, context, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # so that "oversized" stays cheap
    fuzzer.raise_request_exception = False
    oversized = b'{"notes": "' + b"x" * (65 * 1024) + b'"}'
    failures: list[str] = []
    requests = 0
    every_body = [*bodies(), ("oversized", oversized, "application/json")]
    for template, method in endpoints():
        for variant, path in enumerate(concrete(template, context)):
            # Every class against the real objects; a sample against missing and hostile ids.
            if method == "GET":
                for query in BAD_QUERIES if variant == 0 else BAD_QUERIES[:2]:
                    response = fuzzer.get(f"{path}?{query}")
                    check(response, f"GET {path}?{query}", failures)
                    requests += 1
                continue
            send = getattr(fuzzer, method.lower())
            for label, raw, content_type in every_body if variant == 0 else every_body[::8]:
                response = send(path, raw, content_type=content_type)
                check(response, f"{method} {path} [{label}]", failures)
                requests += 1
    assert requests > 500
    assert not failures, "\n".join(failures[:40])
