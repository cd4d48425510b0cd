"""One of each extension, done as a test-only plugin (``tests/plugins/``), proving the file
counts CONTRIBUTING.md gives: a new import format, a new notification channel and a new gate
reason code each touch at most four files, and nothing else in the product needs to change."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evaluations import import_service
from evaluations.importers import FORMATS, accepted_files
from evaluations.models import EvalResult, ImportRecord
from governance import notifications, reasons, views
from governance.forms import SubscriptionForm
from governance.gate import engine, evaluate
from governance.gate.codes import RANK, REASON, register, unregister
from governance.models import Notification, Subscription
from governance.transports import TRANSPORTS
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)
from tests.evidence_fixtures import VCT
from tests.gate_fixtures import happy

REPO = Path(__file__).resolve().parents[2]
MAX_FILES = 4


def _plugin(name: str) -> ModuleType:
    return importlib.import_module(f"tests.plugins.{name}")


@pytest.fixture
def scoreboard() -> Iterator[ModuleType]:
    module = _plugin("import_format")
    FORMATS.setdefault(module.NAME, module.ScoreboardFormat())  # registered when defined
    yield module
    FORMATS.pop(module.NAME)


@pytest.fixture
def pager() -> Iterator[ModuleType]:
    module = _plugin("channel")
    TRANSPORTS.setdefault(module.KIND, module.PagerTransport())
    module.PAGED.clear()
    yield module
    TRANSPORTS.pop(module.KIND)


@pytest.fixture
def export_review() -> Iterator[ModuleType]:
    module = _plugin("reason_code")
    register(module.ROW, after="safeguard_expired")
    yield module
    unregister(module.ROW.code)


@pytest.mark.django_db
def test_a_new_import_format_is_one_reader(scoreboard, ckpt, safety, tmp_path) -> None:
    sample = tmp_path / "board.json"
    sample.write_text(
        json.dumps(
            {
                "scoreboard": {"run": "r-1", "task": "vct", "at": "2026-01-02T03:04:05+00:00"},
                "results": [{"name": "vct/acc", "value": 0.25}],
            }
        )
    )
    outcome = import_service.import_log(
        SimpleUploadedFile(sample.name, sample.read_bytes()),
        model="atlas",
        checkpoint="step-1000",
        mapping={"vct/acc": VCT},
        actor=safety,
    )
    assert not outcome.failed
    assert ImportRecord.objects.get().format == "scoreboard"
    assert EvalResult.objects.get().value == 0.25
    assert "Scoreboard .json files" in accepted_files()


@pytest.mark.django_db
def test_a_new_notification_channel_is_one_transport(pager, rso) -> None:
    form = SubscriptionForm(
        data={"name": "on-call", "kind": "pager", "target": "+4412345678", "active": "on"}
    )
    assert ("pager", "On-call pager") in form.fields["kind"].choices  # type: ignore[attr-defined]
    assert form.is_valid(), form.errors
    subscription = notifications.save_subscription(form.save(commit=False), rso)
    assert notifications.shown_target(subscription) == "+441…"
    [queued] = [
        n for n in notifications.notify("model.paused", {"model": "atlas"}, roles=()) if n.pk
    ]
    notifications.deliver(Notification.objects.get(pk=queued.pk))
    assert pager.PAGED == [("+4412345678", "model.paused")]
    bad = Subscription(name="x", kind="pager", target="12")
    with pytest.raises(Exception, match="pager number"):
        bad.full_clean()


@pytest.mark.django_db
def test_a_new_reason_code_is_one_row_and_one_check(export_review, monkeypatch) -> None:
    original = engine.approval_reasons

    def with_the_new_check(*args, **kwargs):  # the one call added to engine.py
        return [*original(*args, **kwargs), *export_review.export_review_reasons(None)]

    monkeypatch.setattr(engine, "approval_reasons", with_the_new_check)
    verdict = evaluate(happy())
    assert verdict.state == "paused" and verdict.codes == ("export_review_pending",)
    assert RANK["safeguard_expired"] < RANK["export_review_pending"] < RANK["no_approval"]
    payload = verdict.to_dict()
    [group] = reasons.group_reasons(payload["reasons"], "atlas")
    assert (group.group, group.link_label) == ("commitments", "Model page")
    assert views.next_steps(payload) == ["Have the export-control review signed off."]
    assert REASON["export_review_pending"].label == "Export review pending"


@pytest.mark.parametrize(
    "kind", ["Evidence import format", "Notification channel", "Gate reason code"]
)
def test_contributing_counts_the_files_and_keeps_them_at_four(kind: str) -> None:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    entry = text.split(f"- **{kind}**", 1)[1].split("\n- **", 1)[0]
    match = re.search(r"Files\s+touched:\s+(\d)", entry)
    assert match, f"CONTRIBUTING.md does not count the files of a new {kind.lower()}"
    assert int(match.group(1)) <= MAX_FILES


def test_no_extension_point_branches_on_a_kind() -> None:
    execute = (REPO / "suites" / "services.py").read_text(encoding="utf-8")
    assert "suite.runner ==" not in execute
    shown = (REPO / "governance" / "notifications.py").read_text(encoding="utf-8")
    assert "Channel.EMAIL:" not in shown  # the transport shows its own target


def test_no_module_imports_another_modules_private_names() -> None:
    """A plugin (an import format, a transport, a suite runner) builds on its base module's
    public API: nothing in the product imports an underscore name from another module."""
    import ast

    apps = ("rsp_portal", "core", "audit", "policies", "evaluations", "suites", "governance")
    found = []
    for app in (*apps, "accountability", "transparency", "tests/plugins"):
        for path in sorted((REPO / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found += [
                        f"{path.relative_to(REPO)}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")
                    ]
    assert found == [], "make the name public (and list it in __all__) or keep it in its module"


def test_the_importer_base_declares_its_public_plugin_api() -> None:
    from evaluations.importers import base

    for name in ("LogFormatReader", "ParsedLog", "ParsedMetric", "ImportFormatError", "hash_file"):
        assert name in base.__all__
    assert all(not name.startswith("_") for name in base.__all__)
