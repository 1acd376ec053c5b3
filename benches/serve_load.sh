#!/usr/bin/env bash
# Load benchmark of `llmtap serve` (issue 10), in one command:
#
#   bash benches/serve_load.sh                      # 4 clients x 512-payload arrays, 60 s, capture API answering in 100 ms
#   DURATION=10 SKIP_DOWN=1 bash benches/serve_load.sh            # a quicker look
#   SERVE_ARGS="--batch-size 500" bash benches/serve_load.sh      # extra flags for serve, word-split as given
#   SERVE_ARGS="--spool-dir $(mktemp -d)" bash benches/serve_load.sh  # a spooled server (a new, empty
#                                                   # directory each run: the down case leaves its events spooled there)
#   RATE=10000 bash benches/serve_load.sh           # offer 10,000 payloads/s in all instead of as fast as answers come
#   LLMTAP_BIN=/path/to/llmtap bash benches/serve_load.sh          # another build
#
# Knobs (environment): DURATION (60 s), CLIENTS (4), BATCH (512 payloads per POST, like
# LiteLLM's generic_api logger with batch size 512), LATENCY_MS (100: how long the capture
# peer takes to answer each /batch/), SERVE_ARGS (extra `llmtap serve` flags, passed
# through; they win over the script's settings, which are given as environment variables),
# RATE (payloads/s offered by all clients together; 0 = each client posts its next array
# as soon as the answer to the previous one is in), PAYLOADS (2048 distinct generated
# payloads, cycled), SEED (42), TARGET (10000 payloads/s), SKIP_DOWN=1 (skip the
# endpoint-down case), DOWN_DURATION (15 s), LLMTAP_BIN, SKIP_BUILD=1 (use the binaries
# as built, e.g. for a series of runs while the tree changes).
#
# 1. builds the release `llmtap`, `benches/tools/load_client.rs` and
#    `benches/tools/capture_peer.rs` (as examples);
# 2. generates PAYLOADS payloads once (`llmtap generate`, cached under target/bench-serve/);
#    the load client makes every posted payload's `litellm_call_id` unique (serve's event
#    uuid, hence its dedup window, derives from it), so nothing is dropped as a repeat;
# 3. "up": the capture peer (its own process) answers every /batch/ after LATENCY_MS and
#    counts the events and distinct uuids it got; `llmtap serve` (its own process, under
#    /usr/bin/time) ships to it; the load client (its own process) posts for DURATION;
#    then the server is stopped with SIGTERM (it flushes every accepted event) and the
#    script checks that the peer got exactly the accepted payloads, each once;
# 4. "down": the same load against a server whose capture API refuses connections, for
#    DOWN_DURATION: what it accepts before answering 503, its peak RSS, and that every
#    accepted event is counted (delivered, dropped or pending) at the stop;
# 5. prints a table (target/bench-serve/results.md) and appends a line per case to
#    target/bench-serve/results.tsv.
#
# CPU is user+sys of each process from /proc/PID/stat (the server's total from
# /usr/bin/time, shutdown flush included); peak RSS is the server's VmHWM as
# /usr/bin/time reports it. The client, the peer and the server share this machine's
# CPUs, so their CPU is printed too. Traffic goes to 127.0.0.1 only. The machine may be
# shared: re-run when the load average printed at the start and end is high.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-4}
BATCH=${BATCH:-512}
LATENCY_MS=${LATENCY_MS:-100}
SERVE_ARGS=${SERVE_ARGS:-}
RATE=${RATE:-0}
PAYLOADS=${PAYLOADS:-2048}
SEED=${SEED:-42}
TARGET=${TARGET:-10000}
DOWN_DURATION=${DOWN_DURATION:-15}
OUT=target/bench-serve
mkdir -p "$OUT"
FILE="$OUT/payloads-$PAYLOADS-$SEED.jsonl"
RESULTS="$OUT/results.tsv"
TIME=/usr/bin/time
TICKS=$(getconf CLK_TCK)
read -r -a serve_args <<<"$SERVE_ARGS"

if [ ! -x "$TIME" ]; then
    echo "serve_load: installing GNU time (/usr/bin/time)" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq time >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq time >/dev/null
    fi
fi

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "serve_load: building (release)" >&2
    cargo build --release --quiet --bin llmtap --example load_client --example capture_peer
fi
LLMTAP=${LLMTAP_BIN:-target/release/llmtap}
CLIENT=target/release/examples/load_client
PEER=target/release/examples/capture_peer

if [ ! -s "$FILE" ]; then
    echo "serve_load: generating $PAYLOADS payloads (seed $SEED) into $FILE" >&2
    "$LLMTAP" generate -n "$PAYLOADS" --seed "$SEED" -o "$FILE"
fi
cat "$FILE" >/dev/null # page cache

PEER_PID= TIME_PID= SERVE_PID= CLIENT_PID=
cleanup() {
    local pid
    for pid in "$CLIENT_PID" "$SERVE_PID" "$TIME_PID" "$PEER_PID"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# field KEY FILE: a number from the flat JSON line in FILE.
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$2" | head -1; }
# cpu PID: user+sys CPU seconds of PID so far.
cpu() { sed 's/.*) //' "/proc/$1/stat" | awk -v t="$TICKS" '{ printf "%.2f", ($12 + $13) / t }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# start_peer ARGS...: the capture peer; sets PEER_PID and PEER_ADDR.
start_peer() {
    rm -f "$OUT/peer.addr"
    "$PEER" 127.0.0.1:0 "$@" >"$OUT/peer.addr" &
    PEER_PID=$!
    for _ in $(seq 50); do [ -s "$OUT/peer.addr" ] && break; sleep 0.1; done
    PEER_ADDR=$(head -1 "$OUT/peer.addr")
    case "$PEER_ADDR" in
    127.*) ;;
    *) echo "serve_load: the capture peer must listen on 127.0.0.0/8, got '$PEER_ADDR'" >&2; exit 1 ;;
    esac
    curl -sf -m 5 "http://$PEER_ADDR/stats" >/dev/null || { echo "serve_load: the capture peer does not answer on $PEER_ADDR" >&2; exit 1; }
}

# start_serve NAME CAPTURE_HOST [ENV=VALUE...]: llmtap serve under /usr/bin/time;
# sets TIME_PID, SERVE_PID and SERVE_ADDR. The script's own settings are
# environment variables, so that any flag in SERVE_ARGS wins over them.
start_serve() {
    local name=$1 host=$2
    shift 2
    rm -f "$OUT/$name.serve.time"
    env LLMTAP_LISTEN=127.0.0.1:0 POSTHOG_HOST="$host" POSTHOG_API_KEY=phc_benchmark "$@" \
        "$TIME" -f '%e %U %S %M' -o "$OUT/$name.serve.time" \
        "$LLMTAP" serve "${serve_args[@]}" 2>"$OUT/$name.serve.log" &
    TIME_PID=$!
    SERVE_PID=
    SERVE_ADDR=
    for _ in $(seq 100); do
        [ -z "$SERVE_PID" ] && SERVE_PID=$(pgrep -P "$TIME_PID" || true)
        SERVE_ADDR=$(sed -n 's|.*listening on http://||p' "$OUT/$name.serve.log" | head -1)
        [ -n "$SERVE_PID" ] && [ -n "$SERVE_ADDR" ] && break
        kill -0 "$TIME_PID" 2>/dev/null || break
        sleep 0.1
    done
    case "$SERVE_ADDR" in
    127.*) ;;
    *) echo "serve_load: llmtap serve did not start:" >&2; tail -5 "$OUT/$name.serve.log" >&2; exit 1 ;;
    esac
    curl -sf -m 5 "http://$SERVE_ADDR/healthz" >/dev/null || { echo "serve_load: llmtap serve does not answer on $SERVE_ADDR" >&2; exit 1; }
}

# stop_serve NAME: SIGTERM, then wait for the flush and the exit; sets SERVE_RC.
stop_serve() {
    kill -TERM "$SERVE_PID"
    SERVE_RC=0
    wait "$TIME_PID" || SERVE_RC=$?
    TIME_PID= SERVE_PID=
}

# run_case NAME DURATION: the load client against the running server, and the figures.
run_case() {
    local name=$1 duration=$2
    local load_start load_end cpu0 cpu1 peer0 peer1 hwm
    load_start=$(loadavg)
    cpu0=$(cpu "$SERVE_PID")
    peer0=$([ -n "$PEER_PID" ] && cpu "$PEER_PID" || echo 0)
    echo "serve_load: $name: ${CLIENTS} clients x $BATCH payloads per POST for ${duration}s, $([ "$RATE" = 0 ] && echo "as fast as answers come" || echo "$RATE payloads/s offered"), serve ${SERVE_ARGS:-(defaults)}; load average $load_start" >&2
    "$TIME" -f '%e %U %S %M' -o "$OUT/$name.client.time" \
        "$CLIENT" --url "http://$SERVE_ADDR/litellm" --payloads "$FILE" --clients "$CLIENTS" \
        --batch "$BATCH" --duration-secs "$duration" --rate "$RATE" --timeline "$OUT/$name.timeline.tsv" >"$OUT/$name.json" 2>"$OUT/$name.client.log" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || { echo "serve_load: the load client failed:" >&2; tail -5 "$OUT/$name.client.log" >&2; exit 1; }
    CLIENT_PID=
    cpu1=$(cpu "$SERVE_PID")
    peer1=$([ -n "$PEER_PID" ] && cpu "$PEER_PID" || echo 0)
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVE_PID/status")
    curl -s -m 5 "http://$SERVE_ADDR/metrics" >"$OUT/$name.metrics" || true
    load_end=$(loadavg)
    stop_serve "$name"

    local j="$OUT/$name.json" wall user sys rss cwall cuser csys crss
    # The last line: GNU time writes "Command exited with non-zero status N" first.
    read -r wall user sys rss < <(tail -1 "$OUT/$name.serve.time")
    read -r cwall cuser csys crss < <(tail -1 "$OUT/$name.client.time")
    local accepted posts ok unavailable other errors sent secs per_s
    accepted=$(field accepted "$j")
    posts=$(field posts "$j")
    ok=$(field status_200 "$j")
    unavailable=$(field status_503 "$j")
    other=$(field status_other "$j")
    errors=$(field errors "$j")
    sent=$(field payloads_sent "$j")
    secs=$(field duration_s "$j")
    per_s=$(field accepted_per_s "$j")
    # Server CPU from the start of the load to its exit (the flush of what
    # was accepted included), per payload accepted and per payload posted
    # (a 503 is answered after parsing the whole array).
    local cpu_total cpu_window
    cpu_total=$(awk -v u="$user" -v s="$sys" -v c="$cpu0" 'BEGIN { printf "%.2f", u + s - c }')
    cpu_window=$(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')
    local stopped delivered dropped pending
    stopped=$(grep -m1 'stopped;' "$OUT/$name.serve.log" || true)
    delivered=$(sed -n 's/.*stopped; \([0-9]*\) events delivered.*/\1/p' <<<"$stopped")
    dropped=$(sed -n 's/.* \([0-9]*\) dropped.*/\1/p' <<<"$stopped")
    # "N pending" in memory; "N stay spooled" with --spool-dir.
    pending=$(sed -n 's/.* \([0-9]*\) \(pending\|stay spooled\).*/\1/p' <<<"$stopped")
    local events=- distinct=- verdict
    if [ "$name" = up ]; then
        curl -s -m 5 "http://$PEER_ADDR/stats" >"$OUT/$name.peer.json"
        events=$(field events "$OUT/$name.peer.json")
        distinct=$(field distinct_uuids "$OUT/$name.peer.json")
        if [ "$events" = "$accepted" ] && [ "$distinct" = "$accepted" ] && [ "$delivered" = "$accepted" ]; then
            verdict="ok: the peer got every accepted payload once ($events events, $distinct distinct uuids)"
        else
            verdict="MISMATCH: $accepted accepted, $delivered delivered, the peer got $events events ($distinct distinct uuids)"
            FAILED=1
        fi
    else
        if [ "$((delivered + dropped + pending))" = "$accepted" ]; then
            verdict="ok: every accepted payload counted ($delivered delivered + $dropped dropped + $pending pending or spooled = $accepted)"
        else
            verdict="MISMATCH: $accepted accepted, but $delivered delivered + $dropped dropped + ${pending:-?} pending or spooled"
            FAILED=1
        fi
    fi
    echo "serve_load: $name: $stopped" >&2
    echo "serve_load: $name: $verdict" >&2
    local met=-
    if [ "$name" = up ]; then
        if [ "$unavailable" = 0 ] && [ "$other" = 0 ] && [ "$errors" = 0 ] && awk -v r="$per_s" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'; then
            met="yes"
        else
            met="no"
        fi
    fi
    {
        echo
        echo "### $name: $CLIENTS clients x $BATCH, $(field duration_s "$j") s, capture API $([ "$name" = up ] && echo "answering in $LATENCY_MS ms" || echo "refusing connections"), serve ${SERVE_ARGS:-(defaults)}"
        echo
        echo "| figure | value |"
        echo "|---|---:|"
        echo "| payloads accepted / s | $(printf '%.0f' "$per_s") (target $TARGET with zero 503s: $met) |"
        echo "| payloads accepted / posted | $accepted / $sent |"
        echo "| POSTs answered 200 / 503 / other / transport errors | $ok / $unavailable / $other / $errors (of $posts) |"
        echo "| seconds with a 503 | $(awk -F'\t' 'NR > 1 && $3 > 0 { n++; if (!f) f = $1; l = $1 } END { printf "%d of %d", n, NR - 1; if (n) printf " (seconds %d to %d)", f, l }' "$OUT/$name.timeline.tsv") |"
        echo "| payloads accepted per second: min / median / max over whole seconds | $(awk -F'\t' -v d="$duration" 'NR > 1 && $1 < d { v[++n] = $5 } END { if (!n) { print "-"; exit } for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t } printf "%d / %d / %d", v[1], v[int((n + 1) / 2)], v[n] }' "$OUT/$name.timeline.tsv") |"
        echo "| POST latency 200: p50 / p90 / p99 / max | $(field latency_200_p50_ms "$j") / $(field latency_200_p90_ms "$j") / $(field latency_200_p99_ms "$j") / $(field latency_200_max_ms "$j") ms |"
        echo "| POST latency 503: p50 / p99 | $(field latency_503_p50_ms "$j") / $(field latency_503_p99_ms "$j") ms |"
        echo "| request bodies posted | $(field mb_per_s "$j") MB/s |"
        echo "| events at the capture peer (distinct uuids) | $events ($distinct) |"
        echo "| server at stop: delivered / dropped / pending or spooled | $delivered / $dropped / $pending (exit $SERVE_RC) |"
        echo "| server peak RSS (VmHWM) | $((rss / 1024)) MiB (at the end of the load: $((hwm / 1024)) MiB) |"
        echo "| server CPU, load start to exit | $cpu_total s ($(awk -v c="$cpu_window" -v s="$secs" 'BEGIN { printf "%.2f", c / s }') cores during the load) |"
        echo "| server CPU-µs per payload accepted / posted | $(awk -v c="$cpu_total" -v a="$accepted" 'BEGIN { printf "%.1f", a ? c / a * 1e6 : 0 }') / $(awk -v c="$cpu_total" -v a="$sent" 'BEGIN { printf "%.1f", a ? c / a * 1e6 : 0 }') |"
        echo "| load client CPU (its peak RSS) | $(awk -v u="$cuser" -v s="$csys" 'BEGIN { printf "%.2f", u + s }') s ($((crss / 1024)) MiB) |"
        echo "| capture peer CPU during the load | $(awk -v a="$peer1" -v b="$peer0" 'BEGIN { printf "%.2f", a - b }') s |"
        echo "| load average at start / end | $load_start / $load_end |"
        echo
        echo "$verdict"
    } | tee -a "$OUT/results.md"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$(date -u +%FT%TZ)" "$name" "$SERVE_ARGS" "$CLIENTS" "$BATCH" "$RATE" "$LATENCY_MS" "$secs" \
        "$per_s" "$ok" "$unavailable" "$other" "$errors" "$accepted" "$events" "$((rss / 1024))" "$cpu_total" \
        "$load_start / $load_end" >>"$RESULTS"
}

[ -s "$RESULTS" ] || printf 'date\tcase\tserve_args\tclients\tbatch\trate\tlatency_ms\tsecs\taccepted_per_s\t200\t503\tother\terrors\taccepted\tpeer_events\tpeak_rss_mib\tserver_cpu_s\tloadavg\n' >"$RESULTS"
: >"$OUT/results.md"
FAILED=
echo "serve_load: $(nproc) CPUs ($(uname -m)), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average at start: $(loadavg)" >&2
echo "serve_load: $(wc -l <"$FILE") payloads, $(($(stat -c %s "$FILE") / $(wc -l <"$FILE"))) B each, $BATCH per POST" >&2

# Up: the capture API answers every batch in LATENCY_MS.
start_peer --latency-ms "$LATENCY_MS" --count-events
start_serve up "http://$PEER_ADDR"
run_case up "$DURATION"

# Down: the same port with nobody listening (connections refused).
DEAD=$PEER_ADDR
kill "$PEER_PID" && wait "$PEER_PID" 2>/dev/null || true
PEER_PID=
if [ -z "${SKIP_DOWN:-}" ]; then
    start_serve down "http://$DEAD" LLMTAP_SHUTDOWN_TIMEOUT_SECS=3
    run_case down "$DOWN_DURATION"
fi

echo "serve_load: load average at end: $(loadavg)" >&2
[ -z "$FAILED" ]
