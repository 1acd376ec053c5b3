#!/usr/bin/env bash
# Builds what benches/python_logger.py needs, then runs it:
#
#   bash benches/python_logger.sh [--events N] [--rounds R] [--outage-secs S] [--crossing]
#
# The LiteLLM venv (tests/litellm/setup.sh) with the package built into it in
# release mode, the release `llmtap` (for `generate`) and the capture peer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tests/litellm/setup.sh
venv="${LLMTAP_LITELLM_VENV:-target/litellm-venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
export PATH="$venv/bin:$PATH"
python -m pip install --disable-pip-version-check --quiet \
    -r python/tests/requirements.txt -c python/tests/constraints.txt
python -m pip install --disable-pip-version-check --quiet --no-build-isolation --force-reinstall --no-deps ./python
cargo build --release --quiet --bin llmtap --example capture_peer
export LITELLM_LOCAL_MODEL_COST_MAP=True
exec python benches/python_logger.py --llmtap target/release/llmtap \
    --peer target/release/examples/capture_peer "$@"
