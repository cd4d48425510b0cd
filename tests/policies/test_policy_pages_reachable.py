"""Every policy page is reachable from the navigation or its parent page (issue 27 obs 6)."""

from __future__ import annotations

import pytest

from policies import services
from policies.packs import load_pack_file
from tests.conftest import client_for


@pytest.fixture
def two_versions(db):
    old = services.load_pack(load_pack_file("default"), activate=True)
    return old


@pytest.mark.django_db
def test_a_bare_diff_shows_a_form_to_pick_two_versions(safety, two_versions):
    response = client_for(safety).get("/policy/diff/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="from"' in page and 'name="to"' in page
    assert f'<option value="{two_versions.pk}"' in page


@pytest.mark.django_db
def test_a_diff_with_an_unknown_version_names_it_and_keeps_the_form(safety, two_versions):
    response = client_for(safety).get(f"/policy/diff/?from={two_versions.pk}&to=99999")

    assert response.status_code == 400
    page = response.content.decode()
    assert "no policy version #99999" in page
    assert 'name="to"' in page


@pytest.mark.django_db
def test_the_versions_page_links_the_diff_form_and_the_activations(safety, two_versions):
    page = client_for(safety).get("/policy/versions/").content.decode()

    assert 'href="/policy/diff/"' in page
    assert 'href="/policy/activations/"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rso", "auditor", "safety"])
def test_suites_are_in_the_navigation_of_everyone_who_may_see_them(role, request):
    user = request.getfixturevalue(role)
    page = client_for(user).get("/").content.decode()

    assert client_for(user).get("/suites/").status_code == 200
    assert 'href="/suites/"' in page
