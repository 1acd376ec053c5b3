#!/usr/bin/env bash
# End-to-end benchmark of the shipped binary, in one command:
#
#   bash benches/e2e.sh                 # N=100000 SEED=42 RUNS=5 by default
#   N=20000 RUNS=1 bash benches/e2e.sh  # a quicker look
#   LLMTAP_BIN=/path/to/llmtap bash benches/e2e.sh   # another build (e.g. a candidate change)
#   SKIP_DOWN=1 bash benches/e2e.sh     # without the endpoint-down part
#
# 1. builds the release `llmtap`, `examples/floor.rs` and `examples/capture_peer.rs`;
# 2. generates N payloads once (`llmtap generate`, cached under target/bench-e2e/);
# 3. RUNS times, each under /usr/bin/time (user+sys CPU, wall, peak RSS of that process only):
#    - floor:   every line parsed with serde_json IgnoredAny, read the way replay reads;
#    - devnull: `llmtap replay FILE --output /dev/null` (full pipeline, discarding sink);
#    - posthog: `llmtap replay FILE --posthog` into the capture peer on 127.0.0.1, a
#               separate process (its CPU is not counted), gzip on as shipped;
#    - posthog_nogzip: the same without gzip, only if `llmtap replay` has `--no-gzip`;
# 4. prints medians and every figure as a ratio to the floor of the same run;
# 5. runs `cargo bench --bench capture_down` (RSS and drop counts with the endpoint down).
#
# Why a script rather than a bench target: the figures are those of separate processes
# (the shipped binary, a peer whose CPU must not be counted), which /usr/bin/time measures
# directly. Traffic goes to 127.0.0.1 only. The machine is shared: compare ratios, and
# re-run when the load average printed at the start and end is high.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
SEED=${SEED:-42}
RUNS=${RUNS:-5}
OUT=target/bench-e2e
mkdir -p "$OUT"
FILE="$OUT/payloads-$N-$SEED.jsonl"
RESULTS="$OUT/results.tsv"
TIME=/usr/bin/time

if [ ! -x "$TIME" ]; then
    echo "e2e: installing GNU time (/usr/bin/time)" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq time >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq time >/dev/null
    fi
fi

echo "e2e: building (release)" >&2
cargo build --release --quiet --bin llmtap --example floor --example capture_peer
LLMTAP=${LLMTAP_BIN:-target/release/llmtap}
FLOOR=target/release/examples/floor
PEER=target/release/examples/capture_peer

if [ ! -s "$FILE" ]; then
    echo "e2e: generating $N payloads (seed $SEED) into $FILE" >&2
    "$LLMTAP" generate -n "$N" --seed "$SEED" -o "$FILE"
fi
BYTES=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # page cache: measure parsing, not the disk

PEER_PID=
cleanup() { [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null || true; }
trap cleanup EXIT
# Remove the previous address first: the background redirection may truncate the
# file only after the wait below has read a stale one.
rm -f "$OUT/peer.addr"
"$PEER" 127.0.0.1:0 >"$OUT/peer.addr" &
PEER_PID=$!
for _ in $(seq 50); do [ -s "$OUT/peer.addr" ] && break; sleep 0.1; done
ADDR=$(head -1 "$OUT/peer.addr")
case "$ADDR" in
127.*) ;;
*) echo "e2e: the capture peer must listen on 127.0.0.0/8, got '$ADDR'" >&2; exit 1 ;;
esac
curl -sf -m 5 "http://$ADDR/stats" >/dev/null || { echo "e2e: the capture peer does not answer on $ADDR" >&2; exit 1; }

NOGZIP=
if "$LLMTAP" replay --help | grep -q -- '--no-gzip'; then NOGZIP=1; fi

echo "e2e: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "e2e: $N payloads, $BYTES bytes ($((BYTES / N)) B each), peer on $ADDR, $RUNS run(s)" >&2

# measure NAME EXPECTED_PATTERN COMMAND...: one timed run, a line in $RESULTS.
measure() {
    local name=$1 pattern=$2
    shift 2
    local log="$OUT/$name.log"
    # A bound, so that a delivery problem fails the run instead of hanging it.
    timeout 900 "$TIME" -f '%e %U %S %M' -o "$OUT/$name.time" "$@" >/dev/null 2>"$log" || {
        echo "e2e: $name failed:" >&2
        tail -5 "$log" >&2
        exit 1
    }
    if ! grep -q -- "$pattern" "$log"; then
        echo "e2e: $name did not report '$pattern':" >&2
        tail -5 "$log" >&2
        exit 1
    fi
    read -r wall user sys rss_kib <"$OUT/$name.time"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$wall" "$user" "$sys" "$rss_kib" >>"$RESULTS"
    echo "e2e: run $run $name: wall ${wall}s user ${user}s sys ${sys}s peak RSS $((rss_kib / 1024)) MiB" >&2
}

: >"$RESULTS"
for run in $(seq "$RUNS"); do
    measure floor "$N payloads parsed" "$FLOOR" "$FILE"
    measure devnull "$N events written" "$LLMTAP" replay "$FILE" --output /dev/null
    # RUST_LOG: retries and drops are logged at debug, so a failed run says why.
    measure posthog "$N events delivered" env POSTHOG_HOST="http://$ADDR" POSTHOG_API_KEY=phc_benchmark \
        RUST_LOG=llmtap=debug "$LLMTAP" replay "$FILE" --posthog
    if [ -n "$NOGZIP" ]; then
        measure posthog_nogzip "$N events delivered" env POSTHOG_HOST="http://$ADDR" POSTHOG_API_KEY=phc_benchmark \
            RUST_LOG=llmtap=debug "$LLMTAP" replay "$FILE" --posthog --no-gzip
    fi
done
echo "e2e: peer received $(curl -s "http://$ADDR/stats" 2>/dev/null || echo '?')" >&2

# Medians over the runs. Ratios are paired: each run's figure over the floor of
# the same run (the floor runs right before it), then the median of those.
awk -F'\t' -v n="$N" -v bytes="$BYTES" '
function sorted(list, a,    i, j, t, m) {
    m = split(list, a, " ")
    for (i = 2; i <= m; i++) # insertion sort: mawk has no asort
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return m
}
function median(list,    a, m) {
    m = sorted(list, a)
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function range(list,    a, m) {
    m = sorted(list, a)
    return sprintf("%.2f–%.2f", a[1], a[m])
}
$2 == "floor" { fw[$1] = $3; fc[$1] = $4 + $5 }
{
    if (!($2 in seen)) { seen[$2] = 1; order[++kinds] = $2 }
    runs[$1] = 1
    wall[$2] = wall[$2] " " $3
    cpu[$2] = cpu[$2] " " ($4 + $5)
    rss[$2] = rss[$2] " " $6
    tput_ratio[$2] = tput_ratio[$2] " " (fw[$1] / $3)
    cpu_ratio[$2] = cpu_ratio[$2] " " (($4 + $5) / fc[$1])
}
END {
    nruns = 0
    for (r in runs) nruns++
    printf "\n| %s | %s | %s | %s | %s | %s | %s |\n", "median of " nruns " runs", "events/s", "÷ floor", "CPU-s per 1,000 events", "× floor (range)", "MB/s of input", "peak RSS"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (k = 1; k <= kinds; k++) {
        name = order[k]; w = median(wall[name]); c = median(cpu[name]); r = median(rss[name])
        printf "| %s | %.0f | %.2f | %.4f | %.2f (%s) | %.0f | %.1f MiB |\n", name, n / w, median(tput_ratio[name]), c / n * 1000, median(cpu_ratio[name]), range(cpu_ratio[name]), bytes / w / 1e6, r / 1024
    }
    print ""
    print "events/s and MB/s from wall time; CPU = user + sys of the measured process only;"
    print "ratios paired with the floor of the same run."
}' "$RESULTS" | tee "$OUT/results.md"

echo "e2e: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ -z "${SKIP_DOWN:-}" ]; then
    echo >&2
    echo "e2e: endpoint down (cargo bench --bench capture_down):" >&2
    cargo bench --quiet --bench capture_down 2>/dev/null | tee "$OUT/capture_down.txt"
fi
