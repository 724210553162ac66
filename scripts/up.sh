#!/usr/bin/env bash
# `make up`: find or start PostgreSQL and the broker (scripts/services.sh), write what was
# resolved into .env, migrate, seed an empty database, print what a person needs, and run every
# Procfile process in the foreground with honcho. Ctrl-C (SIGINT) or SIGTERM stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"

envs="$(bash scripts/services.sh env)"
eval "$envs"
resolved=("DATABASE_URL=$DATABASE_URL" "BROKER_URL=$BROKER_URL")
[[ -n "${DATABASE_SSL:-}" ]] && resolved+=("DATABASE_SSL=$DATABASE_SSL")
# Ports set in the environment go into .env too: honcho takes PORT from .env before the
# environment, and gives it to the first Procfile process (web).
[[ -n "${PORT:-}" ]] && resolved+=("PORT=$PORT")
[[ -n "${FLOWER_PORT:-}" ]] && resolved+=("FLOWER_PORT=$FLOWER_PORT")
mkdir -p .local
export BEAT_SCHEDULE_FILE="${BEAT_SCHEDULE_FILE:-$PWD/.local/celerybeat-schedule}"
"$BIN/python" -m devtools.up env "${resolved[@]}"
"$BIN/alembic" upgrade head
"$BIN/python" -m devtools.up seed
"$BIN/python" -m devtools.up banner
# honcho reads .env too; PORT there (8000) is the web's port, as the first Procfile line.
exec "$BIN/honcho" start --procfile Procfile
