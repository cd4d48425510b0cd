"""Demo data for ``manage.py seed_demo``: the default policy, loaded and active."""

from __future__ import annotations

from typing import TextIO

from policies import services
from policies.models import PolicyVersion
from policies.packs import load_pack_file


def seed_demo(stdout: TextIO, actor: object = None) -> None:
    """Load and activate the shipped default pack unless a policy is already active."""
    active = PolicyVersion.objects.active().first()
    if active is not None:
        stdout.write(f"Policy: {active.key} {active.version} already active (#{active.pk}).")
        return
    version = services.load_pack(load_pack_file("default"), actor="seed_demo", activate=True)
    stdout.write(
        f"Policy: loaded and activated {version.key} {version.version} (#{version.pk}), "
        f"sha256={version.content_sha256[:12]}…"
    )
