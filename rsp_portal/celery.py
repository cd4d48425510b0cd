"""The Celery application, configured from Django settings (the ``CELERY_`` namespace)."""

from __future__ import annotations

import logging
import os

from celery import Celery

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
