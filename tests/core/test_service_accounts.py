"""Service accounts (pipeline role) use API tokens only; the browser refuses them (issue 27)."""

from __future__ import annotations

import io
import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client

from core.models import User
from tests.conftest import bearer, client_for


@pytest.mark.django_db
def test_the_sign_in_form_refuses_a_service_account_with_a_clear_message(pipeline):
    response = Client().post(
        "/login/", {"username": "pipeline", "password": "pipeline-password-123"}
    )

    assert response.status_code == 200  # the form again, not signed in
    assert "_auth_user_id" not in response.client.session
    assert "service account" in response.content.decode()
    assert "API token" in response.content.decode()


@pytest.mark.django_db
def test_a_person_still_signs_in(safety):
    response = Client().post("/login/", {"username": "safety", "password": "safety-password-123"})

    assert response.status_code == 302


@pytest.mark.django_db
def test_seed_demo_neither_prints_nor_keeps_a_password_for_the_pipeline(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEMO_MODE = True
    (tmp_path / "demo-logins.json").write_text(json.dumps({"pipeline": "old-secret-value"}))
    out = io.StringIO()

    with mock.patch("core.management.commands.seed_demo.events.emit"):  # users only
        call_command("seed_demo", stdout=out)

    logins = json.loads((tmp_path / "demo-logins.json").read_text())
    assert "pipeline" not in logins
    assert "old-secret-value" not in out.getvalue()
    pipeline_lines = [
        line for line in out.getvalue().splitlines() if "pipeline" in line.split()[:1]
    ]
    assert all("token" in line for line in pipeline_lines)
    assert not User.objects.get(username="pipeline").has_usable_password()


@pytest.mark.django_db
def test_admin_for_a_signed_in_non_admin_is_the_portals_403(safety):
    response = client_for(safety).get("/admin/")

    assert response.status_code == 403
    assert "You are not allowed to do this" in response.content.decode()


@pytest.mark.django_db
def test_admin_for_an_admin_still_opens(admin_user):
    assert client_for(admin_user).get("/admin/").status_code == 200


@pytest.mark.django_db
def test_an_unknown_model_answers_in_words_not_class_names(pipeline):
    response = bearer(pipeline).get("/api/v1/models/no-such-model/")

    assert response.status_code == 404
    assert response.json()["detail"] == "No AI model with slug 'no-such-model'."


@pytest.mark.django_db
def test_an_unknown_models_gate_answers_in_words(pipeline):
    response = bearer(pipeline).get("/api/v1/models/no-such-model/gate/")

    assert response.status_code == 404
    assert "AIModel" not in response.json()["detail"]
    assert "no-such-model" in response.json()["detail"]
