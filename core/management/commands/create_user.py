from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.models import Role
from core.services import create_user


class Command(BaseCommand):
    help = (
        "Create a user in one role. Leadership users may hold sign-off titles (--title RSO). "
        "Without --password-stdin the account has no password and can only use API tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--title", action="append", default=[], help="sign-off title (repeatable), e.g. RSO"
        )
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("--password-stdin: no password on standard input.")
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        try:
            user = create_user(
                options["username"],
                options["role"],
                titles=options["title"],
                password=password,
                email=options["email"],
                actor="manage.py create_user",
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        titles = f" with title(s) {', '.join(sorted(user.titles))}" if options["title"] else ""
        login = "can sign in" if password else "token-only (no password)"
        self.stdout.write(f"Created {user.username} ({options['role']}{titles}); {login}.")
