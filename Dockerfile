# One image for web (gunicorn), worker and beat. .dockerignore keeps var/, .venv and keys out.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RSP_VAR_DIR=/var/lib/rsp STATIC_ROOT=/app/staticfiles
WORKDIR /app

RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home rsp

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings but no secrets or database (it runs as root; the code and static
# files stay read-only for rsp). Then every directory a process writes to is created here and
# owned by rsp: a named volume mounted on an existing directory starts as a copy of it, owner
# and mode included, so `migrate` (as rsp) can write the audit keys and workers the media.
RUN DEBUG=1 python manage.py collectstatic --noinput --verbosity 0 \
 && mkdir -p /var/lib/rsp/media /var/lib/rsp/keys /keys/private /keys/public \
 && chown -R rsp:rsp /var/lib/rsp /keys \
 && chmod 700 /keys/private /var/lib/rsp/keys

USER rsp
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["gunicorn", "rsp_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
