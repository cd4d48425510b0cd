# One image for web (gunicorn), worker and beat. .dockerignore keeps var/, .venv and keys out.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RSP_VAR_DIR=/var/lib/rsp STATIC_ROOT=/app/staticfiles
WORKDIR /app

RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home rsp

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic runs with the settings the containers run with (DEBUG off), so it writes the
# static manifest the pages are served from; the SECRET_KEY is a dummy for this build step
# only (no secret or database is needed to collect files; the containers get the real key).
# It runs as root; the code and static files stay read-only for rsp. Then every directory a
# process writes to is created here and owned by rsp: a named volume mounted on an existing
# directory starts as a copy of it, owner and mode included, so `migrate` (as rsp) can write
# the audit keys, the worker the external checkpoint log, and web and worker the media.
RUN SECRET_KEY=build-only-dummy-key-for-collectstatic-never-used-at-runtime-0000 \
    python manage.py collectstatic --noinput --verbosity 0 \
 && mkdir -p /var/lib/rsp/media /var/lib/rsp/keys /var/lib/rsp/audit /keys/private /keys/public \
 && chown -R rsp:rsp /var/lib/rsp /keys \
 && chmod 700 /keys/private /var/lib/rsp/keys

USER rsp
EXPOSE 8000
# Healthy only while pages render: /healthz, /login/ and the stylesheet it links (a page that
# fails, e.g. on a missing static file, fails the check; /healthz alone would stay green).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["python", "scripts/healthcheck.py", "http://127.0.0.1:8000"]
CMD ["gunicorn", "rsp_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
