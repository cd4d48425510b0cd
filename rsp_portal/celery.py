"""The Celery application, configured from Django settings (the ``CELERY_`` namespace)."""

from __future__ import annotations

import logging
import os

from celery import Celery, signals
from django.db import close_old_connections

from rsp_portal.logs import EmbeddedBrokerNeedsNoHost

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rsp_portal.settings")

app = Celery("rsp_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# kombu warns "No hostname was supplied" whenever it connects to the embedded filesystem
# broker, which has no host; the filter reads the URL lazily, when a record is logged.
logging.getLogger("kombu.connection").addFilter(
    EmbeddedBrokerNeedsNoHost(lambda: app.conf.broker_url)
)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _keep_connections_as_requests_do(sender: object = None, **kwargs: object) -> None:
    """Around each task, what Django does around each request: a connection older than
    ``CONN_MAX_AGE``, or left unusable by an error, is closed, and the next query checks the
    one kept (ADR 0057). A task run eagerly runs inside its caller's request and transaction,
    which own the connection."""
    if sender is not None and not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
