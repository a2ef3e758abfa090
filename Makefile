# 智慧团建 — developer entry points. `make` (or `make help`) lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
PYTHON3 ?= python3
# `pip install --user` puts uv here (often not on PATH); `.tools` is the local fallback.
USER_BIN := $(shell $(PYTHON3) -m site --user-base 2>/dev/null)/bin
TOOLS_DIR := $(CURDIR)/.tools
# uv on PATH, else where `make uv` installed it. Recursive (=), so it is resolved again after
# `make uv` ran; override with `make UV=/path/to/uv ...`.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(wildcard $(USER_BIN)/uv),$(wildcard $(TOOLS_DIR)/bin/uv),uv)

VENV := .venv
PY := $(VENV)/bin/python
# Everything mypy checks (strict settings in pyproject.toml).
MYPY_PATHS := shared/src gateway/src $(sort $(wildcard services/*/src)) deploy
PYTEST_ARGS ?=
PSQL ?= psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1

.PHONY: help uv print-uv sync deploy-tools console console-types console-test browser up up-detached down infra observe test lint pytest test-faults bench clean-test-dbs

# Linters of what operators deploy (hadolint, kubernetes-validate, checkov): their own lock and
# environment (deploy/checks/), since checkov pins old versions of packages the services use.
DEPLOY_VENV := deploy/checks/.venv

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
	  | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

uv: ## install uv if missing (pip --user, else a local .tools venv)
	@if command -v "$(UV)" >/dev/null 2>&1; then exit 0; fi; \
	echo "uv not found: installing uv==$(UV_VERSION) with pip --user"; \
	if $(PYTHON3) -m pip install --user --quiet 'uv==$(UV_VERSION)' && [ -x "$(USER_BIN)/uv" ]; then \
	  echo "installed $(USER_BIN)/uv"; \
	else \
	  echo "pip --user did not work: installing uv into $(TOOLS_DIR)"; \
	  $(PYTHON3) -m venv "$(TOOLS_DIR)" && "$(TOOLS_DIR)/bin/pip" install --quiet 'uv==$(UV_VERSION)' \
	  || { echo "cannot install uv: install python3-venv (or uv itself) and retry" >&2; exit 1; }; \
	fi

print-uv: ## print the uv this Makefile uses
	@echo "$(UV)"

# Compiled to bytecode at install, ours too: where PYTHONDONTWRITEBYTECODE is set (this machine,
# our images) Python never writes it, and every process compiled sqlalchemy, fastapi and the rest
# from source when it started (an API took 3.5 s idle, 15-20 s on a busy machine; 1.6 s so).
sync: uv ## install the workspace into .venv exactly as uv.lock says
	"$(UV)" sync --frozen --compile-bytecode
	$(PY) -m compileall -q -j 0 -x '/(\.venv|node_modules)/' $(MYPY_PATHS) >/dev/null

deploy-tools: uv ## the deployment linters (deploy/checks/uv.lock) and promtool (Debian's prometheus)
	"$(UV)" sync --frozen --project deploy/checks --quiet --compile-bytecode
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then \
	    echo "promtool not found: apt-get install prometheus"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus >/dev/null \
	      && { service prometheus stop >/dev/null 2>&1 || true; }; \
	  else echo "promtool not found: install Prometheus (Debian/Ubuntu: apt-get install prometheus)" >&2; exit 1; fi; }

# The web console (gateway/console): npm ci from its lock file, then vite build into dist/,
# each only when what it is made from changed; the gateway serves dist/ at /.
CONSOLE := gateway/console
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src -type f 2>/dev/null) $(CONSOLE)/index.html \
  $(CONSOLE)/vite.config.ts $(CONSOLE)/tsconfig.json

console: $(CONSOLE)/dist/index.html ## build the web console when its build is missing or stale

$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund

$(CONSOLE)/dist/index.html: $(CONSOLE)/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd $(CONSOLE) && npm run build

# The console's API types, from the contract the gateway serves: openapi.json composed from the
# services (no system needed), then openapi-typescript (fetched by npx: its TypeScript 5 peer
# does not sit beside the console's TypeScript 6). The header names the contract's digest, which
# a test compares with openapi.json.
console-types: sync ## regenerate gateway/console/openapi.json and src/api/schema.d.ts after an API change
	$(PY) -m deploy.openapi_snapshot $(CONSOLE)/openapi.json
	cd $(CONSOLE) && npx --yes -p openapi-typescript@7.13.0 -p typescript@5 openapi-typescript openapi.json -o src/api/schema.d.ts
	$(PY) -m deploy.openapi_snapshot --stamp $(CONSOLE)/src/api/schema.d.ts

console-test: $(CONSOLE)/node_modules/.package-lock.json ## the console's unit tests (Vitest)
	cd $(CONSOLE) && npm test

browser: ## Chromium and a Chinese font for the browser tests (Debian's packages; never a test tool's download)
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  if [ "$$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then \
	    echo "apt-get install chromium fonts-wqy-microhei (the screenshots show Chinese)"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null; \
	  else echo "chromium or a Chinese font not found: install them (Debian/Ubuntu: apt-get install chromium fonts-wqy-microhei)" >&2; exit 1; fi; }

up: sync console ## start everything in the foreground (Ctrl-C stops it)
	$(PY) -m deploy.launcher up

up-detached: sync console ## start everything in the background (log in .run/logs/launcher.log)
	$(PY) -m deploy.launcher up --detach

down: ## stop what `make up-detached` started
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON3)) -m deploy.launcher down

infra: ## only start (or, as root on Debian, install) PostgreSQL and RabbitMQ
	$(if $(wildcard $(PY)),$(PY),$(PYTHON3)) -m deploy.launcher infra

test: lint console-test pytest ## lint, type-check, import contracts, then every test

lint: sync deploy-tools ## ruff, ruff format --check, mypy, import contracts, hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_PATHS)
	$(VENV)/bin/lint-imports
	$(DEPLOY_VENV)/bin/hadolint Dockerfile

pytest: sync deploy-tools console browser ## run the tests (PYTEST_ARGS=...); collecting no test is a failure
	@rc=0; $(VENV)/bin/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5): that counts as a failure" >&2; fi; \
	exit $$rc

test-faults: sync ## the fault suite (tests/faults, ~N min): kills, broker and database restarts under load
	$(VENV)/bin/pytest tests/faults $(PYTEST_ARGS)

observe: sync deploy-tools ## Prometheus (Debian's) scraping what `make up` runs, with the alert rules, on :9090
	$(PY) -m deploy.manifests local-prometheus .run/prometheus/prometheus.yml
	prometheus --config.file=.run/prometheus/prometheus.yml --storage.tsdb.path=.run/prometheus/data \
	  --web.listen-address=127.0.0.1:9090

bench: sync ## request path (bare endpoint, service, gateway) and idle memory, on its own copy of the system
	$(PY) bench/request_path.py

clean-test-dbs: ## drop the databases test runs left behind (named test_*)
	@dbs=$$($(PSQL) -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'") || exit 1; \
	if [ -z "$$dbs" ]; then echo "no test databases"; exit 0; fi; \
	for db in $$dbs; do \
	  echo "dropping $$db"; $(PSQL) -qc "DROP DATABASE \"$$db\" WITH (FORCE)" || exit 1; \
	done
