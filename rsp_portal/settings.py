"""RSP Portal settings, driven by environment variables (see the README's configuration table).

With nothing set, the portal runs on an embedded SQLite database and an embedded Celery broker
under ``var/``. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
from csp.constants import NONE, SELF

from rsp_portal.env import (
    env_bool,
    env_commands,
    env_database,
    env_int,
    env_list,
    env_retired,
    env_secret,
    env_str,
    env_url,
)

# Lets the admin and form classes take their model as a type argument (``ModelAdmin[Model]``).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RSP_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Demo mode allows `seed_demo` to create users with printed passwords; never set it in production.
DEMO_MODE = env_bool("RSP_DEMO", False)

SECRET_KEY = env_secret("SECRET_KEY", required=not DEBUG) or (
    "insecure-development-key-only-used-when-DEBUG-is-on"
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Links in e-mails and webhooks; the demo (`make run PORT=…`) links to the port it serves.
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}")
# E-mails to the same people within this many seconds go as one digest (0: each at once).
NOTIFY_DIGEST_SECONDS = env_int("NOTIFY_DIGEST_SECONDS", 60, minimum=0)

INSTALLED_APPS = [
    "core.admin_apps.PortalAdminConfig",  # django.contrib.admin with the portal 403
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "csp",
    "core",
    "audit",
    "policies",
    "evaluations",
    "suites",
    "governance",
    "accountability",
    "transparency",
]

MIDDLEWARE = [
    # First: bearer-token API requests take a lean chain without the browser-only middleware.
    "rsp_portal.middleware.BearerApiFastPath",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # JSON errors and no-store under /api/ (rsp_portal.middleware).
    "rsp_portal.middleware.ApiErrorMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rsp_portal.middleware.LoginRequiredMiddleware",
    # External reviewers reach only the pages their grants concern (rsp_portal.authz).
    "rsp_portal.middleware.ReviewerConfinementMiddleware",
    # Times on pages in the signed-in person's zone (their account settings).
    "rsp_portal.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it sees the outcome of authentication and every other middleware.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "rsp_portal.urls"
WSGI_APPLICATION = "rsp_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.tz",
                "rsp_portal.authz.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the zero-setup default: WAL lets readers run beside the single writer, and
# IMMEDIATE transactions take the write lock at BEGIN, so a read-then-write transaction never
# fails half-way with "database is locked" when it tries to upgrade its lock.
_SQLITE_OPTIONS: dict[str, object] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
}
_SQLITE_DEFAULT: dict[str, object] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": VAR_DIR / "db.sqlite3",
    "OPTIONS": _SQLITE_OPTIONS,
}
_db = env_database("DATABASE_URL", _SQLITE_DEFAULT)
if _db is _SQLITE_DEFAULT:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # a fresh clone has no var/ yet
if _db["ENGINE"] == "django.db.backends.sqlite3" and _db is not _SQLITE_DEFAULT:
    _db["OPTIONS"] = dict(_SQLITE_OPTIONS)
DATABASES = {"default": _db}
# The gate's long reads are planned once per PostgreSQL connection (``rsp_portal.prepared``,
# ADR 0047); off behind a pooler that does not keep one client on one session.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12, minimum=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Lock out by (username, IP) and by IP alone: a username-only lockout would let anyone lock
# leadership out of sign-off.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind reverse proxies REMOTE_ADDR is the proxy's: every failed sign-in would count against
# one address and lock everyone out. TRUSTED_PROXY_COUNT says how many proxies append to
# X-Forwarded-For; the client is the entry that many places from the right (core.client_ip).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Bodies above this are refused with 413 before any parsing; imports have their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Uploaded evidence logs (docs/adr/0013-imports.md): unrecorded uploads (previews) are deleted
# after this many hours, the files of recorded imports after this many days (the hash stays).
IMPORT_PREVIEW_RETENTION_HOURS = env_int("IMPORT_PREVIEW_RETENTION_HOURS", 24, minimum=1)
IMPORT_FILE_RETENTION_DAYS = env_int("IMPORT_FILE_RETENTION_DAYS", 90, minimum=1)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "rsp-portal@localhost")

# --- Audit trail ----------------------------------------------------------------------------
AUDIT_ORIGIN = env_str("AUDIT_ORIGIN", "rsp-portal.local/audit/v1")
# The private key is read only by the checkpoint signer (a Celery worker); web processes need
# just the public key, so a compromised web tier cannot sign a rewritten history.
AUDIT_SIGNING_KEY_FILE = Path(
    env_str("AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "keys" / "audit-signing-key.pem"))
)
AUDIT_PUBLIC_KEY_FILE = Path(
    env_str("AUDIT_PUBLIC_KEY_FILE", str(VAR_DIR / "keys" / "audit-public-key.pem"))
)
# Checkpoints leave the database: every signed checkpoint is appended to this file (put it on
# storage the database owner cannot rewrite) and POSTed to each witness URL. Verification
# refuses a log shorter than, or inconsistent with, the latest checkpoint in the file.
_checkpoint_log = env_str("AUDIT_CHECKPOINT_LOG", str(VAR_DIR / "audit" / "checkpoints.jsonl"))
AUDIT_CHECKPOINT_LOG = Path(_checkpoint_log) if _checkpoint_log else None
AUDIT_WITNESS_URLS = env_list("AUDIT_WITNESS_URLS", [])
# Bearer token sent to the witnesses (an auditor account's `audit:read` token on a peer portal).
AUDIT_WITNESS_TOKEN = env_str("AUDIT_WITNESS_TOKEN", "")
# Logs this portal witnesses: note verifier keys (origin+keyid+base64), comma-separated.
AUDIT_WITNESS_KEYS = env_list("AUDIT_WITNESS_KEYS", [])
# Our witnesses' cosignature keys (C2SP cosignature/v1 verifier keys, name+keyid+base64 of
# 0x04||key), comma-separated: a cosignature a witness returns is kept only if it verifies.
AUDIT_WITNESS_COSIGNER_KEYS = env_list("AUDIT_WITNESS_COSIGNER_KEYS", [])
# This portal as a witness: the Ed25519 key (PEM) it cosigns the checkpoints it witnessed
# with, under the name AUDIT_ORIGIN (unset: it keeps them without cosigning). Web reads it.
AUDIT_COSIGNING_KEY_FILE = env_str("AUDIT_COSIGNING_KEY_FILE", "")
# A gate read pauses when the last successful verification of the trail is older than this
# (the quick verification runs every minute); 0 disables the bound.
AUDIT_VERIFY_MAX_AGE_SECONDS = env_int("AUDIT_VERIFY_MAX_AGE_SECONDS", 180, minimum=0)
# Verification fails when entries stay uncovered by a signed checkpoint longer than this (the
# signer or its periodic task stopped; checkpoints are due every 5 minutes); 0 disables it.
AUDIT_CHECKPOINT_MAX_AGE_SECONDS = env_int("AUDIT_CHECKPOINT_MAX_AGE_SECONDS", 1800, minimum=0)
# The stored gate's MAC key (governance.gatemac): a file of at least 32 random bytes, kept out
# of the database; empty derives the key from SECRET_KEY (docs/adr/0023).
GATE_MAC_KEY_FILE = env_str("GATE_MAC_KEY_FILE", "")
# After a result write, a worker recomputes the model's gate this long after the first write of
# a burst, so that the burst shares one recomputation (docs/adr/0052). Until then the stored gate
# is behind the model's results and a read recomputes it on the spot: never served stale.
GATE_SETTLE_DELAY_MS = env_int("GATE_SETTLE_DELAY_MS", 1000, minimum=0)
# After a credential change of a title holder (password, e-mail, reactivation, a token issued by
# someone else) their signing is suspended for this long; the other title holders are told.
SIGNOFF_COOLING_OFF_HOURS = env_int("SIGNOFF_COOLING_OFF_HOURS", 72, minimum=0)
# Days before a procedural commitment's deadline that safety and leadership are reminded of it.
COMMITMENT_REMINDER_DAYS = env_int("COMMITMENT_REMINDER_DAYS", 3, minimum=1)
# Full verifications on demand (POST /api/v1/audit/verify/), per user.
AUDIT_VERIFY_RATE = env_str("AUDIT_VERIFY_RATE", "6/hour")

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "", ("redis", "rediss"))
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", REDIS_URL or "filesystem://", ("redis", "rediss", "filesystem")
)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "rsp")
# Tasks that need the audit signing key run only on the signer's queue, so the workers that run
# evaluation suites never hold the key (docs/adr/0032-suite-commands-and-the-signer-queue.md).
CELERY_SIGNER_QUEUE = env_str("CELERY_SIGNER_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-signer")
CELERY_TASK_ROUTES = {"audit.*": {"queue": CELERY_SIGNER_QUEUE}}
# Reliability settings (docs/adr/0003-celery-reliability-and-embedded-broker.md): the
# database is the source of truth; the broker only carries primary keys, messages are
# acknowledged after the work is done and re-queued if the worker process dies, and each
# process reserves one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600, minimum=5)
if CELERY_BROKER_URL.startswith("filesystem"):
    # kombu's filesystem transport expects its folders to exist.
    for _folder in ("queue", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY_TIMEOUT}
CELERY_VISIBILITY_TIMEOUT = _VISIBILITY_TIMEOUT
# Celery's Django fix-up closes the database connection before and after every task unless
# told to reuse it, and each task then starts a new PostgreSQL session (a process, cold caches,
# its statements planned again). The worker keeps its connection as a web process does (ADR
# 0057): closed when older than CONN_MAX_AGE or unusable, checked at each task's start and end
# (``rsp_portal.celery``); the fix-up still closes it after this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Audit trail: sign a checkpoint every 5 minutes when the log grew (governance also asks for one
# after each sign-off) and re-verify the whole log hourly.
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint": {"task": "audit.sign_checkpoint", "schedule": 300.0},
    "audit-verify": {"task": "audit.verify", "schedule": 3600.0},
    # Cheap check every minute: hashes and links recomputed in the database, Merkle roots
    # against every checkpoint (stored and external), gate-input rows against their entries.
    "audit-verify-quick": {"task": "audit.verify_quick", "schedule": 60.0},
    # Governance: time alone can change a gate (an evaluation falling due, a verification or a
    # pending decision expiring).
    "governance-sweep-gates": {"task": "governance.sweep_gates", "schedule": 300.0},
    # Reminders before a procedural commitment's deadline (COMMITMENT_REMINDER_DAYS ahead).
    "accountability-remind-commitments": {
        "task": "accountability.remind_commitments",
        "schedule": 3600.0,
    },
    # The outbox (docs/adr/0014-one-transactional-outbox.md): suite runs, notifications and
    # checkpoint requests the fast path missed (a broker outage, a crash) or that wait out a
    # retry backoff, which starts at 10 s; pruning of done messages, daily is enough.
    "core-relay-outbox": {"task": "core.relay_outbox", "schedule": 10.0},
    "core-prune-outbox": {"task": "core.prune_outbox", "schedule": 86400.0},
    # Evaluation suites (docs/adr/0011-suite-runs.md): re-queue runs whose worker vanished,
    # fail runs out of attempts.
    "evaluations-reap-suite-runs": {"task": "evaluations.reap_suite_runs", "schedule": 60.0},
    # Uploaded logs (docs/adr/0013-imports.md): previews go after a day, imports' files later.
    "evaluations-prune-imports": {"task": "evaluations.prune_imports", "schedule": 3600.0},
}
# A running suite run's lease (renewed by the worker's heartbeat every third of it), and how
# long a queued run may wait before the reaper publishes its message again.
SUITE_LEASE_SECONDS = env_int("SUITE_LEASE_SECONDS", 300, minimum=3)
SUITE_REQUEUE_SECONDS = env_int("SUITE_REQUEUE_SECONDS", 300, minimum=3)
# What a `command` suite may run: the deployment's allow-list, never an argv from the database
# (docs/adr/0032-suite-commands-and-the-signer-queue.md). Empty: no command suite can run.
SUITE_COMMANDS = env_commands("SUITE_COMMANDS_FILE")

# --- Transparency (docs/transparency.md) --------------------------------------------------------
# The public view and its API: requests per client address (cached under the audit log's head).
TRANSPARENCY_RATE = env_str("TRANSPARENCY_RATE", "120/minute")
# Noncompliance reports: filings and receipt look-ups per client address.
NONCOMPLIANCE_RATE = env_str("NONCOMPLIANCE_RATE", "10/hour")
# Who receives noncompliance reports is the policy's (its pack's noncompliance_recipients), not
# a deployment setting: reading reporters' identities is authority, changed only by audited acts.
env_retired(
    "NONCOMPLIANCE_RECIPIENT_TITLES",
    "the policy in force names the recipients of noncompliance reports "
    "(noncompliance_recipients in its pack).",
)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rsp_portal.authz.ActionPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "rsp_portal.negotiation.JsonFirstNegotiation",
    # JSON only; the one upload (results/import/) declares its multipart parser itself, so the
    # schema promises multipart nowhere else (form fields carry no JSON numbers or lists).
    "DEFAULT_PARSER_CLASSES": ["rsp_portal.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rsp_portal.api.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rsp_portal.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RSP Portal API",
    "DESCRIPTION": "Responsible Scaling Policy portal: policy, evidence, the scaling gate, "
    "sign-off and the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"; name each choice set after what it is the status of.
    "ENUM_NAME_OVERRIDES": {
        "DecisionStatusEnum": "governance.models.DecisionStatus",
        "SafeguardStatusEnum": "governance.models.SafeguardState",
        "GateStateEnum": "governance.models.GateStatus",
        "GateScopeEnum": "governance.models.Scope",
        "ImportStatusEnum": "evaluations.models.ImportRecord.Status",
        "PolicyStatusEnum": "policies.models.PolicyVersion.Status",
        "SuiteRunStatusEnum": "suites.models.SuiteRun.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "rsp_portal.schema.add_error_responses",
    ],
    # The schema and docs need a signed-in user or a token, like every other route.
    "SERVE_PERMISSIONS": ["rsp_portal.authz.ActionPermission"],
    "SERVE_AUTHENTICATION": [
        "core.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

# --- Security headers -----------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
if not DEBUG:
    # Production runs behind TLS. The proxy header is trusted only when the operator says the
    # proxy strips client-sent copies of it.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    # /healthz is probed over plain HTTP by load balancers and container health checks.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
_OWN_LOGGERS = (
    "celery",
    "rsp_portal",
    "core",
    "policies",
    "evaluations",
    "suites",
    "governance",
    "audit",
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"one_line_refusals": {"()": "rsp_portal.logs.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default config gives "django" its own console handler in DEBUG, so every
        # warning (each refused request) printed twice; the root handler alone prints it.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        # A 401/403/404 is one line with the user, not a traceback (rsp_portal/logs.py).
        "django.request": {"filters": ["one_line_refusals"]},
        # Explicit levels, not inherited from the root: inspect_ai raises the root logger to
        # WARNING inside a worker that ran an Inspect suite, which silenced the worker's
        # "Task ... succeeded" lines and the portal's own INFO lines from then on.
        **{name: {"level": LOG_LEVEL} for name in _OWN_LOGGERS},
    },
}
