from __future__ import annotations

import json
import secrets
from typing import Any, TextIO, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core import events
from core.models import User
from core.services import create_user

# (username, role, titles): one person per role, and two leadership signers for the
# default policy's two-title sign-off rule.
DEMO_USERS = [
    ("safety", "safety", []),
    ("rso", "leadership", ["RSO"]),
    ("ceo", "leadership", ["CEO"]),
    ("auditor", "auditor", []),
    ("admin", "admin", []),
    ("pipeline", "pipeline", []),
    # An outside reviewer: sees nothing until leadership grants access on /reviews/.
    ("reviewer", "reviewer", []),
]
# Service accounts use API tokens only: no password is made, kept or printed for them, and the
# sign-in form refuses them (core.forms.SignInForm).
SERVICE_ROLES = {"pipeline"}


class Command(BaseCommand):
    help = (
        "Demo mode only (RSP_DEMO=1 or DEBUG=1): create demo users with random passwords, "
        "kept in var/demo-logins.json, and print the logins. Safe to run repeatedly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="do not print the logins")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.DEMO_MODE or settings.DEBUG):
            raise CommandError(
                "seed_demo runs only in demo mode: set RSP_DEMO=1 (never in production)."
            )
        logins_file = settings.VAR_DIR / "demo-logins.json"
        logins: dict[str, str] = {}
        if logins_file.exists():
            logins = json.loads(logins_file.read_text())
        with transaction.atomic():
            for username, role, titles in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if role in SERVICE_ROLES:
                    logins.pop(username, None)
                    if user is None:
                        user = create_user(username, role, titles=titles)
                    elif user.has_usable_password():
                        user.set_unusable_password()
                        user.save(update_fields=["password"])
                else:
                    password = logins.get(username) or secrets.token_urlsafe(12)
                    logins[username] = password
                    if user is None:
                        user = create_user(username, role, titles=titles, password=password)
                    elif not user.check_password(password):
                        user.set_password(password)
                        user.save(update_fields=["password"])
                if not user.email:
                    # Notifications go to e-mail; demo mode uses the console backend.
                    user.email = f"{username}@example.org"
                    user.save(update_fields=["email"])
            # Each app seeds its demo data in its declared order; the audit app then verifies
            # the trail (gates trust it only after a verification). ADR 0021.
            events.emit(events.SEED_DEMO, cast(TextIO, self.stdout), "manage.py seed_demo")
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        logins_file.write_text(json.dumps(logins, indent=2))
        logins_file.chmod(0o600)
        if not options["quiet"]:
            self.stdout.write("Demo logins (demo mode only):")
            for username, role, titles in DEMO_USERS:
                label = role + (f" {'/'.join(titles)}" if titles else "")
                secret = logins.get(username, "(API tokens only)")
                self.stdout.write(f"  {username:<9} {secret:<18} {label}")
