#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/test_browser.py), if it is missing.
#
# Playwright's own browser download does not work on a closed network, so the tests drive
# /usr/bin/chromium from Debian's packages. Needs root and apt-get; where either is missing it
# says so LOUDLY and exits 0, and the browser tests then skip with the same reason. It never
# stops the test run: where apt-get fails as root, the browser tests fail and say why.
set -uo pipefail
chromium=${CHROMIUM:-/usr/bin/chromium}  # the tests drive this path; set CHROMIUM only to test

if [ -x "$chromium" ]; then
    exit 0
fi
warn() {
    echo "!!! WARNING: $1" >&2
    echo "!!! The browser tests (tests/test_browser.py, tests/test_site.py) will be SKIPPED." >&2
}
if [ "$(id -u)" != 0 ]; then
    warn "chromium is not installed and installing it needs root (sudo $0)."
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    warn "chromium is not installed and there is no apt-get to install it with."
    exit 0
fi
echo "==> installing Debian's chromium for the browser tests (apt-get, about a minute, once)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
    # Not a skip: on a machine that can install chromium, the browser tests then FAIL and say so.
    echo "!!! ERROR: apt-get could not install chromium; the browser tests will fail." >&2
    exit 0
fi
"$chromium" --version 2>/dev/null || true
