#!/usr/bin/env python
"""Management entry point of the bare Django baseline that ``bench/run.py`` compares against."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baseline.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
