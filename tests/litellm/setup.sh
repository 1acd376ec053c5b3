#!/usr/bin/env bash
# Creates the Python venv the real-LiteLLM end-to-end test (tests/litellm_real.rs)
# runs LiteLLM from, and installs the pinned LiteLLM into it.
#
#   bash tests/litellm/setup.sh
#
# Venv: target/litellm-venv, or $LLMTAP_LITELLM_VENV (a relative path is taken
# from the repository root). Python: python3, or $LLMTAP_PYTHON.
# Idempotent: when the venv was built from the same requirements and imports
# fine, it does nothing. Needs the network only to reach PyPI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${LLMTAP_LITELLM_VENV:-target/litellm-venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
python="${LLMTAP_PYTHON:-python3}"
requirements="$here/requirements.txt"
constraints="$here/constraints.txt"

say() { echo "litellm setup: $*" >&2; }

command -v "$python" >/dev/null || { say "no $python on PATH (set LLMTAP_PYTHON)"; exit 1; }
pyversion="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || {
    say "$python does not run (set LLMTAP_PYTHON to a Python 3 interpreter)"
    exit 1
}
stamp_value="$(cat "$requirements" "$constraints" | sha256sum | cut -d' ' -f1) python$pyversion"
stamp="$venv/.llmtap-litellm-stamp"

# What the test needs: LiteLLM, its GenericAPILogger, and the enterprise
# package that makes `callbacks = ["generic_api"]` resolve to it. Importing
# LiteLLM fetches a price map from the internet unless told not to.
check() {
    LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/python" - <<'PY'
import importlib.metadata as md
import litellm_enterprise  # noqa: F401
from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger  # noqa: F401
from litellm.litellm_core_utils import litellm_logging
assert litellm_logging._GENERIC_API_LOGGER_CLS is GenericAPILogger, "generic_api would be a no-op logger"
print(md.version("litellm"))
PY
}

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null; then
    flock -w 900 9 || { say "another setup holds $venv.lock"; exit 1; }
fi

# The stamp is written only after a successful check, so it is enough here
# (importing LiteLLM takes seconds; this path runs before every test run).
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_value" ] && [ -x "$venv/bin/python" ]; then
    say "already installed in $venv ($(grep -m1 '^litellm==' "$requirements"))"
    exit 0
fi

start=$SECONDS
rm -f "$stamp"
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv with $python ($pyversion)"
    "$python" -m venv "$venv" || { say "python3 -m venv failed (on Debian: apt-get install python3-venv)"; exit 1; }
fi
say "installing $(grep -E '^[a-z]' "$requirements" | tr '\n' ' ')"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --timeout 60 --retries 3 -r "$requirements" -c "$constraints" || {
    say "pip install failed: is PyPI reachable? (set LLMTAP_SKIP_LITELLM=1 to skip the test)"
    exit 1
}

# A .pth file runs code at every interpreter start (how the compromised
# litellm 1.82.7/1.82.8 releases stole credentials): refuse unexpected ones.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for pth in "$site"/*.pth; do
    [ -e "$pth" ] || continue
    case "$(basename "$pth")" in
        distutils-precedence.pth | _virtualenv.pth) ;;
        *) say "unexpected $pth in the venv: refusing to use it"; exit 1 ;;
    esac
done

version="$(check)" || { say "installed, but the import check failed"; exit 1; }
echo "$stamp_value" >"$stamp"
say "litellm $version installed in $venv in $((SECONDS - start)) s"
