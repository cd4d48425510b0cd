"""The auditors' pages: timeline, entry detail, verification status."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.checkpoints import make_checkpoint
from audit.models import VerificationRun
from tests.audit_support import append, attacker, audit_keys  # noqa: F401  (fixture)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PAGES = ["/audit/", "/audit/entries/0/", "/audit/status/"]


@pytest.mark.parametrize("url", [*PAGES, "/audit/verify/"])
def test_anonymous_visitors_are_sent_to_sign_in(url):
    response = Client().get(url) if url != "/audit/verify/" else Client().post(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("role", ["safety", "rso", "pipeline", "outsider"])
def test_other_roles_are_refused(url, role, request):
    user = request.getfixturevalue(role)
    assert client_for(user).get(url).status_code == 403


@pytest.mark.parametrize("role", ["safety", "rso", "pipeline"])
def test_other_roles_cannot_trigger_verification(role, request):
    assert client_for(request.getfixturevalue(role)).post("/audit/verify/").status_code == 403
    assert not VerificationRun.objects.exists()


@pytest.mark.usefixtures("audit_keys")
@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("role", ["auditor", "admin_user"])
def test_auditors_and_admins_see_the_pages(url, role, request):
    user = request.getfixturevalue(role)
    assert client_for(user).get(url).status_code == 200


def test_the_nav_links_to_the_timeline_for_auditors_only(auditor, safety):
    assert b'href="/audit/"' in client_for(auditor).get("/audit/").content
    assert b'href="/audit/"' not in client_for(safety).get("/").content


def test_the_timeline_is_newest_first_and_pages_by_seq(auditor):
    append(120)  # seq 0 is the auditor's creation; 1..120 the events
    client = client_for(auditor)
    first = client.get("/audit/")
    seqs = [entry.seq for entry in first.context["entries"]]
    assert seqs == list(range(120, 70, -1))
    assert first.context["older"] == 71 and first.context["newer"] is None
    second = client.get("/audit/?before=71")
    assert [e.seq for e in second.context["entries"]] == list(range(70, 20, -1))
    assert second.context["newer"] == 70
    back = client.get("/audit/?after=70")
    assert [e.seq for e in back.context["entries"]] == seqs
    assert b"?before=71" in first.content


def test_the_timeline_filters(auditor, admin_user):
    append(10, actor=admin_user)
    client = client_for(auditor)

    def seqs(query: str) -> list[int]:
        return [e.seq for e in client.get(f"/audit/?{query}").context["entries"]]

    assert len(seqs("model=frontier-1")) == 5
    assert seqs("object_type=test.thing&object_id=4") != []
    assert len(seqs("actor=admin_user&action=test.event")) == 10
    assert seqs("since=2999-01-01") == []
    response = client.get("/audit/?since=garbage")
    assert response.status_code == 200 and b"Fix the filters" in response.content
    paged = client.get("/audit/?model=frontier-1&before=9")
    assert all(e.model_slug == "frontier-1" and e.seq < 9 for e in paged.context["entries"])


def test_timeline_query_budget(auditor, django_assert_num_queries):
    append(80)
    client = client_for(auditor)
    client.get("/audit/")
    # Expect 8 queries: session, user (with its role), the user's sign-off titles (header),
    # one page of entries, and the values of the four pickers (actor, action, model, object
    # type: one DISTINCT each), whatever the number of rows.
    with django_assert_num_queries(8):
        response = client.get("/audit/?action=test.event")
    assert len(response.context["entries"]) == 50


def test_an_entry_shows_its_body_hashes_and_neighbours(auditor):
    append(3)
    response = client_for(auditor).get("/audit/entries/1/")
    text = response.content.decode()
    entry = response.context["entry"]
    assert entry.leaf_hash in text and entry.prev in text
    assert "recomputes from the body" in text
    assert "&quot;action&quot;: &quot;test.event&quot;" in text
    assert 'href="/audit/entries/0/"' in text and 'href="/audit/entries/2/"' in text
    last = client_for(auditor).get("/audit/entries/3/").content.decode()
    assert 'href="/audit/entries/4/"' not in last


def test_a_tampered_entry_is_flagged_on_its_page(auditor):
    append(2)
    with attacker() as cursor:
        cursor.execute("UPDATE audit_auditentry SET body = %s WHERE seq = 1", [b"{}"])
    assert b"does not match the body" in client_for(auditor).get("/audit/entries/1/").content


def test_a_missing_entry_is_404(auditor):
    assert client_for(auditor).get("/audit/entries/99/").status_code == 404


@pytest.mark.usefixtures("audit_keys")
def test_the_status_page_shows_the_last_run_checkpoint_and_export(auditor):
    append(3)
    make_checkpoint()
    client = client_for(auditor)
    response = client.post("/audit/verify/", follow=True)
    text = response.content.decode()
    assert "Verified. OK: 4 entries, 1 checkpoints" in text
    assert "Signed size" in text and "/api/v1/audit/export/" in text
    assert VerificationRun.objects.get().triggered_by == "auditor"
    assert client.get("/audit/verify/").status_code == 405


@pytest.mark.usefixtures("audit_keys")
def test_a_failed_verification_is_shown_with_the_first_bad_entry(auditor):
    append(3)
    with attacker() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq = 2")
    text = client_for(auditor).post("/audit/verify/", follow=True).content.decode()
    assert "Verification FAILED: entry 2: missing" in text
    assert 'href="/audit/entries/2/"' in text
