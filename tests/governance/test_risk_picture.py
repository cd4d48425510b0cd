"""The risk picture in the browser (issue 14): one test per observation the issue lists.

Django test client assertions on the pages; the browser journeys are in
tests/browser/test_browser.py.
"""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from evaluations.models import EvalResult
from governance import services
from tests.audit_support import audit_keys  # noqa: F401  (fixture)
from tests.conftest import client_for
from tests.evidence_fixtures import ai_model, ckpt, policy  # noqa: F401  (fixtures)
from tests.governance_fixtures import (
    activate_default_policy,
    add_checkpoint,
    add_result,
    baseline,
    evaluate_all_below,
    make_model,
)

# Gates here trust the audit trail: verified as the beat would (issue 21).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_trail")]

MACHINE_CODE = re.compile(r"<code>(missing_evidence|safeguard_missing|no_approval)</code>")


def _text(response) -> str:
    return response.content.decode()


# 1. No charts anywhere -------------------------------------------------------------------------


def test_model_page_draws_each_indicator_against_its_lines(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    later = add_checkpoint(model, "ckpt-2", 4e24)
    add_result(model, "cbrn.vct_accuracy", 0.2, later)
    page = _text(client_for(safety).get("/models/atlas/"))
    charts = re.findall(r'<svg [^>]*class="metric-chart" data-metric="([^"]+)"', page)
    # One chart per indicator of the default pack (CBRN-3 and CBRN-4 share two metrics).
    assert "cbrn.vct_accuracy" in charts and "autonomy.swe_task_success" in charts
    vct = page.split('data-metric="cbrn.vct_accuracy"', 1)[1].split("</svg>", 1)[0]
    assert vct.count('<circle class="point pre"') == 2  # one per checkpoint
    assert 'class="threshold-line warning"' in vct and 'class="threshold-line critical"' in vct
    assert "ckpt-2 (4e+24 FLOP): 0.2" in vct  # hover details
    assert "1e24" in vct  # log compute axis
    assert "style=" not in page  # CSP: style-src 'self' forbids inline styles


def test_post_mitigation_results_are_drawn_differently(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    with transaction.atomic():
        EvalResult.objects.create(
            model=model,
            checkpoint=model.checkpoints.get(),
            metric_key="cbrn.vct_accuracy",
            value=0.05,
            mitigation="post",
            source="api",
        )
        services.on_evidence_changed(model, "result.create")
    page = _text(client_for(safety).get("/models/atlas/"))
    vct = page.split('data-metric="cbrn.vct_accuracy"', 1)[1].split("</svg>", 1)[0]
    assert vct.count('<rect class="point post"') == 1
    assert "post-mitigation" in vct


# 2. The model page contradicts itself ----------------------------------------------------------


def test_model_page_shows_only_the_gates_determinations(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    # A later checkpoint with a weaker CBRN result: the gate keeps the earlier, higher value.
    add_result(model, "cbrn.vct_accuracy", 0.5)  # crosses the CBRN-3 critical line (0.5)
    later = add_checkpoint(model, "ckpt-2", 2e24)
    add_result(model, "cbrn.vct_accuracy", 0.1, later)
    gate = services.gate_for(model)
    cbrn3 = next(d for d in gate["determinations"] if d["threshold"] == "CBRN-3")
    assert cbrn3["status"] == "crossed"
    page = _text(client_for(safety).get("/models/atlas/"))
    card = page.split('id="threshold-CBRN-3"', 1)[1].split("</article>", 1)[0]
    assert '<span class="badge crossed">crossed</span>' in card
    assert "Latest values" not in page
    vct = card.split("<code>cbrn.vct_accuracy</code>", 1)[1].split("</p>", 1)[0]
    assert "<strong>0.5</strong>" in vct and "ckpt-1" in vct


# 3. Reasons: a wall of machine codes -----------------------------------------------------------


def test_reasons_are_grouped_in_words_with_links(safety):
    activate_default_policy()
    make_model()  # no evidence at all, no safeguards
    page = _text(client_for(safety).get("/models/atlas/"))
    panel = page.split('id="gate-panel"', 1)[1].split("</section>", 1)[0]
    # Four red lines lack evidence (the autonomy checkpoint is an early warning: it warns).
    assert "4 thresholds presumed crossed (AIRD-4, AIRD-5," in panel
    assert "no evaluation yet for aird.effective_compute_growth," in panel
    # Safeguards by the crossing that raised them, then the baseline's (issue 27).
    assert "AIRD-4 presumed crossed → ASL-3-A 1, ASL-3-S 5: 6 to verify" in panel
    assert "Baseline → ASL-2-D 4, ASL-2-S 6: 10 to verify" in panel
    assert 'href="/models/atlas/safeguards/"' in panel
    assert 'href="/models/atlas/results/new/"' in panel
    assert not MACHINE_CODE.search(panel)
    assert '<span class="code-badge"' in panel  # codes stay, small
    titles = re.findall(r'<span class="reason-title">', panel.split("Why deployment", 1)[0])
    assert len(titles) <= 5  # one line per kind of problem, the safeguards one per crossing


def test_dashboard_reasons_are_words(safety):
    activate_default_policy()
    make_model()
    page = _text(client_for(safety).get("/"))
    assert "Baseline → ASL-2-D 4, ASL-2-S 6: 10 to verify" in page
    assert "presumed crossed" in page
    assert "missing_evidence \u00d7" not in page and "<code>safeguard_missing</code>" not in page


# 4. The dossier is raw JSON; the wording about what approval does is wrong ---------------------


def _decision(safety, *, pause: bool = False):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    baseline(model, safety)
    if pause:
        services.pause(model, "Red-team finding under review.", safety)
    return model, services.request_decision(model, 2e24, "Below every line.", safety)


def test_the_dossier_reads_as_a_document_with_json_behind_a_toggle(safety, rso):
    _, decision = _decision(safety)
    page = _text(client_for(rso).get(f"/decisions/{decision.pk}/"))
    dossier = page.split('id="dossier"', 1)[1]
    assert "Where the model stands against each line" in dossier
    vct = EvalResult.objects.get(metric_key="cbrn.vct_accuracy")
    assert f"#{vct.pk} on ckpt-1" in dossier
    assert "What approval will and will not do" in dossier
    # The JSON is one click away, never the main text.
    assert dossier.count("<pre") == 1
    assert re.search(r"<details[^>]*>\s*<summary>The canonical JSON", dossier)
    # The hash is beside the sign button.
    form = page.split('<form method="post">', 1)[1].split("</form>", 1)[0]
    assert decision.dossier_sha256 in form and 'name="approve"' in form
    assert client_for(rso).get(f"/decisions/{decision.pk}/print/").status_code == 200


def test_the_decision_page_says_approval_lifts_a_pause_and_it_does(safety, rso, ceo):
    model, decision = _decision(safety, pause=True)
    page = _text(client_for(rso).get(f"/decisions/{decision.pk}/"))
    assert "Lifts the 1 manual pause in force when it was requested." in page
    assert "Once approved, the gate opens for this scope" in page
    assert "even if approved" not in page and "keep the gate paused" not in page
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256, "ok")
    assert services.gate_for(model)["state"] == "approved"  # the page told the truth


def test_the_decision_page_names_checks_approval_does_not_clear(safety, rso):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)  # no safeguards verified
    decision = services.request_decision(model, 2e24, "Asking early.", safety)
    page = _text(client_for(rso).get(f"/decisions/{decision.pk}/"))
    assert "It does not open the gate while the checks below fail" in page
    assert "Baseline → ASL-2-D 4, ASL-2-S 6: 10 to verify" in page
    assert "Once approved, the gate opens" not in page


# 5. An early warning nearly invisible; "notified" when nothing was sent; raw JSON e-mails --------


def test_an_early_warning_leads_the_model_page_and_says_nobody_was_notified(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "autonomy.swe_task_success", 0.35)  # warning 0.3, critical 0.5
    page = _text(client_for(safety).get("/models/atlas/"))
    banner = page.split('id="early-warning"', 1)[1].split("</div>", 1)[0]
    assert page.index('id="early-warning"') < page.index("Why scaling is paused")
    assert "AUTONOMY-CHECKPOINT" in banner and "0.35" in banner
    # The test users have no e-mail address and no webhook exists: nothing was queued.
    assert "Nobody has been notified yet" in banner
    assert "were notified" not in banner
    assert "early warning" in _text(client_for(safety).get("/"))


def test_the_page_says_notified_only_when_a_notification_was_queued(safety, rso):
    from governance.models import Notification

    rso.email = "rso@example.org"
    rso.save()
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "autonomy.swe_task_success", 0.35)
    assert Notification.objects.filter(event="warning.crossed").count() == 1
    banner = _text(client_for(safety).get("/models/atlas/")).split('id="early-warning"', 1)[1]
    assert "Leadership and the safety team were notified" in banner.split("</div>", 1)[0]


def test_e_mails_are_written_in_words(safety, rso):
    from django.core import mail

    from governance import notifications
    from governance.models import Notification

    rso.email = "rso@example.org"
    rso.save()
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "autonomy.swe_task_success", 0.35)
    for n in Notification.objects.filter(subscription=None):
        notifications.deliver(n)
    bodies = {m.subject: m.body for m in mail.outbox}
    warning = next(b for s, b in bodies.items() if "early-warning line" in s)
    assert "AUTONOMY-CHECKPOINT: early-warning line reached" in warning
    transition = next(b for s, b in bodies.items() if "Gate of atlas" in s)
    assert "Baseline → ASL-2-D 4, ASL-2-S 6: 10 to verify" in transition
    for body in bodies.values():
        assert '"event":' not in body and "{" not in body
        assert "/models/atlas/" in body


# 6. A bare 403; the API docs page without a way back, breaking the CSP ----------------------------


def test_403_is_a_page_with_layout_and_reason(auditor):
    activate_default_policy()
    make_model()
    response = client_for(auditor).get("/models/atlas/results/new/")
    assert response.status_code == 403
    page = _text(response)
    assert 'class="topbar"' in page and 'href="/"' in page
    assert "Your role does not allow this: register models and checkpoints" in page
    assert "Back to the dashboard" in page


def test_404_is_a_page_with_layout(auditor):
    response = client_for(auditor).get("/models/nope/")
    assert response.status_code == 404
    page = _text(response)
    assert 'class="topbar"' in page and "Back to the dashboard" in page


def test_api_docs_sit_in_the_layout_and_keep_the_csp(auditor):
    response = client_for(auditor).get("/api/v1/docs/")
    assert response.status_code == 200
    page = _text(response)
    assert "Back to the portal" in page and 'class="topbar"' in page
    assert "<style" not in page and "style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script
    assert "cdn" not in page.lower()
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


# 7. Auditors: no "as of" view, machine names on the timeline, overflow, free-text filters, key ---


def test_an_auditor_sees_the_gate_as_of_a_past_time(safety, auditor):
    from django.utils import timezone

    activate_default_policy()
    model = make_model()
    before = timezone.now()
    evaluate_all_below(model)
    baseline(model, safety)
    decision = services.request_decision(model, 2e24, "ok", safety)
    for signer in ("rso", "ceo"):
        from tests.conftest import _make

        services.sign_decision(decision.pk, _make(signer), "approve", decision.dossier_sha256, "")
    assert services.gate_for(model)["state"] == "approved"
    client = client_for(auditor)
    then = timezone.localtime(before).strftime("%Y-%m-%dT%H:%M:%S.%f")
    page = _text(client.get(f"/models/atlas/gate/as-of/?as_of={then}&scope=scaling"))
    result = page.split('id="as-of-result"', 1)[1]
    assert '<span class="badge paused">paused</span>' in result
    assert "presumed crossed" in result  # the stored reasons of that moment, in words
    now = timezone.localtime(timezone.now()).strftime("%Y-%m-%dT%H:%M:%S.%f")  # not the future
    page = _text(client.get(f"/models/atlas/gate/as-of/?as_of={now}&scope=scaling"))
    assert '<span class="badge approved">approved</span>' in page.split('id="as-of-result"')[1]
    # The auditors' entry point picks the model.
    response = client.get(f"/gate/as-of/?model=atlas&as_of={now}&scope=scaling")
    assert response.status_code == 302 and "/models/atlas/gate/as-of/" in response["Location"]
    assert 'type="datetime-local"' in _text(client.get("/gate/as-of/"))


@pytest.mark.usefixtures("ckpt")
def test_the_timeline_names_objects_and_offers_pickers(safety, auditor):
    from evaluations import services as evidence
    from tests.evidence_fixtures import result as item

    (result,) = evidence.record_results([item()], safety, EvalResult.Source.BROWSER)
    page = _text(client_for(auditor).get("/audit/"))
    assert f"result #{result.pk} on atlas" in page
    assert f">evaluations.evalresult {result.pk}<" not in page
    assert re.search(r'<select name="action"[^>]*>.*<option value="result.create"', page, re.S)
    assert re.search(r'<select name="model"[^>]*>.*<option value="atlas"', page, re.S)
    assert re.search(r'<input type="datetime-local" name="since"', page)
    assert "Time (UTC)" not in page


@pytest.mark.usefixtures("audit_keys")
def test_the_public_key_is_downloadable_and_the_status_page_wraps_hashes(auditor):
    page = _text(client_for(auditor).get("/audit/status/"))
    assert 'href="/audit/public-key.pem"' in page
    assert '<code class="hash">' in page or "no checkpoint" in page
    download = client_for(auditor).get("/audit/public-key.pem")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert b"BEGIN PUBLIC KEY" in download.content


# 8. Noise and form ------------------------------------------------------------------------------


def test_recent_gate_changes_list_real_changes_once(safety, rso, ceo):
    from governance.models import GateTransition

    _, decision = _decision(safety)
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256, "")
    assert GateTransition.objects.filter(from_state="paused", to_state="paused").exists()
    page = _text(client_for(rso).get("/"))
    changes = page.split("Recent gate changes", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>", changes)
    assert "paused → " not in re.sub(r"<[^>]+>", "", changes).replace("paused → approved", ""), (
        "only state changes are listed"
    )
    # The approval moved the scaling gate only: one row; model creation moved both: one row.
    assert "new → " in re.sub(r"<[^>]+>", "", changes)
    assert "deployment + scaling" in changes or "scaling + deployment" in changes
    assert len(rows) == 2


def test_the_result_form_shows_the_lines_and_where_the_model_stands(safety):
    activate_default_policy()
    model = make_model()
    add_result(model, "cbrn.vct_accuracy", 0.4)
    page = _text(client_for(safety).get("/models/atlas/results/new/"))
    hints = page.split('id="metric-lines"', 1)[1]
    vct = hints.split("<code>cbrn.vct_accuracy</code>", 1)[1].split("</tr>", 1)[0]
    words = re.sub(r"<[^>]+>", "", vct)
    assert "CBRN-3: ≥ 0.35 / ≥ 0.5" in words and "CBRN-4: ≥ 0.6 / ≥ 0.75" in words
    assert '<span class="badge warning">warning</span> 0.4' in vct
    # Elicitation fields are tucked away; the main fields come first.
    assert page.index('name="value"') < page.index("<details") < page.index('name="scaffold"')


@pytest.mark.usefixtures("ckpt")
def test_the_import_preview_opens_without_an_error_and_rounds(safety, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.inspect_fixtures import make_inspect_log

    settings.MEDIA_ROOT = tmp_path / "media"
    log = make_inspect_log(tmp_path / "logs", "json", ["4", "6", "9"])
    response = client_for(safety).post(
        "/models/atlas/import/",
        {
            "step": "upload",
            "checkpoint": "step-1000",
            "file": SimpleUploadedFile(log.name, log.read_bytes()),
        },
    )
    page = _text(response)
    assert 'class="errorlist"' not in page
    assert "Choose the policy metric each log metric measures" in page
    assert "0.6666666666666666</td>" not in page and ">0.667<" in page


def test_one_timestamp_format_everywhere(safety, auditor):
    activate_default_policy()
    model = make_model()
    add_result(model, "cbrn.vct_accuracy", 0.1)
    stamp = re.compile(r'<time datetime="[^"]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>')
    for client, url in (
        (client_for(safety), "/models/atlas/"),
        (client_for(safety), "/"),
        (client_for(auditor), "/audit/"),
    ):
        page = _text(client.get(url))
        assert stamp.search(page), url
        text = re.sub(r"<time[^>]*>.*?</time>", "", page)
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", re.sub(r"<[^>]+>", "", text)), url
        assert not re.search(r"\d\d:\d\d:\d\d", re.sub(r"<[^>]+>", "", text)), url


def test_the_dashboard_speaks_to_each_role(safety, rso, auditor):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    add_result(model, "autonomy.swe_task_success", 0.35)
    leader = _text(client_for(rso).get("/"))
    near = leader.split('id="near-a-line"', 1)[1].split("</section>", 1)[0]
    assert "AUTONOMY-CHECKPOINT" in near and "early warning" in near
    assert 'id="verification"' not in leader
    assert 'id="verification"' in _text(client_for(auditor).get("/"))


def test_safeguards_are_verified_in_one_submission(safety):
    from governance import adapter

    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    client = client_for(safety)
    page = _text(client.get("/models/atlas/safeguards/"))
    assert page.count('type="checkbox" name="requirements"') >= 10
    codes = [
        r["code"]
        for r in adapter.requirements(adapter.active_version())
        if set(r["standards"]) & {"ASL-2-D", "ASL-2-S"}
    ]
    response = client.post(
        "/models/atlas/safeguards/",
        {
            "bulk": "1",
            "requirements": codes,
            "status": "verified",
            "evidence_url": "https://evidence.example/asl2",
        },
    )
    assert response.status_code == 302
    assert "safeguard_missing" not in {r["code"] for r in services.gate_for(model)["reasons"]}
    # Verified needs evidence: nothing is recorded when it is missing.
    response = client.post(
        "/models/atlas/safeguards/", {"bulk": "1", "requirements": codes[:2], "status": "verified"}
    )
    assert response.status_code == 200 and 'class="errorlist' in _text(response)


def test_the_bulk_form_ticks_nothing_and_defaults_to_the_least_status(safety):
    activate_default_policy()
    model = make_model()
    evaluate_all_below(model)
    page = _text(client_for(safety).get("/models/atlas/safeguards/"))
    bulk = page[page.index('id="bulk"') : page.index("</form>", page.index('id="bulk"'))]

    assert 'name="requirements"' in bulk
    assert " checked" not in bulk
    assert '<option value="planned" selected>' in bulk
    assert '<option value="verified" selected>' not in bulk


def test_the_model_page_draws_the_gate_timeline(safety, rso, ceo):
    _, decision = _decision(safety)
    for signer in (rso, ceo):
        services.sign_decision(decision.pk, signer, "approve", decision.dossier_sha256, "")
    page = _text(client_for(safety).get("/models/atlas/"))
    timeline = page.split('class="timeline-chart"', 1)[1].split("</svg>", 1)[0]
    assert '<rect class="span paused"' in timeline and '<rect class="span approved"' in timeline
    assert "approved from" in timeline  # hover details
