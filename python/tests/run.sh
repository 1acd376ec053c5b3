#!/usr/bin/env bash
# Builds the Python package into the LiteLLM venv and runs its pytest suite.
#
#   bash python/tests/run.sh [pytest args]
#
# 1. tests/litellm/setup.sh: the venv with the pinned LiteLLM (target/litellm-venv);
# 2. the test requirements (maturin, pytest, LiteLLM's proxy server), pinned;
# 3. `pip install ./python`: maturin builds the extension in release mode into
#    the workspace's target/ ($CARGO_TARGET_DIR when set, sharing what cargo
#    built), no build isolation;
# 4. the capture server (crates/llmtap-testkit) and the llmtap binary;
# 5. pytest python/tests (the PostgreSQL tests skip, saying why, unless
#    $LLMTAP_TEST_POSTGRES_URL names a server: tests/python.rs starts one).
# tests/python.rs runs this as part of `cargo test`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
say() { echo "python tests: $*" >&2; }

bash tests/litellm/setup.sh
venv="${LLMTAP_LITELLM_VENV:-target/litellm-venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
export PATH="$venv/bin:$PATH"

stamp="$venv/.llmtap-python-tests-stamp"
want="$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the test requirements"
    python -m pip install --disable-pip-version-check --no-input --quiet --timeout 60 --retries 3 \
        -r "$here/requirements.txt" -c "$here/constraints.txt"
    echo "$want" >"$stamp"
fi

start=$SECONDS
say "building the wheel (pip install ./python)"
python -m pip install --disable-pip-version-check --no-input --quiet --no-build-isolation --force-reinstall --no-deps ./python
say "installed llmtap $(python -c 'import llmtap; print(llmtap.__version__)') in $((SECONDS - start)) s"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
if [ -z "${LLMTAP_CAPTURE_SERVER:-}" ]; then
    cargo build --quiet -p llmtap-testkit --bin capture-server
    export LLMTAP_CAPTURE_SERVER="$target/debug/capture-server"
fi
if [ -z "${LLMTAP_BIN:-}" ]; then
    cargo build --quiet --bin llmtap
    export LLMTAP_BIN="$target/debug/llmtap"
fi
export PYTHONDONTWRITEBYTECODE=1
# -rs: the reason of each skipped test (no PostgreSQL server, no fork) in the summary.
exec python -m pytest -p no:cacheprovider -q -rs "$here" "$@"
