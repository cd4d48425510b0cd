"""Settings for the test suite: the real settings with test-only defaults for missing variables.

PostgreSQL and Redis are used when DATABASE_URL and REDIS_URL are set, exactly as in production.
"""

import os
import sys
import uuid
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-deployment-000000")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
if "pytest" in sys.modules:
    # Each test process (each pytest-xdist worker too) has its own Celery queue, so a worker
    # started by another run, or by the other half of this one, never takes its messages. The
    # Celery workers the tests start are given it (tests/services.py ``worker_env``).
    os.environ["CELERY_QUEUE"] = (
        f"rsp-test-{uuid.uuid4().hex[:8]}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    )
    os.environ.pop("CELERY_SIGNER_QUEUE", None)

from rsp_portal.settings import *  # noqa: F403
from rsp_portal.settings import VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if os.environ.get("RSP_TEST_EMAIL_DIR"):  # a worker process's mails, read by its test
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["RSP_TEST_EMAIL_DIR"]
# STORAGES, DEBUG (off) and AUDIT_VERIFY_MAX_AGE_SECONDS stay as in production: pages render
# through the static manifest (tests/conftest.py collects the files once per session), and gates
# trust the trail only within the bound of a passing verification (tests that need a trusted
# trail verify it as the beat would: the ``verified_trail`` fixture, tests.audit_support).
AXES_ENABLED = os.environ.get("AXES_ENABLED", "false") == "true"
# Cookies are not Secure in tests: the test client speaks plain HTTP.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"
TEST_VAR_DIR = VAR_DIR / "test"
# Each test that signs checkpoints gets its own external checkpoint log (tests.audit_support);
# a shared file would mix notes signed by different test keys.
AUDIT_CHECKPOINT_LOG = None
AUDIT_VERIFY_RATE = "10000/hour"
AUDIT_WITNESS_URLS = []
AUDIT_WITNESS_KEYS = []
AUDIT_WITNESS_COSIGNER_KEYS = []
AUDIT_COSIGNING_KEY_FILE = ""
# The test deployment's suite-command allow-list: one script with modes (tests/commands/).
SUITE_COMMANDS = {
    "emit-metrics": {
        "argv": [
            sys.executable,
            str(Path(__file__).resolve().parent.parent / "tests" / "commands" / "emit_metrics.py"),
        ],
        "cwd": "",
        "env": {},
        "allow_args": True,
    },
}
