# Plan Service. `make demo` runs the main job end to end; `make test` runs every test.
# Both find PostgreSQL and Redis (DATABASE_URL / BROKER_URL, else the defaults on
# 127.0.0.1), or start private ones (scripts/services.sh), installing them when missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SERVICES = eval "$$(bash scripts/services.sh env)"; export DATABASE_SSL=$${DATABASE_SSL:-false}

.PHONY: install test lint typecheck unit demo seed migrate bench token diagram services services-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit -q

test: install
	$(SERVICES); bash scripts/test.sh

migrate: install
	$(SERVICES); $(BIN)/alembic upgrade head

seed: migrate
	$(SERVICES); $(BIN)/python -m devtools.seed

demo: install
	$(SERVICES); $(BIN)/python -m devtools.demo

bench: install
	$(SERVICES); $(BIN)/python -m bench $(BENCH_ARGS)

ROLE ?= member
SUB ?= seed-user-1
token: install
	@$(BIN)/plan token --role $(ROLE) --sub $(SUB)

diagram: install
	$(BIN)/python -m worker.cli diagram-doc

services: 
	bash scripts/services.sh env

services-stop:
	bash scripts/services.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
