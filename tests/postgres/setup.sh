#!/usr/bin/env bash
# Installs the PostgreSQL server the database tests start their own
# instances of (crates/llmtap-testkit/src/postgres.rs): Debian's `postgresql`,
# whose binaries land in /usr/lib/postgresql/<version>/bin.
#
#   bash tests/postgres/setup.sh
#
# Idempotent: does nothing when an initdb is there (or $LLMTAP_PG_BIN is
# set). Needs root (or sudo) and the Debian mirrors only when it installs.
# The tests run it themselves when no server is installed.
set -euo pipefail

say() { echo "postgres setup: $*" >&2; }

if [ -n "${LLMTAP_PG_BIN:-}" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "a PostgreSQL server is installed"
    exit 0
fi
command -v apt-get >/dev/null || { say "no apt-get: install PostgreSQL by hand, or set LLMTAP_PG_BIN"; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "not root and no sudo: cannot apt-get install postgresql"; exit 1; }
    sudo="sudo"
fi
exec 9>"${TMPDIR:-/tmp}/llmtap-postgres-setup.lock"
command -v flock >/dev/null && flock -w 600 9
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0 # another test installed it while this one waited
fi
say "installing postgresql with apt-get"
$sudo apt-get update -qq
# The package's own cluster is not used: the tests initdb their own.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >/dev/null || { say "installed, but no initdb found"; exit 1; }
say "installed $(ls -d /usr/lib/postgresql/*/ | tail -1)"
