#!/usr/bin/env bash
# Run by `make test` once DATABASE_URL and BROKER_URL point at servers that answer.
# Lint and types first (fast), then every test on Redis, then the tests that depend on the
# broker's behaviour (the lifecycle on a real worker, the chaos tests) on RabbitMQ: a private
# node the session starts (never the machine's). pytest creates its own databases (cloned from
# a freshly migrated template) and never skips for a missing server.
# TEST_BROKERS="redis" (or "rabbitmq") runs one of the two passes only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
RABBITMQ_TESTS=(
    tests/integration/test_lifecycle_paths.py
    tests/integration/test_chaos_worker_kill.py
    tests/integration/test_private_servers.py
    tests/e2e/test_flower.py
)

echo "== ruff"; "$BIN/ruff" check .
echo "== mypy"; "$BIN/mypy"
echo "== chromium"; bash scripts/chromium.sh
for broker in ${TEST_BROKERS:-redis rabbitmq}; do
    case "$broker" in
        redis)
            echo "== pytest (Redis)"
            BROKER=redis "$BIN/pytest" -q -p no:cacheprovider --durations=15 "$@"
            ;;
        rabbitmq)
            echo "== pytest (RabbitMQ: lifecycle and chaos tests)"
            bash scripts/services.sh rabbitmq-binary >/dev/null
            BROKER=rabbitmq "$BIN/pytest" -q -p no:cacheprovider --durations=5 \
                "${RABBITMQ_TESTS[@]}" "$@"
            ;;
        *) echo "unknown broker '$broker' in TEST_BROKERS" >&2; exit 2 ;;
    esac
done
