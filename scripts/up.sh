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
"$BIN/python" -m devtools.up env "${resolved[@]}"
"$BIN/alembic" upgrade head
"$BIN/python" -m devtools.up seed
"$BIN/python" -m devtools.up banner
# honcho reads .env too; PORT there (8000) is the web's port, as the first Procfile line.
exec "$BIN/honcho" start --procfile Procfile
