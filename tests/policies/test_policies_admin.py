"""Django admin for policies: drafts are editable, active and superseded versions read-only."""

from __future__ import annotations

import pytest

from policies import services
from policies.packs import content_sha256, load_pack_file
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_admin_can_open_a_draft_for_editing(admin_user):
    draft = services.load_pack(load_pack_file("default"))
    response = client_for(admin_user).get(f"/admin/policies/policyversion/{draft.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="name"' in html  # an editable input
    assert "Save" in html


def test_admin_sees_an_active_version_read_only(admin_user):
    active = services.load_pack(load_pack_file("default"), activate=True)
    client = client_for(admin_user)
    response = client.get(f"/admin/policies/policyversion/{active.pk}/change/")
    assert response.status_code == 200
    assert 'name="name"' not in response.content.decode()
    refused = client.post(f"/admin/policies/policyversion/{active.pk}/change/", {"name": "Changed"})
    assert refused.status_code == 403
    active.refresh_from_db()
    assert active.name != "Changed"
    assert client.get(f"/admin/policies/policyversion/{active.pk}/delete/").status_code == 403


def test_admin_cannot_add_versions_outside_packs(admin_user):
    response = client_for(admin_user).get("/admin/policies/policyversion/add/")
    assert response.status_code == 403


def test_admin_list_shows_versions(admin_user):
    services.load_pack(load_pack_file("default"), activate=True)
    response = client_for(admin_user).get("/admin/policies/policyversion/")
    assert response.status_code == 200


def test_a_non_admin_cannot_use_the_policy_admin(rso):
    draft = services.load_pack(load_pack_file("default"))
    response = client_for(rso).get(f"/admin/policies/policyversion/{draft.pk}/change/")
    assert response.status_code == 403  # signed in, not an admin: the portal's 403 page


def test_refreshing_a_draft_hash_follows_its_content(admin_user):
    draft = services.load_pack(load_pack_file("default"))
    draft.name = "Edited in the admin"
    draft.save()
    services.refresh_draft_hash(draft)
    assert draft.content_sha256 == content_sha256(
        {**load_pack_file("default"), "name": "Edited in the admin"}
    )


def test_admin_shows_the_new_policy_fields_on_a_draft(admin_user):
    draft = services.load_pack(load_pack_file("openai-preparedness-v2"))
    html = client_for(admin_user).get(f"/admin/policies/policyversion/{draft.pk}/change/")
    text = html.content.decode()
    for name in ('name="uncertainty_z"', 'name="advisory_titles"', "min_samples", "halt", "tier"):
        assert name in text, name
