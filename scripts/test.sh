#!/usr/bin/env bash
# Run by `make test` once DATABASE_URL and BROKER_URL point at servers that answer.
# Lint and types first (fast), then every test. pytest creates its own databases
# (cloned from a freshly migrated template) and never skips for a missing server.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

echo "== ruff"; $BIN/ruff check .
echo "== mypy"; $BIN/mypy
echo "== pytest"
$BIN/pytest -q -p no:cacheprovider --durations=15 "$@"
