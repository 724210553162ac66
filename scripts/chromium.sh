#!/usr/bin/env bash
# Make sure Debian's chromium is there for the console's browser tests (Playwright drives it
# through executable_path; `playwright install` cannot download browsers here). Installs it
# with apt-get when missing and running as root; otherwise says what to do and fails.
set -euo pipefail
BROWSER="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ -x "$BROWSER" ]]; then
    exit 0
fi
if [[ "${SERVICES_NO_INSTALL:-0}" != "1" && "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "chromium: installing Debian package 'chromium' (apt-get) ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null >&2
    [[ -x "$BROWSER" ]] && exit 0
fi
echo "chromium: $BROWSER is missing; install it (apt-get install chromium) or set CHROMIUM_PATH" >&2
exit 1
