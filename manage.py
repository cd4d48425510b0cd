#!/usr/bin/env python
"""Django's command-line utility for RSP Portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsp_portal.settings")
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
