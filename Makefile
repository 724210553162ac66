# Plan Service. `make up` runs the service (every Procfile process, in the foreground);
# `make demo` runs the main job end to end; `make test` runs every test.
# They find PostgreSQL and the broker (DATABASE_URL / BROKER_URL from the environment or .env,
# else the defaults on 127.0.0.1; BROKER=rabbitmq for RabbitMQ), or start private ones
# (scripts/services.sh), installing them when missing. A configured URL where nothing answers
# stops with a message. VENV=/path/to/venv uses another virtual environment.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export VENV
SERVICES = envs="$$(bash scripts/services.sh env)"; eval "$$envs"

.PHONY: install up test lint typecheck unit demo seed migrate bench drill token diagram services services-stop clean

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

up: install
	bash scripts/up.sh

# The tests never read a developer's .env (ENV_FILE empty), and run on Redis, then the
# lifecycle and chaos tests again on a private RabbitMQ node (scripts/test.sh).
test: install
	export ENV_FILE=; $(SERVICES); bash scripts/test.sh

migrate: install
	$(SERVICES); $(BIN)/alembic upgrade head

seed: migrate
	$(SERVICES); $(BIN)/python -m devtools.seed

demo: install
	$(SERVICES); $(BIN)/python -m devtools.demo

bench: install
	$(SERVICES); $(BIN)/python -m bench $(BENCH_ARGS)

# Recovery after a worker SIGKILL: BROKER=redis|rabbitmq, DRILL_ARGS="--claims 2000".
BROKER ?= redis
drill: install
	$(SERVICES); $(BIN)/python -m bench.recovery --broker $(BROKER) $(DRILL_ARGS)

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
