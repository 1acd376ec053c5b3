#!/usr/bin/env bash
# The `llmtap` library crate must build without tokio, an HTTP stack or the CLI:
# fails when any of them is in its normal dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p llmtap -e normal --prefix none --format '{p}')
bad=$(grep -E '^(tokio|reqwest|hyper|axum|clap|tower|mio) ' <<<"$tree" || true)
if [ -n "$bad" ]; then
    echo "check-lean-core: the llmtap library depends on:" >&2
    echo "$bad" >&2
    exit 1
fi
cargo clippy -p llmtap --all-targets -- -D warnings
echo "check-lean-core: llmtap has $(sort -u <<<"$tree" | wc -l) crates in its tree, none of tokio/HTTP/CLI" >&2
