# RSP Portal front door. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make test` runs the suite in this many processes (pytest-xdist), one per core by default;
# each has its own test database and Celery queue. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
# Demo settings for `make run`; production reads real values from the environment.
RUN_ENV := DEBUG=1 RSP_DEMO=1 PORT=$(PORT)

.PHONY: run manage install install-dev keys migrate demo test test-fast drill lint format schema migrations-check check-deploy bench bench-compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

keys: install
	$(RUN_ENV) $(BIN)/python manage.py audit_keys --if-missing

migrate: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --verbosity 0

# The checkpoint first, as the worker would have signed it (a demo whose worker never ran
# still verifies on a second run); then the seed, which verifies as the beat would.
demo: migrate keys
	$(RUN_ENV) $(BIN)/python manage.py audit_checkpoint --verbosity 0
	$(RUN_ENV) $(BIN)/python manage.py seed_demo

## run: set up everything on a fresh machine and start web, worker and beat (Ctrl-C stops all)
run: demo
	@echo ""
	@echo "RSP Portal is starting at http://127.0.0.1:$(PORT)/  (sign in with a demo login above)"
	@echo ""
	$(RUN_ENV) $(BIN)/honcho start -f Procfile.dev

## manage: a management command with the demo's settings (those of `make run`), e.g.
##   make manage ARGS="export_audit /tmp/audit-bundle"
manage: install
	@$(RUN_ENV) $(BIN)/python manage.py $(ARGS)

## test: the whole suite; uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set
test: install-dev
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## drill: the hostile-insider drill (issues 12 and 22); needs DATABASE_URL=postgres://... and REDIS_URL
drill: install-dev
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "make drill needs DATABASE_URL (PostgreSQL) and REDIS_URL"; exit 2; }
	$(BIN)/pytest tests/audit/test_insider_drill.py tests/audit/test_insider_drill_verification.py tests/audit/test_authority_drill.py tests/core/test_separation_of_duties.py tests/core/test_authority.py tests/core/test_credential_fingerprints.py tests/policies/test_policy_activation_signoff.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schema: regenerate the checked-in OpenAPI schema (a test fails while it is stale)
schema: install
	DJANGO_SETTINGS_MODULE=rsp_portal.test_settings $(BIN)/python manage.py spectacular \
	  --file docs/openapi.yaml --validate --fail-on-warn

migrations-check: install
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

check-deploy: install
	DEBUG=0 SECRET_KEY=check-deploy-secret-key-0123456789abcdefghijklmnop ALLOWED_HOSTS=rsp.example.org \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

bench: install-dev
	$(BIN)/python bench/run.py

# This tree's code against another commit's, side by side on one database: make bench-compare REF=main
bench-compare: install-dev
	@test -n "$(REF)" || { echo "Name the commit to compare with: make bench-compare REF=<commit>"; exit 2; }
	$(BIN)/python bench/compare.py $(REF)

clean:
	rm -rf var/broker var/celerybeat-schedule* staticfiles
