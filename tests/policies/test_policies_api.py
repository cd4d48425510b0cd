"""Policy API and pages: shape, permissions, the loosening diff, activation, query budgets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from policies import services
from policies.models import PolicyVersion
from policies.packs import load_pack_file, validate_pack
from tests.conftest import bearer, client_for

pytestmark = pytest.mark.django_db

POLICY_KEYS = {
    "id",
    "key",
    "name",
    "version",
    "status",
    "content_sha256",
    "source",
    "disclaimer",
    "settings",
    "levels",
    "standards",
    "domains",
    "metrics",
    "thresholds",
    "family",
    "report_kinds",
    "commitments",
    "noncompliance_recipients",
}


@pytest.fixture
def active_default() -> PolicyVersion:
    return services.load_pack(load_pack_file("default"), activate=True)


def weakened_six_ways() -> dict[str, Any]:
    """The default pack loosened in six distinct ways (each must be flagged)."""
    pack = copy.deepcopy(load_pack_file("default"))
    settings = pack["settings"]
    settings["effective_compute_multiple"] = 8.0  # 1. trigger multiple increased
    settings["months_between_assessments"] = 12  # 2. fewer time-based assessments
    settings["signoff_titles"] = ["RSO"]  # 3. fewer sign-offs
    cbrn3 = next(t for t in pack["thresholds"] if t["code"] == "CBRN-3")
    vct = next(i for i in cbrn3["indicators"] if i["metric"] == "cbrn.vct_accuracy")
    vct["critical"] = 0.7  # 4. red line raised (higher is more capable)
    asl3s = next(s for s in pack["standards"] if s["code"] == "ASL-3-S")
    asl3s["requirements"] = [
        r for r in asl3s["requirements"] if r["code"] != "ASL3S.insider_controls"
    ]  # 5. requirement removed
    cbrn3["requires"]["deployment"] = ["ASL-3-S"]  # 6. ASL-3-D no longer required to deploy
    pack["version"] = "2.2-portal.3-weakened"
    return validate_pack(pack, "weakened.yaml")


EXPECTED_LOOSENINGS = {
    ("settings", "effective_compute_multiple"),
    ("settings", "months_between_assessments"),
    ("settings", "signoff_titles"),
    ("indicators", "CBRN-3/cbrn.vct_accuracy"),
    ("requirements", "ASL3S.insider_controls"),
    ("thresholds", "CBRN-3"),
}


# --------------------------------------------------------------------- GET /api/v1/policy/


def test_active_policy_has_the_design_shape(safety, active_default):
    response = client_for(safety).get("/api/v1/policy/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == POLICY_KEYS
    assert body["id"] == active_default.pk
    assert body["status"] == "active"
    assert body["content_sha256"] == active_default.content_sha256
    assert set(body["settings"]) == {
        "baseline_level",
        "baseline_standards",
        "effective_compute_multiple",
        "months_between_assessments",
        "safeguard_reapproval_months",
        "warning_behaviour",
        "uncertainty_z",
        "signoff_titles",
        "advisory_titles",
        "sources",
    }
    assert body["settings"]["signoff_titles"] == ["RSO", "CEO"]
    assert body["settings"]["advisory_titles"] == []
    assert body["settings"]["uncertainty_z"] == 1.645
    assert set(body["levels"][0]) == {"code", "rank", "name", "description", "source"}
    assert set(body["standards"][0]) == {
        "code",
        "level",
        "kind",
        "includes",
        "requirements",
        "source",
    }
    assert set(body["standards"][0]["requirements"][0]) == {"code", "title", "evidence", "source"}
    assert set(body["domains"][0]) == {"code", "name", "tier", "category", "source"}
    assert set(body["metrics"][0]) == {
        "key",
        "name",
        "unit",
        "min",
        "max",
        "higher_is_more_capable",
        "domain",
        "min_samples",
        "source",
    }
    metrics = {m["key"]: m for m in body["metrics"]}
    assert metrics["cbrn.uplift_ratio"]["min_samples"] == 20
    assert metrics["cbrn.vct_accuracy"]["min_samples"] is None
    threshold = body["thresholds"][0]
    assert set(threshold) == {
        "code",
        "domain",
        "name",
        "description",
        "tier",
        "halt",
        "requires",
        "indicators",
        "source",
    }
    tiers = {t["code"]: (t["tier"], t["halt"]) for t in body["thresholds"]}
    assert tiers["AUTONOMY-CHECKPOINT"] == ("early_warning", False)
    assert tiers["CBRN-3"] == ("red_line", False)
    assert set(threshold["requires"]) == {"scaling", "deployment", "internal_deployment"}
    assert set(threshold["indicators"][0]) == {"metric", "warning", "critical", "source"}
    # The body minus the database fields is exactly the normalised pack.
    pack = {k: v for k, v in body.items() if k not in {"id", "status", "content_sha256"}}
    assert pack == load_pack_file("default")


def test_active_policy_is_404_with_a_clear_detail_when_none_is_active(safety):
    response = client_for(safety).get("/api/v1/policy/")
    assert response.status_code == 404
    assert "No policy version is active" in response.json()["detail"]


def test_active_policy_refuses_anonymous(active_default):
    assert Client().get("/api/v1/policy/").status_code == 401


def test_active_policy_refuses_a_user_without_role(outsider, active_default):
    assert client_for(outsider).get("/api/v1/policy/").status_code == 403


def test_pipeline_reads_the_policy_with_a_token(pipeline, active_default):
    response = bearer(pipeline, ["read"]).get("/api/v1/policy/")
    assert response.status_code == 200
    assert response.json()["content_sha256"] == active_default.content_sha256


def test_active_policy_query_budget(safety, active_default, django_assert_max_num_queries):
    client = bearer(safety, ["read"])
    client.get("/api/v1/policy/")  # the token's first use also stamps last_used_at
    # Expect 10 queries: token with its user, roles (2); then the active version and its 7
    # prefetches: levels, standards(+level), requirements, domains, metrics(+domain),
    # thresholds(+domain), indicators(+metric) (8). Independent of the policy's size.
    with django_assert_max_num_queries(10):
        assert client.get("/api/v1/policy/").status_code == 200


# ----------------------------------------------------------------------------- versions


def test_version_list_and_detail(auditor, active_default):
    draft = services.load_pack(weakened_six_ways())
    client = client_for(auditor)
    listing = client.get("/api/v1/policy/versions/")
    assert listing.status_code == 200
    rows = listing.json()["results"]
    assert [row["id"] for row in rows] == [draft.pk, active_default.pk]
    assert rows[0]["status"] == "draft"
    assert rows[1]["content_sha256"] == active_default.content_sha256
    detail = client.get(f"/api/v1/policy/versions/{draft.pk}/")
    assert detail.status_code == 200
    assert detail.json()["status"] == "draft"
    assert detail.json()["settings"]["signoff_titles"] == ["RSO"]
    assert client.get("/api/v1/policy/versions/999999/").status_code == 404


def test_version_list_query_budget(auditor, active_default, django_assert_max_num_queries):
    for index in range(5):
        pack = copy.deepcopy(load_pack_file("default"))
        pack["version"] = f"draft-{index}"
        services.load_pack(pack)
    client = client_for(auditor)
    client.get("/api/v1/policy/versions/")  # warm the session
    # Expect 5 queries whatever the number of versions: session, user, roles, count, and
    # the page of versions with created_by/activated_by joined.
    with django_assert_max_num_queries(5):
        assert client.get("/api/v1/policy/versions/").status_code == 200


# --------------------------------------------------------------------------------- diff


def test_diff_flags_all_six_loosenings(safety, active_default):
    weakened = services.load_pack(weakened_six_ways())
    response = client_for(safety).get(
        f"/api/v1/policy/diff/?from={active_default.pk}&to={weakened.pk}"
    )
    assert response.status_code == 200
    body = response.json()
    flagged = {(c["section"], c["key"]) for c in body["changes"] if c["loosening"]}
    assert flagged == EXPECTED_LOOSENINGS
    assert body["summary"]["loosenings"] == 6
    assert all(c["why"] for c in body["changes"])
    assert body["from_version"]["id"] == active_default.pk


@pytest.mark.parametrize(
    ("query", "bad", "status"),
    [
        ("?to=1", "from", 400),
        ("?from=abc&to=1", "from", 400),
        ("?from=1", "to", 400),
        ("?from=1&to=999999", "to", 404),  # a well-formed id of no version: not found
    ],
)
def test_diff_names_the_bad_parameter(safety, active_default, query, bad, status):
    query = query.replace("=1", f"={active_default.pk}")
    response = client_for(safety).get(f"/api/v1/policy/diff/{query}")
    assert response.status_code == status
    assert bad in response.json()["errors"]


# --------------------------------------------------------------------------- activation


def test_leadership_activates_a_draft_through_the_api(rso, ceo, active_default):
    draft = services.load_pack(weakened_six_ways())
    # Activation follows the sign-off rule in force: RSO and CEO each approve.
    first = client_for(rso).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert first.status_code == 202, first.content
    assert first.json()["status"] == "draft"
    assert first.json()["activation"]["pending_titles"] == ["CEO"]
    again = client_for(rso).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert again.status_code == 409
    assert "one person fills one title" in again.json()["errors"]["version"][0]
    assert again.json()["code"] == "activation_refused"
    response = client_for(ceo).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert response.json()["activated_by"] == "ceo"
    assert [a["title"] for a in response.json()["activation"]["approvals"]] == []
    active_default.refresh_from_db()
    assert active_default.status == PolicyVersion.Status.SUPERSEDED
    entry = AuditEntry.objects.filter(action="policy.activate").order_by("-seq").first()
    assert entry is not None and entry.actor == "ceo"
    approvals = AuditEntry.objects.filter(action="policy.activation.approve")
    assert sorted(approvals.values_list("actor", flat=True)) == ["ceo", "rso"]


def test_one_leader_cannot_activate_a_loosening_draft(rso, active_default):
    draft = services.load_pack(weakened_six_ways())
    response = client_for(rso).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert response.status_code == 202, response.content
    assert response.json()["activation"]["pending_titles"] == ["CEO"]
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT
    with pytest.raises(services.ActivationError, match="loosens the policy in force"):
        services.activate(draft, rso)


def test_safety_cannot_activate(safety, active_default):
    draft = services.load_pack(weakened_six_ways())
    response = client_for(safety).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT


def test_pipeline_token_cannot_activate(pipeline, active_default):
    draft = services.load_pack(weakened_six_ways())
    response = bearer(pipeline).post(f"/api/v1/policy/versions/{draft.pk}/activate/")
    assert response.status_code == 403


def test_anonymous_cannot_activate(active_default):
    draft = services.load_pack(weakened_six_ways())
    assert Client().post(f"/api/v1/policy/versions/{draft.pk}/activate/").status_code == 401


def test_activating_a_non_draft_is_a_conflict(rso, active_default):
    response = client_for(rso).post(f"/api/v1/policy/versions/{active_default.pk}/activate/")
    assert response.status_code == 409
    assert "only a draft" in response.json()["errors"]["version"][0]


def test_schema_generates(admin_user):
    response = client_for(admin_user).get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/policy/versions/{id}/activate/" in text
    assert "/api/v1/policy/diff/" in text
    for field in ("uncertainty_z", "advisory_titles", "min_samples", "halt", "early_warning"):
        assert field in text, field


# -------------------------------------------------------------------------------- pages


def test_policy_page_shows_the_active_policy(safety, active_default):
    response = client_for(safety).get("/policy/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Disclaimer." in html and "illustrative" in html.lower()
    assert "https://www.anthropic.com/rsp" in html
    for text in (
        "ASL-3-S",
        "ASL3S.insider_controls",
        "CBRN-3",
        "cbrn.vct_accuracy",
        "fraction correct",
    ):
        assert text in html
    assert "≤ 0.25" in html  # protocol error rate: lower is more capable
    assert "≥ 0.5" in html
    assert "RSO, CEO" in html
    assert "every 4\u00d7 the effective compute" in html
    assert active_default.content_sha256 in html
    assert "Activate" not in html  # the active version has no activate button


def test_policy_page_without_active_policy(safety):
    response = client_for(safety).get("/policy/")
    assert response.status_code == 200
    assert "No policy version is active" in response.content.decode()


def test_policy_pages_refuse_a_user_without_role(outsider, active_default):
    client = client_for(outsider)
    for url in ("/policy/", "/policy/versions/", f"/policy/versions/{active_default.pk}/"):
        assert client.get(url).status_code == 403, url


def test_policy_page_redirects_anonymous_to_login(active_default):
    response = Client().get("/policy/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_policy_page_query_budget(safety, active_default, django_assert_max_num_queries):
    client = client_for(safety)
    client.get("/policy/")  # warm the session
    # Expect 12: session, user, roles (3); the version and its 7 prefetches (8); the
    # header's sign-off titles (1). The navigation's role checks reuse the cached roles.
    with django_assert_max_num_queries(12):
        assert client.get("/policy/").status_code == 200


def test_diff_page_highlights_every_loosening(auditor, active_default):
    weakened = services.load_pack(weakened_six_ways())
    response = client_for(auditor).get(f"/policy/diff/?from={active_default.pk}&to={weakened.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<tr class="loosening">') == 6
    assert "sign-off titles: removed CEO" in html
    assert "[&quot;RSO&quot;]" in html  # values shown as JSON
    assert "6 loosenings" in html


def loosened_openai() -> dict[str, Any]:
    """The OpenAI pack loosened in each of the new ways (each must be flagged)."""
    pack = copy.deepcopy(load_pack_file("openai-preparedness-v2"))
    pack["settings"]["uncertainty_z"] = 0.0  # 1. results no longer pushed toward capability
    pack["settings"]["advisory_titles"] = []  # 2. the SAG no longer advises
    metric = next(m for m in pack["metrics"] if m["key"] == "cyber.range_end_to_end")
    metric["min_samples"] = 5  # 3. weaker evidence can show safety
    critical = next(t for t in pack["thresholds"] if t["code"] == "BIO-CRITICAL")
    critical["halt"] = False  # 4. safeguards now let scaling continue past Critical
    high = next(t for t in pack["thresholds"] if t["code"] == "CYBER-HIGH")
    high["tier"] = "early_warning"  # 5. a red line demoted
    pack["version"] = "2-portal.3-loosened"
    return validate_pack(pack, "loosened.yaml")


def test_api_and_activation_page_flag_the_new_loosenings(rso):
    active = services.load_pack(load_pack_file("openai-preparedness-v2"), activate=True)
    loosened = services.load_pack(loosened_openai())
    client = client_for(rso)
    body = client.get(f"/api/v1/policy/diff/?from={active.pk}&to={loosened.pk}").json()
    assert {(c["section"], c["key"], c["field"]) for c in body["changes"] if c["loosening"]} == {
        ("settings", "uncertainty_z", None),
        ("settings", "advisory_titles", None),
        ("metrics", "cyber.range_end_to_end", "min_samples"),
        ("thresholds", "BIO-CRITICAL", "halt"),
        ("thresholds", "CYBER-HIGH", "tier"),
    }
    assert body["summary"] == {"added": 0, "removed": 0, "changed": 5, "loosenings": 5}
    page = client.get(f"/policy/versions/{loosened.pk}/activate/").content.decode()
    for why in ("halt removed", "red line demoted", "min_samples lowered", "uncertainty_z lowered"):
        assert why in page


def test_policy_page_shows_tiers_halts_advisers_uncertainty_and_min_samples(safety):
    services.load_pack(load_pack_file("openai-preparedness-v2"), activate=True)
    html = client_for(safety).get("/policy/").content.decode()
    assert "Advisory titles</th><td>SAG" in html
    assert "value + 1 \u00d7 its standard error" in html
    assert '<span class="badge bad">halt</span>' in html
    assert "stop whatever the safeguards" in html
    assert "20 <span" in html  # cyber.range_end_to_end min_samples


def test_policy_page_shows_the_autonomy_checkpoint_as_an_early_warning(safety, active_default):
    html = client_for(safety).get("/policy/").content.decode()
    assert '<span class="badge warning">early warning</span>' in html
    assert "never pauses by itself" in html
    assert "value + 1.645 \u00d7 its standard error" in html
    assert "Advisory titles</th><td>none" in html
    assert "ASL3A.affirmative_case" in html


def test_diff_page_rejects_bad_parameters(auditor):
    response = client_for(auditor).get("/policy/diff/?from=x")
    assert response.status_code == 400
    assert "&#x27;from&#x27; must be a policy version id" in response.content.decode()


def test_version_history_page(auditor, active_default, django_assert_max_num_queries):
    draft = services.load_pack(weakened_six_ways())
    client = client_for(auditor)
    response = client.get("/policy/versions/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"?from={active_default.pk}&amp;to={draft.pk}" in html
    assert active_default.content_sha256[:12] in html
    assert "activate…" not in html  # auditors cannot activate
    # Expect 5: session, user, roles, the versions with their users joined, header titles.
    with django_assert_max_num_queries(5):
        client.get("/policy/versions/")


def test_leadership_activates_a_draft_on_the_page(rso, ceo, active_default):
    draft = services.load_pack(weakened_six_ways())
    client_for(ceo).post(f"/policy/versions/{draft.pk}/activate/")  # CEO approves first
    client = client_for(rso)
    detail = client.get(f"/policy/versions/{draft.pk}/").content.decode()
    assert "Activate…" in detail
    confirm = client.get(f"/policy/versions/{draft.pk}/activate/")
    assert confirm.status_code == 200
    assert confirm.content.decode().count('<li class="loosening">') == 6
    # Six loosenings: the CEO's approval alone did not activate it; the RSO's completes the
    # sign-off rule of the policy in force, and activates it.
    assert draft.status == PolicyVersion.Status.DRAFT
    client.post(f"/policy/versions/{draft.pk}/activate/")
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.ACTIVE
    assert AuditEntry.objects.filter(action="policy.activate", actor="rso").exists()


def test_safety_cannot_activate_on_the_page(safety, active_default):
    draft = services.load_pack(weakened_six_ways())
    client = client_for(safety)
    assert "Activate…" not in client.get(f"/policy/versions/{draft.pk}/").content.decode()
    assert client.post(f"/policy/versions/{draft.pk}/activate/").status_code == 403
    draft.refresh_from_db()
    assert draft.status == PolicyVersion.Status.DRAFT
