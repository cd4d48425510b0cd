from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import ApiToken, TokenScope, User
from core.services import issue_token
from rsp_portal.authz import allowed_scopes


class Command(BaseCommand):
    help = (
        "Issue an API token for USER and print it once, alone on the last line. "
        "Only a hash is stored. Scopes default to every scope the user's role can use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", default=None, help="what uses the token (default: cli-<date>)"
        )
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            choices=TokenScope.values,
            help="repeatable; default: all scopes the role allows",
        )
        parser.add_argument("--expires-days", type=int, default=None, help="expire after N days")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        permitted = allowed_scopes(user)
        if not permitted:
            raise CommandError(f"User {user.username} has no role, so a token could do nothing.")
        scopes = options["scope"] or permitted
        useless = sorted(set(scopes) - set(permitted))
        if useless:
            raise CommandError(
                f"{user.username}'s role cannot use scope(s) {', '.join(useless)}; "
                f"allowed: {', '.join(permitted)}."
            )
        name = options["name"] or f"cli-{timezone.now():%Y%m%d-%H%M%S}"
        if ApiToken.objects.filter(user=user, name=name).exists():
            raise CommandError(f"{user.username} already has a token named {name!r}.")
        expires = None
        if options["expires_days"] is not None:
            if options["expires_days"] < 1:
                raise CommandError("--expires-days must be at least 1.")
            expires = timezone.now() + timedelta(days=options["expires_days"])
        _, text = issue_token(user, name, scopes, expires_at=expires, actor="manage.py issue_token")
        self.stderr.write(
            f"Token {name!r} for {user.username}, scopes {', '.join(sorted(scopes))}. "
            "It is shown once; store it now."
        )
        self.stdout.write(text)
