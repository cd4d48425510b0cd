"""Client for the RSP Portal REST API v1, and the fail-closed ``rsp-gate`` command.

Standard library only, so a training pipeline can ``pip install`` it or vendor the package::

    from rsp_client import Client
    client = Client.from_env()             # RSP_URL, RSP_TOKEN
    if not client.gate("atlas-7", compute=3e25).approved:
        raise SystemExit("paused by the RSP gate")
"""

from rsp_client.client import *  # noqa: F403  (the API is ``client.__all__``)
from rsp_client.client import __all__ as __all__

__version__ = "0.1.0"
