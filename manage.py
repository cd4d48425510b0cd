#!/usr/bin/env python
"""Django's command-line utility for RSP Portal."""

import os
import sys

#: Commands that only read the code (they serve nothing and touch no data) run with the
#: development settings when no environment is given, so a newcomer or a CI step can check the
#: migrations without inventing a production secret. Every other command stays strict.
CODE_ONLY_COMMANDS = frozenset({"makemigrations"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsp_portal.settings")
    if len(sys.argv) > 1 and sys.argv[1] in CODE_ONLY_COMMANDS and "SECRET_KEY" not in os.environ:
        os.environ.setdefault("DEBUG", "1")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 (load the settings now, to report errors plainly)
    except ImproperlyConfigured as exc:
        sys.stderr.write(
            f"Configuration error: {exc}\n"
            "Production settings are strict. For local development set DEBUG=1 "
            "(make run, make test and make migrations-check do).\n"
        )
        sys.exit(2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
