# Authara: `make dev` runs the whole stack, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
PORT ?= 3000
BIN := $(VENV)/bin
# Test files run in parallel, one worker per core (at most 4); WORKERS=0 runs them in one process.
WORKERS ?= auto
XDIST := -n $(WORKERS) --maxprocesses 4 --dist loadfile
STAMP := $(VENV)/.installed
PACKAGES := -e shared -e shared/runtime -e services/core -e services/gateway -e services/migrations -e services/devstack -e examples/demo
PYPROJECTS := pyproject.toml requirements-dev.txt shared/pyproject.toml shared/runtime/pyproject.toml $(wildcard services/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)

.PHONY: help install dev test lint typecheck test-unit test-db e2e migrate images clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv (if missing) and install every package plus dev tools

$(STAMP): $(PYPROJECTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) (about a minute the first time)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt $(PACKAGES)
	@touch $(STAMP)

dev: install ## run the stack (embedded PostgreSQL, migrations, core, gateway, demo app, mail sink at /_dev/mail) on PORT
	AUTHARA_DEV_VIA_MAKE=1 $(BIN)/authara dev --port $(PORT)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict on services/ and shared/
	$(BIN)/mypy

test-unit: install ## unit and contract tests only
	$(BIN)/pytest tests/unit tests/contract

test-db: install ## integration tests (AUTHARA_TEST_DATABASE_URL selects a server; embedded otherwise)
	$(BIN)/pytest $(XDIST) tests/integration

e2e: install ## end-to-end tests: real processes and headless Chromium
	$(BIN)/python -m tests.e2e.browser_setup
	$(BIN)/pytest $(XDIST) tests/e2e

test: install lint typecheck ## everything: lint, types, unit, contract, integration, e2e
	$(BIN)/python -m tests.e2e.browser_setup
	$(BIN)/pytest $(XDIST)

migrate: install ## apply migrations to the database in POSTGRESQL_* (see README)
	$(BIN)/authara-migrate up

images: ## build and tag the core, gateway and migrations images (REGISTRY=ghcr.io/you, PUSH=1, DRY_RUN=1)
	@REGISTRY='$(REGISTRY)' PUSH='$(PUSH)' DRY_RUN='$(DRY_RUN)' $(PYTHON) deploy/docker/build_images.py

clean: ## remove the virtualenv and caches (keeps .authara dev data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
