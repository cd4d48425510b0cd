from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import services
from core.models import ApiToken, Role, User


class Command(BaseCommand):
    help = (
        "Change an account through the audited account services: set-role, grant-title, "
        "revoke-title, deactivate, reactivate, revoke-token, record-credential (records the "
        "current password of an account whose credential the trail never recorded). Every "
        "change is recorded in the audit trail with this command as the actor; title grants and "
        "revocations are announced to leadership. An account holding admin never holds a title."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="change", required=True)
        role = sub.add_parser("set-role")
        role.add_argument("username")
        role.add_argument("role", choices=Role.values)
        for name in ("grant-title", "revoke-title"):
            title = sub.add_parser(name)
            title.add_argument("username")
            title.add_argument("title")
        for name in ("deactivate", "reactivate", "record-credential"):
            sub.add_parser(name).add_argument("username")
        sub.add_parser("revoke-token").add_argument("key_id")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = f"manage.py account {options['change']}"
        try:
            if options["change"] == "revoke-token":
                token = ApiToken.objects.filter(key_id=options["key_id"]).first()
                if token is None:
                    raise CommandError(f"No token with key id {options['key_id']!r}.")
                services.revoke_token(token, actor=actor)
                self.stdout.write(f"Revoked token {token.name!r} of {token.user}.")
                return
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user named {options['username']!r}.")
            change = options["change"]
            if change == "set-role":
                services.set_role(user, options["role"], actor=actor)
            elif change == "grant-title":
                services.grant_title(user, options["title"], actor=actor)
            elif change == "revoke-title":
                services.revoke_title(user, options["title"], actor=actor)
            elif change == "record-credential":
                services.record_credential(user, actor=actor)
            else:
                services.set_active(user, change == "reactivate", actor=actor)
        except services.AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{options['change']}: done for {user.username}.")
