# brokerplane developer tasks. Needs only python3 (3.11+) and make; everything else goes in .venv.
#   make serve   run the API on http://127.0.0.1:8080 with demo data (SQLite under ./var), the
#                back-office console at http://127.0.0.1:8080/console/, and
#                the MT5 Web API's TCP protocol on 127.0.0.1:4430 (MT5_TCP_PORT=... to move it)
#   make test    the test suite (PostgreSQL tests too when a server is available)
#   make cov     the test suite with line coverage and its floor, as CI runs it
#   make check   format, lint, fmt: skip markers, types, import layers and schema drift, as CI
#                runs them
#   make docs    the docs site into ./site (offline; a broken link or anchor fails it)
#   make lock    refresh requirements.lock (pinned, hashed) from pyproject.toml

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_ARGS ?=
MT5_TCP_PORT ?= 4430
PYTEST_ARGS ?=

LOCK := requirements.lock
LOCK_ARGS ?=

.PHONY: help venv serve test screenshots cov soak check fmt lock docs docs-serve bench clean distclean

help:
	@echo "make venv       create .venv and install brokerplane with its dev tools"
	@echo "make serve      serve the API and the console (/console/) with demo data in ./var"
	@echo "make test       run the tests in parallel (PYTEST_ARGS='-k accounts')"
	@echo "make cov        the tests with line coverage; fails under the floor in pyproject.toml"
	@echo "make soak       the reliability scenarios at full size: kills, outages, races"
	@echo "make screenshots retake the console's stale screenshots in docs/screenshots/"
	@echo "make check      ruff format --check, ruff check, fmt: skip, mypy, lint-imports, db check"
	@echo "make fmt        format and autofix"
	@echo "make docs       build the docs site into ./site (strict, offline)"
	@echo "make lock       refresh requirements.lock (LOCK_ARGS=--upgrade for newer releases)"
	@echo "make bench      run bench/run.sh"
	@echo "make clean      remove caches and build output (keeps .venv and ./var)"
	@echo "make distclean  clean, and remove .venv"

venv: $(STAMP)

# Re-installs only when pyproject.toml or the lockfile is newer than the stamp. Every dependency
# comes from requirements.lock, pinned and hash-checked; brokerplane itself is installed editable
# on top, without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "python3 not found: install Python 3.11 or newer" >&2; exit 1; }
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	    || { echo "brokerplane needs Python 3.11+; $(PYTHON) is older (set PYTHON=...)" >&2; exit 1; }; \
	  echo "creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	@echo "installing brokerplane and its tools into $(VENV) from $(LOCK) (a minute or two the"
	@echo "first time; pip's progress follows, and nothing is fetched again until the lock changes)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps -e .
	@touch $(STAMP)

serve: venv
	@echo "starting brokerplane: migrating ./var, then the demo data (its secrets also go to var/demo.json)"
	$(BIN)/brokerplane serve --demo --mt5-tcp-port $(MT5_TCP_PORT) $(SERVE_ARGS)

# PostgreSQL tests use BROKERPLANE_TEST_DATABASE_URL when set, else a throwaway cluster when
# PostgreSQL binaries are installed, else they skip (BROKERPLANE_REQUIRE_POSTGRES=1 makes that
# a failure, as in CI).
# Dialect (translation) tests run on SQLite only, SQL behaviour on both engines (tests/conftest.py;
# BROKERPLANE_ALL_ENGINES=1 runs everything on both).
test: venv
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

# The console's screenshots in docs/screenshots/: the browser tests retake those whose page's
# template or stylesheet changed (tests/console/screenshots.py); `make test` never rewrites them
# and fails while one is stale. SCREENSHOTS=all retakes every one.
screenshots: venv
	BROKERPLANE_SCREENSHOTS=$(or $(SCREENSHOTS),1) BROKERPLANE_REQUIRE_BROWSER=1 \
		$(BIN)/pytest -n 2 tests/console/test_console.py tests/console/test_console_admin.py \
		tests/console/test_second_factor.py $(PYTEST_ARGS)

# The same run with line coverage of src/brokerplane; fails under [tool.coverage.report]
# fail_under. Not part of `make test`: coverage roughly doubles the CPU time of Python-bound tests.
cov: venv
	$(BIN)/pytest -n auto --cov=brokerplane --cov-report=term:skip-covered $(PYTEST_ARGS)

# The reliability scenarios in full (20 kills, 32 clients, longer outages), one at a time.
soak: venv
	BROKERPLANE_SOAK=1 $(BIN)/pytest -p no:xdist -v tests/reliability $(PYTEST_ARGS)

check: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python tools/fmtskip.py --check
	$(BIN)/mypy
	$(BIN)/lint-imports
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  url="sqlite:///$$tmp/check.db"; \
	  echo "brokerplane db upgrade && brokerplane db check (fresh SQLite)"; \
	  $(BIN)/brokerplane db upgrade --database-url "$$url" --data-dir "$$tmp" >/dev/null && \
	  $(BIN)/brokerplane db check --database-url "$$url" --data-dir "$$tmp"

# Re-resolves pyproject.toml's dependencies (with the dev extra) into requirements.lock, keeping
# the pins that still fit; LOCK_ARGS=--upgrade moves every pin to the newest release.
lock: venv
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) -o $(LOCK) pyproject.toml

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The docs site (mkdocs.yml): reference pages are generated from the code at build time
# (tools/docs/hooks.py); --strict turns a broken link or anchor into a failure.
docs: venv
	$(BIN)/mkdocs build --strict --quiet

docs-serve: venv
	$(BIN)/mkdocs serve

# Installs wrk and pgbench when missing; options are BENCH_* variables (bench/README.md).
bench: venv
	bash bench/run.sh

clean:
	rm -rf build dist site .pytest_cache .mypy_cache .ruff_cache .import_linter_cache src/*.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
