#!/usr/bin/env bash
# Installs the headless browser the report test (tests/report.rs) renders
# `llmtap report`'s page with: Debian's `chromium`.
#
#   bash tests/report/setup.sh
#
# Idempotent: does nothing when /usr/bin/chromium (or $LLMTAP_CHROMIUM)
# already runs. Needs root (or sudo) and the Debian mirrors only when it
# installs.
set -euo pipefail

say() { echo "report setup: $*" >&2; }

chromium="${LLMTAP_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ] && "$chromium" --version >/dev/null 2>&1; then
    say "$("$chromium" --version) is installed"
    exit 0
fi

command -v apt-get >/dev/null || { say "no apt-get: install chromium by hand, or set LLMTAP_CHROMIUM"; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "not root and no sudo: cannot apt-get install chromium"; exit 1; }
    sudo="sudo"
fi
say "installing chromium with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$chromium" --version >/dev/null || { say "$chromium was installed but does not run"; exit 1; }
say "$("$chromium" --version) installed"
