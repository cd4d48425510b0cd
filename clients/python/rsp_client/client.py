"""A small, typed client for the RSP Portal REST API v1 (standard library only).

Every error is an :class:`RSPError`: :class:`TransportError` when no answer arrived (network,
timeout), :class:`APIError` when the server refused (4xx/5xx, with its ``errors`` or
``detail``), :class:`ProtocolError` when the answer was not what the API promises (not JSON,
wrong shape). Transient failures (no connection, a timeout, 429, 502, 503, 504) are retried
with backoff; every POST carries one ``Idempotency-Key`` for all its attempts, so a retried
result is stored once. Nothing else is retried.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "APIError",
    "Checkpoint",
    "Client",
    "Decision",
    "Gate",
    "Model",
    "ProtocolError",
    "RSPError",
    "Reason",
    "Result",
    "TransportError",
]

DEFAULT_TIMEOUT = 10.0
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
GATE_STATES = frozenset({"approved", "paused"})
#: How much of a file :meth:`Client.detect` sends: enough for the server to tell its format.
DETECT_BYTES = 64 * 1024
_MAX_RETRY_AFTER = 30.0


class RSPError(Exception):
    """Anything that kept the client from a valid answer."""


class TransportError(RSPError):
    """No answer: the server could not be reached, or did not answer in time."""


class ProtocolError(RSPError):
    """An answer that is not what the API promises (not JSON, or the wrong shape)."""


class APIError(RSPError):
    """The server refused: ``status`` with its ``errors`` (per field) or ``detail``."""

    def __init__(self, status: int, body: object) -> None:
        self.status = status
        self.body = body
        self.errors: dict[str, list[str]] = {}
        self.detail = ""
        if isinstance(body, dict):
            if isinstance(body.get("errors"), dict):
                self.errors = {str(k): _messages(v) for k, v in body["errors"].items()}
            if isinstance(body.get("detail"), str):
                self.detail = body["detail"]
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.detail:
            parts.append(self.detail)
        for name, messages in self.errors.items():
            parts.append(f"{name}: {' '.join(messages)}")
        return "; ".join(parts)


def _messages(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


_T = TypeVar("_T")


def _require(data: object, key: str, kind: type[_T], what: str) -> _T:
    if not isinstance(data, dict) or key not in data:
        raise ProtocolError(f"{what}: the answer has no {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"{what}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _optional_number(data: Mapping[str, object], key: str, what: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{what}: {key!r} is not a finite number")
    return float(value)


def _number(data: object, key: str, what: str) -> float:
    """A required finite number of the object ``data`` (else :class:`ProtocolError`)."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: the answer is not an object")
    value = _optional_number(data, key, what)
    if value is None:
        raise ProtocolError(f"{what}: the answer has no {key!r}")
    return value


def _optional_count(data: Mapping[str, object], key: str) -> int | None:
    """An optional whole number (a boolean is not one); anything else reads as absent."""
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- Typed results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why a gate is paused: a stable ``code`` (e.g. ``no_approval``) and a message in words."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Gate:
    """A gate verdict. ``approved`` is true only for a well-formed ``approved`` answer."""

    model: str
    scope: str
    state: str
    reasons: list[Reason]
    approved_compute_limit: float | None
    planned_compute: float | None
    required_standards: list[str]
    policy_version: str | None
    evaluated_checkpoint: str | None
    computed_at: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def approved(self) -> bool:
        return self.state == "approved"

    @classmethod
    def from_json(cls, data: Any) -> Gate:
        """Check the answer's shape strictly: anything unexpected is a ProtocolError."""
        what = "gate"
        model = _require(data, "model", str, what)
        scope = _require(data, "scope", str, what)
        state = _require(data, "state", str, what)
        if state not in GATE_STATES:
            raise ProtocolError(f"gate: unknown state {state!r}")
        raw_reasons = _require(data, "reasons", list, what)
        reasons = []
        for item in raw_reasons:
            code = _require(item, "code", str, "gate reason")
            message = _require(item, "message", str, "gate reason")
            reasons.append(Reason(code, message))
        if state == "approved" and reasons:
            raise ProtocolError("gate: 'approved' with reasons against it")
        standards = data.get("required_standards") or []
        if not isinstance(standards, list) or not all(isinstance(s, str) for s in standards):
            raise ProtocolError("gate: 'required_standards' is not a list of codes")
        return cls(
            model=model,
            scope=scope,
            state=state,
            reasons=reasons,
            approved_compute_limit=_optional_number(data, "approved_compute_limit", what),
            planned_compute=_optional_number(data, "planned_compute", what),
            required_standards=list(standards),
            policy_version=_text_or_none(data.get("policy_version")),
            evaluated_checkpoint=_text_or_none(data.get("evaluated_checkpoint")),
            computed_at=_text_or_none(data.get("computed_at")),
            raw=data,
        )


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Model:
    slug: str
    name: str
    family: str
    parent: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Model:
        return cls(
            slug=_require(data, "slug", str, "model"),
            name=str(data.get("name") or ""),
            family=str(data.get("family") or ""),
            parent=_text_or_none(data.get("parent")),
            raw=data,
        )


@dataclass(frozen=True)
class Checkpoint:
    model: str
    name: str
    effective_compute: float
    step: int | None
    stage: str
    gate: Gate | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        compute = _number(data, "effective_compute", "checkpoint")
        return cls(
            model=_require(data, "model", str, "checkpoint"),
            name=_require(data, "name", str, "checkpoint"),
            effective_compute=compute,
            step=_optional_count(data, "step"),
            stage=str(data.get("stage") or ""),
            gate=Gate.from_json(data["gate"]) if data.get("gate") is not None else None,
            raw=data,
        )


@dataclass(frozen=True)
class Result:
    id: int
    model: str
    checkpoint: str
    metric: str
    value: float
    stderr: float | None
    n_samples: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Result:
        value = _number(data, "value", "result")
        return cls(
            id=_require(data, "id", int, "result"),
            model=_require(data, "model", str, "result"),
            checkpoint=_require(data, "checkpoint", str, "result"),
            metric=_require(data, "metric", str, "result"),
            value=value,
            stderr=_optional_number(data, "stderr", "result"),
            n_samples=_optional_count(data, "n_samples"),
            raw=data,
        )


@dataclass(frozen=True)
class Decision:
    id: int
    model: str
    status: str
    compute_limit: float | None
    dossier_sha256: str
    required_titles: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        titles = data.get("required_titles") if isinstance(data, dict) else None
        return cls(
            id=_require(data, "id", int, "decision"),
            model=str(data.get("model") or ""),
            status=_require(data, "status", str, "decision"),
            compute_limit=_optional_number(data, "compute_limit", "decision"),
            dossier_sha256=str(data.get("dossier_sha256") or ""),
            required_titles=[str(t) for t in titles] if isinstance(titles, list) else [],
            raw=data,
        )


# --- The client -----------------------------------------------------------------------------


class Client:
    """The RSP Portal API at ``url`` (e.g. ``https://rsp.example``) with a bearer ``token``.

    ``timeout`` bounds each attempt (seconds); ``retries`` is how many times a transient
    failure is tried again, waiting ``backoff`` seconds, doubled each time (or the server's
    ``Retry-After``, at most 30 s).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if not url:
            raise RSPError("No portal URL: set RSP_URL or pass url.")
        if not token:
            raise RSPError("No API token: set RSP_TOKEN or pass token.")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RSPError(f"The portal URL must be http(s)://host[:port], not {url!r}.")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """A client configured by ``RSP_URL`` and ``RSP_TOKEN``."""
        return cls(os.environ.get("RSP_URL", ""), os.environ.get("RSP_TOKEN", ""), **kwargs)

    # -- Transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        json_body: object = None,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one API request (with retries) and return its decoded JSON answer."""
        url = f"{self.url}/api/v1/{path.lstrip('/')}"
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            url += "?" + urllib.parse.urlencode(pairs)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "User-Agent": "rsp-client/0.1",
        }
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                status, raw, retry_after = self._send(method, url, headers, body)
            except TransportError:
                if attempt >= self.retries:
                    raise
            else:
                if status not in TRANSIENT_STATUSES or attempt >= self.retries:
                    return self._decode(status, raw)
            attempt += 1
            time.sleep(min(_MAX_RETRY_AFTER, retry_after or self.backoff * 2 ** (attempt - 1)))

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes, float | None]:
        req = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, resp.read(), None
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except (OSError, HTTPException):
                raw = b""
            return exc.code, raw, _retry_after(exc.headers.get("Retry-After"))
        except urllib.error.URLError as exc:
            raise TransportError(f"Cannot reach {self.url}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise TransportError(f"No answer from {self.url} within {self.timeout:g} s") from exc
        except (OSError, HTTPException) as exc:
            raise TransportError(f"Connection to {self.url} failed: {exc!r}") from exc

    @staticmethod
    def _decode(status: int, raw: bytes) -> Any:
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            if 200 <= status < 300:
                raise ProtocolError(f"HTTP {status} with an answer that is not JSON") from None
            raise APIError(status, {"detail": raw[:200].decode("utf-8", "replace")}) from None
        if not 200 <= status < 300:
            raise APIError(status, data)
        return data

    # -- Identity ----------------------------------------------------------------------------

    def me(self) -> dict[str, object]:
        """Who the token belongs to, and its scopes (any valid token may ask)."""
        data = self.request("GET", "me/")
        _require(data, "username", str, "me")
        return data  # type: ignore[no-any-return]

    # -- Evidence ----------------------------------------------------------------------------

    def register_model(
        self,
        slug: str,
        *,
        name: str | None = None,
        family: str | None = None,
        parent: str | None = None,
        exist_ok: bool = False,
    ) -> Model:
        """Register a model; with ``exist_ok`` an existing one with that slug is returned."""
        body = {"slug": slug, "name": name, "family": family, "parent": parent}
        try:
            data = self.request("POST", "models/", json_body=_without_none(body))
        except APIError as exc:
            if exist_ok and exc.status == 409:
                return self.model(slug)
            raise
        return Model.from_json(data)

    def model(self, slug: str) -> Model:
        return Model.from_json(self.request("GET", f"models/{_segment(slug)}/"))

    def report_checkpoint(
        self,
        model: str,
        name: str,
        effective_compute: float,
        *,
        step: int | None = None,
        stage: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> Checkpoint:
        """Report a checkpoint with its effective compute (FLOP); the answer carries the gate."""
        body = {
            "name": name,
            "effective_compute": effective_compute,
            "step": step,
            "stage": stage,
            "metadata": dict(metadata) if metadata is not None else None,
        }
        data = self.request(
            "POST", f"models/{_segment(model)}/checkpoints/", json_body=_without_none(body)
        )
        return Checkpoint.from_json(data)

    def push_result(
        self,
        model: str,
        checkpoint: str,
        metric: str,
        value: float,
        *,
        idempotency_key: str | None = None,
        **fields: object,
    ) -> Result:
        """Record one result (``stderr``, ``n_samples``, ``elicitation``, ``notes``...)."""
        body = {"model": model, "checkpoint": checkpoint, "metric": metric, "value": value}
        body.update(_without_none(fields))
        data = self.request("POST", "results/", json_body=body, idempotency_key=idempotency_key)
        return Result.from_json(data)

    def push_results(
        self, results: Sequence[Mapping[str, object]], *, idempotency_key: str | None = None
    ) -> list[Result]:
        """Record several results, all or none (errors name ``results[i].field``)."""
        data = self.request(
            "POST",
            "results/bulk/",
            json_body={"results": [dict(r) for r in results]},
            idempotency_key=idempotency_key,
        )
        items = _require(data, "results", list, "bulk results")
        return [Result.from_json(item) for item in items]

    def detect(self, path: str | os.PathLike[str]) -> dict[str, object]:
        """What the server makes of a file: ``{"kind": "log", "format": ..., "label": ...}``
        (import it) or ``{"kind": "results", ...}`` (post its results in bulk). Only the first
        :data:`DETECT_BYTES` are sent; the server's format registry decides, so a format added
        on the server needs no change here."""
        file = Path(path)
        with file.open("rb") as handle:
            head = handle.read(DETECT_BYTES)
        fields = {"size": str(file.stat().st_size)}
        body, content_type = _multipart(fields, "file", file.name, head)
        data = self.request("POST", "results/detect/", body=body, content_type=content_type)
        if not isinstance(data, dict) or data.get("kind") not in ("log", "results"):
            raise ProtocolError("detect: the answer is not a file kind")
        return data

    def import_log(
        self,
        path: str | os.PathLike[str],
        model: str,
        checkpoint: str,
        *,
        mapping: Mapping[str, str] | None = None,
        preview: bool = False,
    ) -> dict[str, object]:
        """Import a log of any format the server knows (Inspect AI, lm-eval, ...)."""
        file = Path(path)
        fields = {"model": model, "checkpoint": checkpoint}
        if mapping:
            fields["mapping"] = json.dumps(dict(mapping))
        if preview:
            fields["preview"] = "true"
        body, content_type = _multipart(fields, "file", file.name, file.read_bytes())
        data = self.request("POST", "results/import/", body=body, content_type=content_type)
        if not isinstance(data, dict):
            raise ProtocolError("import: the answer is not a JSON object")
        return data

    # -- The gate and decisions --------------------------------------------------------------

    def gate(self, model: str, *, scope: str = "scaling", compute: float | None = None) -> Gate:
        """The gate for ``model``; an answer about another model or scope is a ProtocolError."""
        query = {"scope": scope, "compute": repr(float(compute)) if compute is not None else None}
        gate = Gate.from_json(self.request("GET", f"models/{_segment(model)}/gate/", query=query))
        if gate.model != model or gate.scope != scope:
            raise ProtocolError(
                f"gate: asked about {model}/{scope}, answered about {gate.model}/{gate.scope}"
            )
        return gate

    def decisions(self) -> list[Decision]:
        data = self.request("GET", "decisions/")
        items = data.get("results") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ProtocolError("decisions: the answer is not a list")
        return [Decision.from_json(item) for item in items]

    def request_decision(
        self,
        model: str,
        compute_limit: float | None,
        rationale: str,
        *,
        scope: str | None = None,
    ) -> Decision:
        body = {
            "model": model,
            "compute_limit": compute_limit,
            "rationale": rationale,
            "scope": scope,
        }
        return Decision.from_json(self.request("POST", "decisions/", json_body=_without_none(body)))


def _without_none(values: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _multipart(
    fields: Mapping[str, str], file_field: str, filename: str, content: bytes
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{safe_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
