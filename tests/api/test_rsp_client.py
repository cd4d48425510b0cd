"""The Python client and the fail-closed ``rsp-gate`` CLI (clients/python), against a live
server and against fake servers that misbehave: approved, paused, server down, wrong token,
malformed answers, timeouts, retries of transient failures only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as DjangoClient
from rsp_client import APIError, Checkpoint, Client, ProtocolError, Result, TransportError
from rsp_client.cli import main

from core.models import ApiToken, TokenScope
from tests.conftest import bearer, client_for
from tests.governance_fixtures import activate_default_policy, baseline, evaluate_all_below
from tests.governance_fixtures import make_model as make_gated_model

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PATH = ROOT / "clients" / "python"


def token_for(user: Any, scopes: list[str] | None = None) -> str:
    _, text = ApiToken.issue(user, "pipeline-test", scopes or [TokenScope.GATE])
    return text


def rsp_gate(url: str, token: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI as a pipeline would: a separate process configured by the environment."""
    env = {**os.environ, "RSP_URL": url, "RSP_TOKEN": token, "PYTHONPATH": str(CLIENT_PATH)}
    return subprocess.run(
        [sys.executable, "-m", "rsp_client", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def approve(safety: Any, rso: Any, ceo: Any, limit: float = 2e24) -> None:
    response = client_for(safety).post(
        "/api/v1/decisions/",
        {"model": "atlas", "compute_limit": limit, "rationale": "Below every line."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    decision = response.json()
    for signer in (rso, ceo):
        signed = client_for(signer).post(
            f"/api/v1/decisions/{decision['id']}/approve/",
            {"dossier_sha256": decision["dossier_sha256"], "comment": "ok"},
            content_type="application/json",
        )
        assert signed.status_code == 200, signed.content


@pytest.fixture
def approved_model(
    transactional_db: None, verified_trail: Any, safety: Any, rso: Any, ceo: Any
) -> Any:
    activate_default_policy()
    model = make_gated_model()
    evaluate_all_below(model)
    baseline(model, safety)
    approve(safety, rso, ceo)
    return model


# --- The CLI against the live server ----------------------------------------------------------


def test_check_exits_0_when_approved(live_server, approved_model, pipeline):
    done = rsp_gate(live_server.url, token_for(pipeline), "check", "--model", "atlas")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("approved: atlas (scaling)")


def test_check_exits_1_with_every_reason_when_paused(live_server, approved_model, pipeline):
    token = token_for(pipeline)
    done = rsp_gate(live_server.url, token, "check", "--model", "atlas", "--compute", "3e24")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "paused: atlas (scaling)" in done.stdout
    assert "exceeds_approved_compute:" in done.stdout


def test_check_exits_2_on_a_wrong_token(live_server, approved_model):
    done = rsp_gate(live_server.url, "rsp_not-a-real-token", "check", "--model", "atlas")
    assert done.returncode == 2
    assert "token was refused" in done.stderr and "failing closed" in done.stderr


def test_check_exits_2_for_an_unknown_model(live_server, approved_model, pipeline):
    done = rsp_gate(live_server.url, token_for(pipeline), "check", "--model", "nobody")
    assert done.returncode == 2
    assert "404" in done.stderr


def test_check_exits_2_without_configuration():
    done = rsp_gate("", "", "check", "--model", "atlas")
    assert done.returncode == 2
    assert "RSP_URL" in done.stderr


def test_check_exits_2_when_the_server_is_down():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = rsp_gate(f"http://127.0.0.1:{port}", "t", "--retries", "1", "check", "--model", "a")
    assert done.returncode == 2
    assert "Cannot reach" in done.stderr


# --- Fake servers that misbehave --------------------------------------------------------------

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def fake_server(handle: Handler) -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server answering every request with ``handle``; yields (url, paths seen)."""
    seen: list[str] = []

    class RequestHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            handle(self)

        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def answer(status: int, body: bytes, content_type: str = "application/json") -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handle


GOOD_GATE = {
    "model": "atlas",
    "scope": "scaling",
    "state": "approved",
    "reasons": [],
    "required_standards": [],
    "approved_compute_limit": 1e25,
}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>proxy error</html>", "not JSON"),
        (b"[]", "no 'model'"),
        (json.dumps({**GOOD_GATE, "state": "APPROVED"}).encode(), "unknown state"),
        (json.dumps({**GOOD_GATE, "state": True}).encode(), "wrong type"),
        (json.dumps({k: v for k, v in GOOD_GATE.items() if k != "reasons"}).encode(), "reasons"),
        (json.dumps({**GOOD_GATE, "model": "other"}).encode(), "answered about other"),
        (json.dumps({**GOOD_GATE, "reasons": [{"code": "manual_pause"}]}).encode(), "message"),
        (
            json.dumps({**GOOD_GATE, "reasons": [{"code": "x", "message": "y"}]}).encode(),
            "approved' with reasons",
        ),
    ],
)
def test_check_exits_2_on_a_malformed_answer(body, why):
    with fake_server(answer(200, body)) as (url, _):
        done = rsp_gate(url, "t", "check", "--model", "atlas")
    assert done.returncode == 2, done.stdout
    assert why in done.stderr


def test_check_exits_2_when_approved_above_its_own_limit():
    with fake_server(answer(200, json.dumps(GOOD_GATE).encode())) as (url, _):
        ok = rsp_gate(url, "t", "check", "--model", "atlas", "--compute", "1e25")
        above = rsp_gate(url, "t", "check", "--model", "atlas", "--compute", "2e25")
    assert ok.returncode == 0
    assert above.returncode == 2 and "above its approved limit" in above.stderr


def test_check_exits_2_on_a_timeout():
    def slow(request: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
        answer(200, json.dumps(GOOD_GATE).encode())(request)

    with fake_server(slow) as (url, _):
        started = time.monotonic()
        done = rsp_gate(url, "t", "--timeout", "0.5", "--retries", "0", "check", "--model", "atlas")
    assert done.returncode == 2
    assert "within 0.5 s" in done.stderr or "timed out" in done.stderr
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("status", [500, 503, 404, 400])
def test_check_exits_2_on_an_error_status(status):
    with fake_server(answer(status, b'{"detail": "nope"}')) as (url, _):
        done = rsp_gate(url, "t", "--retries", "0", "check", "--model", "atlas")
    assert done.returncode == 2
    assert f"HTTP {status}" in done.stderr


def test_check_exits_1_on_a_paused_answer_from_any_server():
    paused = {**GOOD_GATE, "state": "paused", "reasons": [{"code": "c", "message": "why"}]}
    out: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    with fake_server(answer(200, json.dumps(paused).encode())) as (url, _):
        code = main(["--url", url, "--token", "t", "check", "--model", "atlas"], out=Out())  # type: ignore[arg-type]
    assert code == 1
    assert "  - c: why" in "".join(out)


# --- The client: retries and typed answers ----------------------------------------------------


def flaky(failures: int, status: int = 503) -> Handler:
    calls = {"n": 0}

    def handle(request: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] <= failures:
            answer(status, b'{"detail": "busy"}')(request)
        else:
            answer(200, json.dumps(GOOD_GATE).encode())(request)

    return handle


def test_transient_failures_are_retried():
    with fake_server(flaky(2)) as (url, seen):
        gate = Client(url, "t", retries=2, backoff=0.01).gate("atlas")
    assert gate.approved and len(seen) == 3


def test_other_failures_are_not_retried():
    with fake_server(flaky(5, status=400)) as (url, seen), pytest.raises(APIError) as caught:
        Client(url, "t", retries=3, backoff=0.01).gate("atlas")
    assert caught.value.status == 400 and len(seen) == 1


def test_retries_end_with_the_last_error():
    with fake_server(flaky(5)) as (url, seen), pytest.raises(APIError) as caught:
        Client(url, "t", retries=2, backoff=0.01).gate("atlas")
    assert caught.value.status == 503 and len(seen) == 3


def test_every_attempt_of_a_post_carries_the_same_idempotency_key():
    keys: list[str | None] = []

    def handle(request: BaseHTTPRequestHandler) -> None:
        keys.append(request.headers.get("Idempotency-Key"))
        length = int(request.headers.get("Content-Length") or 0)
        request.rfile.read(length)
        if len(keys) == 1:
            answer(503, b"{}")(request)
        else:
            result = {"id": 1, "model": "a", "checkpoint": "c", "metric": "m", "value": 0.1}
            answer(201, json.dumps(result).encode())(request)

    with fake_server(handle) as (url, _):
        Client(url, "t", retries=1, backoff=0.01).push_result("a", "c", "m", 0.1)
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_a_connection_failure_is_a_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError):
        Client(f"http://127.0.0.1:{port}", "t", retries=0).me()


def test_a_non_json_success_is_a_protocol_error():
    with fake_server(answer(200, b"ok", "text/plain")) as (url, _), pytest.raises(ProtocolError):
        Client(url, "t").gate("atlas")


@pytest.mark.parametrize("kind", [Result, Checkpoint])
@pytest.mark.parametrize("answer_body", [[1, 2], "atlas", None])
def test_an_answer_that_is_not_an_object_is_a_protocol_error(kind: Any, answer_body: Any):
    with pytest.raises(ProtocolError):
        kind.from_json(answer_body)


def test_a_boolean_count_is_not_a_count():
    result = {"id": 1, "model": "a", "checkpoint": "c", "metric": "m", "value": 0.1}
    assert Result.from_json({**result, "n_samples": True}).n_samples is None
    assert Result.from_json({**result, "n_samples": 30}).n_samples == 30
    checkpoint = {"model": "a", "name": "c", "effective_compute": 1e24}
    assert Checkpoint.from_json({**checkpoint, "step": True}).step is None
    assert Checkpoint.from_json({**checkpoint, "step": 7}).step == 7
    with pytest.raises(ProtocolError, match="no 'value'"):
        Result.from_json({k: v for k, v in result.items() if k != "value"})
    with pytest.raises(ProtocolError, match="no 'effective_compute'"):
        Checkpoint.from_json({"model": "a", "name": "c"})


# --- The client against the live server -------------------------------------------------------


def test_a_pipeline_registers_reports_pushes_and_reads_the_gate(
    live_server, transactional_db, verified_trail, pipeline, tmp_path
):
    activate_default_policy()
    client = Client(
        live_server.url,
        token_for(pipeline, [TokenScope.READ, TokenScope.EVIDENCE, TokenScope.GATE]),
    )

    assert client.me()["username"] == "pipeline"
    model = client.register_model("nova", name="Nova", family="nova")
    again = client.register_model("nova", exist_ok=True)
    checkpoint = client.report_checkpoint("nova", "step-1", 1e24, step=1)
    result = client.push_result("nova", "step-1", "cbrn.vct_accuracy", 0.1, n_samples=300)
    bulk = client.push_results(
        [{"model": "nova", "checkpoint": "step-1", "metric": "cyber.ctf_solve_rate", "value": 0.1}]
    )
    gate = client.gate("nova", compute=2e24)

    assert model.slug == again.slug == "nova"
    assert checkpoint.gate is not None and checkpoint.gate.state == "paused"
    assert (result.metric, result.value, result.n_samples) == ("cbrn.vct_accuracy", 0.1, 300)
    assert [r.metric for r in bulk] == ["cyber.ctf_solve_rate"]
    assert not gate.approved and {r.code for r in gate.reasons} >= {"no_approval"}

    with pytest.raises(APIError) as refused:
        client.push_result("nova", "step-1", "cbrn.vct_accuracy", 7.0)
    assert refused.value.status == 400 and "value" in refused.value.errors


def test_push_results_sends_the_generic_format_in_bulk(live_server, transactional_db, pipeline):
    activate_default_policy()
    token = token_for(pipeline, [TokenScope.READ, TokenScope.EVIDENCE, TokenScope.GATE])
    client = Client(live_server.url, token)
    client.register_model("nova")
    client.report_checkpoint("nova", "step-1", 1e24)
    path = ROOT / "var" / "test" / f"results-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": [{"metric": "cbrn.vct_accuracy", "value": 0.2}]}))
    try:
        done = rsp_gate(
            live_server.url,
            token,
            "push-results",
            str(path),
            "--model",
            "nova",
            "--checkpoint",
            "step-1",
        )
        reported = rsp_gate(
            live_server.url,
            token,
            "report-checkpoint",
            "--model",
            "nova",
            "--name",
            "step-2",
            "--compute",
            "2e24",
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr
    assert "stored 1 result(s)" in done.stdout
    assert reported.returncode == 0, reported.stderr
    assert "gate: paused" in reported.stdout


def test_the_django_test_client_and_the_live_server_agree_on_me(live_server, pipeline):
    token = token_for(pipeline)
    direct = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me/").json()
    assert Client(live_server.url, token).me() == direct


# --- examples/training_loop.py ----------------------------------------------------------------


def test_the_example_training_loop_stops_when_the_gate_pauses(
    live_server, approved_model, pipeline, tmp_path
):
    from tests.governance_fixtures import BELOW

    evals = tmp_path / "evals.json"
    evals.write_text(json.dumps(BELOW))
    token = token_for(pipeline, [TokenScope.READ, TokenScope.EVIDENCE, TokenScope.GATE])
    env = {**os.environ, "RSP_URL": live_server.url, "RSP_TOKEN": token}
    env["PYTHONPATH"] = str(CLIENT_PATH)
    argv = ["--model", "atlas", "--steps", "10", "--flop-per-step", "5e23", "--evals", str(evals)]

    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "training_loop.py"), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    # Approved up to 2e24 FLOP: steps 1-4 (0.5e24 .. 2e24) run, step 5 (2.5e24) is paused.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "step 4: trained to 2e+24 FLOP" in done.stdout
    assert "step 5: the gate paused training" in done.stdout
    assert "exceeds_approved_compute" in done.stdout
    assert approved_model.checkpoints.filter(name="step-4").exists()
    assert not approved_model.checkpoints.filter(name="step-5").exists()


def test_a_new_import_format_reaches_the_importer_without_a_client_change(
    live_server, transactional_db, pipeline
):
    """The server tells the client what a file is (``POST results/detect/``): a format
    registered on the server only (the test-only ``scoreboard``, whose files carry a
    ``results`` list the client once took for its generic format) is imported, with no change
    to the client."""
    import importlib

    from evaluations.importers import FORMATS
    from evaluations.models import ImportRecord

    plugin = importlib.import_module("tests.plugins.import_format")  # the test-only format
    FORMATS.setdefault(plugin.NAME, plugin.ScoreboardFormat())
    activate_default_policy()
    token = token_for(pipeline, [TokenScope.READ, TokenScope.EVIDENCE, TokenScope.GATE])
    client = Client(live_server.url, token)
    client.register_model("nova")
    client.report_checkpoint("nova", "step-1", 1e24)
    path = ROOT / "var" / "test" / f"board-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "scoreboard": {"run": "r-7", "task": "vct", "at": "2026-01-02T03:04:05+00:00"},
                "results": [{"name": "vct/acc", "value": 0.25}],
            }
        )
    )
    try:
        assert client.detect(path) == {
            "kind": "log",
            "format": "scoreboard",
            "label": "Scoreboard file",
        }
        done = rsp_gate(
            live_server.url,
            token,
            "push-results",
            str(path),
            "--model",
            "nova",
            "--checkpoint",
            "step-1",
            "--mapping",
            json.dumps({"vct/acc": "cbrn.vct_accuracy"}),
        )
    finally:
        path.unlink()
        FORMATS.pop(plugin.NAME)
    assert done.returncode == 0, done.stderr
    assert ImportRecord.objects.get().format == "scoreboard"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "kind", "fmt"),
    [
        ("r.json", b'[{"metric": "m", "value": 1}]', "results", None),
        ("r.json", b'{"results": [{"metric": "m", "value": 1}]}', "results", None),
        ("r.json", b'{"model": "a", "results": []}', "results", None),
        ("results_2026.json", b'{"results": {"mmlu": {"acc,none": 0.5}}}', "log", "lm_eval"),
        ("x.eval", b"PK\x03\x04rest", "log", "inspect"),
    ],
)
def test_the_server_says_what_a_file_is(pipeline, name, content, kind, fmt):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = bearer(pipeline, [TokenScope.EVIDENCE]).post(
        "/api/v1/results/detect/",
        {"file": SimpleUploadedFile(name, content), "size": str(len(content))},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["kind"], response.json()["format"]) == (kind, fmt)


@pytest.mark.django_db
def test_the_server_names_the_file_it_cannot_read(pipeline):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = bearer(pipeline, [TokenScope.EVIDENCE]).post(
        "/api/v1/results/detect/", {"file": SimpleUploadedFile("a.json", b'{"what": 1}')}
    )
    assert response.status_code == 400 and "file" in response.json()["errors"]
