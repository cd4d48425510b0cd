"""``manage.py load_policy PACK [--activate] [--actor USERNAME]``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.models import User
from policies import services
from policies.diff import diff_policies
from policies.framework_diff import all_loosenings, diff_frameworks, is_cross_framework
from policies.models import PolicyVersion
from policies.packs import SHIPPED_PACKS, Pack, PackError, load_pack_file


class Command(BaseCommand):
    help = (
        "Load a policy pack (a YAML file path, or a shipped name: "
        f"{', '.join(SHIPPED_PACKS)}) as a draft policy version, and optionally activate it. "
        "Loading content identical to the active version or a draft reuses that version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pack", help="file path or shipped pack name, e.g. default")
        parser.add_argument(
            "--activate",
            action="store_true",
            help="make the loaded version the active one (supersedes the current one)",
        )
        parser.add_argument(
            "--actor",
            metavar="USERNAME",
            help="user recorded in the audit trail (must be leadership to --activate); "
            "default: the system operator",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = _actor(options["actor"])
        try:
            pack = load_pack_file(options["pack"])
        except PackError as exc:
            for location, message in exc.errors:
                self.stderr.write(f"{location}: {message}")
            count = len(exc.errors)
            raise CommandError(
                f"policy pack refused ({count} problem{'s' if count != 1 else ''}); "
                "nothing was loaded"
            ) from exc
        existing = services.find_loaded(pack)
        active = services.active_policy()
        if active is not None and (existing is None or existing.pk != active.pk):
            self._report_against_active(active, pack)
        try:
            version = services.load_pack(pack, actor, activate=options["activate"])
        except services.ActivationError as exc:
            raise CommandError(exc.text) from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        if existing is not None:
            self.stdout.write(
                f"Same content as policy version #{existing.pk} ({existing.status}); "
                "no new version created."
            )
        else:
            self.stdout.write(f"Loaded policy version #{version.pk} as a draft.")
        if options["activate"] and (existing is None or existing.is_draft):
            self.stdout.write(f"Activated policy version #{version.pk}.")
        self.stdout.write(
            f"{version.key} {version.version} #{version.pk} {version.status} "
            f"sha256={version.content_sha256}"
        )

    def _report_against_active(self, active: PolicyVersion, pack: Pack) -> None:
        """Print what loading ``pack`` changes against the active version, loosenings first.

        Across frameworks codes do not match, so the comparison is by risk domain
        (``policies.framework_diff``); within one framework it is item by item.
        """
        current = services.to_pack(active)
        loosenings = all_loosenings(current, pack)
        if is_cross_framework(current, pack):
            framework = diff_frameworks(current, pack)
            self.stdout.write(
                f"Against active version #{active.pk}: switches framework from "
                f"{framework.old_framework} to {framework.new_framework}; "
                f"{len(framework.changes)} finding(s) by risk domain, "
                f"{len(loosenings)} loosening(s)."
            )
        else:
            result = diff_policies(current, pack)
            self.stdout.write(
                f"Against active version #{active.pk}: {len(result)} change(s), "
                f"{len(loosenings)} loosening(s)."
            )
        for change in loosenings:
            where = f"{change.section}/{change.key}" + (f".{change.field}" if change.field else "")
            self.stdout.write(f"  LOOSENING {where}: {change.why}")


def _actor(username: str | None) -> User | None:
    if username is None:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"--actor: no active user named {username!r}")
    return user
