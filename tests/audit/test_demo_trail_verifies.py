"""The demo's trail reconciles: every gate-relevant row it seeds has its audit entry."""

import pytest
from django.core.management import call_command

from audit.models import VerificationRun


@pytest.mark.django_db
def test_the_seeded_demo_passes_verification(settings, tmp_path):
    settings.DEMO_MODE = True
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--quiet")
    run = VerificationRun.objects.order_by("-pk").first()
    assert run is not None and run.ok, run.message
