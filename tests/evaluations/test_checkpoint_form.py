"""Registering a checkpoint in the browser (issue 27 obs 1): the safety team's form calls the
same evidence service as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from evaluations.models import Checkpoint
from tests.conftest import client_for
from tests.evidence_fixtures import *  # noqa: F403  (fixtures)

URL = "/models/atlas/checkpoints/new/"


@pytest.mark.django_db
def test_the_safety_team_registers_a_checkpoint(ai_model, safety):
    response = client_for(safety).post(
        URL,
        {"name": "step-2000", "effective_compute": "3e25", "step": "2000", "stage": "pretraining"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/models/atlas/"
    checkpoint = Checkpoint.objects.get(model=ai_model, name="step-2000")
    assert checkpoint.effective_compute == 3e25
    assert checkpoint.step == 2000
    assert checkpoint.reported_by == safety


@pytest.mark.django_db
def test_the_model_page_links_to_the_form_for_the_safety_team(ai_model, safety):
    page = client_for(safety).get("/models/atlas/").content.decode()

    assert f'href="{URL}"' in page


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(ai_model):
    response = Client().get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_other_roles_are_refused(ai_model, auditor):
    assert client_for(auditor).get(URL).status_code == 403
    assert client_for(auditor).post(URL, {"name": "x", "effective_compute": "1"}).status_code == 403
    assert not Checkpoint.objects.filter(name="x").exists()


@pytest.mark.django_db
def test_bad_input_shows_the_form_with_the_field_named(ai_model, safety, ckpt):
    client = client_for(safety)
    negative = client.post(URL, {"name": "neg", "effective_compute": "-1", "stage": "pretraining"})
    duplicate = client.post(
        URL, {"name": "step-1000", "effective_compute": "1e24", "stage": "pretraining"}
    )

    assert negative.status_code == 200
    assert "Must be zero or more (FLOP)." in negative.content.decode()
    assert negative.context["form"].errors["effective_compute"]
    assert duplicate.status_code == 200
    assert duplicate.context["form"].errors["name"]
    assert Checkpoint.objects.filter(model=ai_model).count() == 1
