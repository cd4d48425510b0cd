"""``python -m rsp_client check --model SLUG``: the same as ``rsp-gate``."""

from rsp_client.cli import main

raise SystemExit(main())
