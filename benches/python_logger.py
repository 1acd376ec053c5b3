"""llmtap's LiteLLM logger against LiteLLM's own PostHogLogger, in one process.

    bash benches/python_logger.sh [args]     # builds what it needs, then runs this
    python benches/python_logger.py --llmtap target/release/llmtap \
        --peer target/release/examples/capture_peer [--events 3000] [--rounds 3]
        [--outage-secs 30] [--crossing]

Both loggers get the same payloads (`llmtap generate`, the realistic mix,
~15 KB each) through `async_log_success_event`, as LiteLLM's proxy calls
them, one after the other on one asyncio loop, and send to the same capture
peer on 127.0.0.1 (a separate process, so its CPU is not counted). Rounds
alternate between the two, so both see the same machine.

Per event it reports:
- caller CPU: the loop thread's CPU (`time.thread_time`) over the logging
  calls and the final flush; for PostHogLogger that includes its inline
  flush every 100 events, for llmtap turning the payload into JSON and one
  channel send (the Rust threads are not the caller's);
- whole-process CPU (`time.process_time`, every thread, the Rust worker
  included), from the first call until everything was delivered;
- the caller's wall time per call: p50, p99, max.

`--outage-secs S` then runs llmtap alone against a peer that answers 500
for S seconds from the first batch, logging through the outage at a steady
rate, and checks that the peer got every event exactly once.

`--crossing` times the three ways a payload dict can reach Rust:
`json.dumps(default=str)`, `orjson.dumps(default=str)` and llmtap's walk.

Prints a JSON summary last; exits non-zero when a target is missed.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TARGETS = {"caller_ratio": 5.0, "process_ratio": 2.5, "p99_us": 100.0}


def start_peer(peer, *extra):
    proc = subprocess.Popen(
        [peer, "127.0.0.1:0", "--count-events", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    addr = proc.stdout.readline().strip()
    if not addr:
        raise SystemExit("the capture peer did not start")
    return proc, f"http://{addr}"


def peer_stats(url):
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as r:
        return json.load(r)


def payloads(llmtap, n, seed=7):
    out = subprocess.run(
        [llmtap, "generate", "-n", str(n), "--seed", str(seed)], check=True, capture_output=True
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# The request metadata LiteLLM's proxy passes callbacks (recorded), which
# PostHogLogger reads from `litellm_params` (llmtap reads only the SLP).
METADATA = json.loads(
    (Path(__file__).resolve().parents[1] / "tests/fixtures/litellm/captured_kwargs.json").read_text()
)["litellm_params"]["metadata"]


def kwargs_of(slp):
    # What LiteLLM hands a callback, as far as either logger reads it.
    return {"standard_logging_object": slp, "litellm_params": {"metadata": METADATA}}


async def drive(logger, slps, finish):
    """Logs every payload as the proxy would; returns caller CPU, process CPU
    (seconds, both) and the wall time of each call."""
    calls = [kwargs_of(s) for s in slps]
    walls = []
    thread0, process0 = time.thread_time(), time.process_time()
    for i, kwargs in enumerate(calls):
        start = time.perf_counter()
        await logger.async_log_success_event(kwargs, None, None, None)
        walls.append(time.perf_counter() - start)
        if i % 10 == 9:
            await asyncio.sleep(0)  # the proxy's loop runs other tasks too
    await finish()
    return time.thread_time() - thread0, time.process_time() - process0, walls


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(name, runs, n):
    caller = statistics.median(r[0] for r in runs) / n
    process = statistics.median(r[1] for r in runs) / n
    walls = [w for r in runs for w in r[2]]
    out = {
        "caller_cpu_us": round(caller * 1e6, 2),
        "process_cpu_us": round(process * 1e6, 2),
        "p50_us": round(percentile(walls, 0.50) * 1e6, 2),
        "p99_us": round(percentile(walls, 0.99) * 1e6, 2),
        "max_us": round(max(walls) * 1e6, 2),
    }
    print(f"{name:>15}: " + ", ".join(f"{k} {v}" for k, v in out.items()), file=sys.stderr)
    return out


async def compare(args, rounds, warmup):
    from litellm.integrations.posthog import PostHogLogger

    import llmtap

    peer, url = start_peer(args.peer)
    try:
        os.environ["POSTHOG_API_KEY"] = "phc_bench"
        os.environ["POSTHOG_API_URL"] = url
        theirs = PostHogLogger()
        ours = llmtap.LiteLLMLogger(api_key="phc_bench", posthog_host=url, **args.setting)

        async def their_finish():
            await theirs.flush_queue()

        async def our_finish():
            report = ours.flush(120.0)
            assert not report["timed_out"], report

        results = {"posthog_logger": [], "llmtap": []}
        # A warm-up round each (imports, connections, allocator), not counted.
        # Each round logs other calls (another seed), as llmtap drops a call
        # it has already sent.
        await drive(theirs, warmup, their_finish)
        await drive(ours, warmup, our_finish)
        for batch in rounds:
            results["posthog_logger"].append(await drive(theirs, batch, their_finish))
            results["llmtap"].append(await drive(ours, batch, our_finish))
        ours.shutdown(30.0)
        stats = ours.stats()
        seen = peer_stats(url)
    finally:
        peer.kill()
    n = len(rounds[0])
    summary = {name: summarize(name, runs, n) for name, runs in results.items()}
    b, o = summary["posthog_logger"], summary["llmtap"]
    summary["caller_ratio"] = round(b["caller_cpu_us"] / o["caller_cpu_us"], 2)
    summary["process_ratio"] = round(b["process_cpu_us"] / o["process_cpu_us"], 2)
    summary["llmtap_stats"] = stats
    expected = n * len(rounds) + len(warmup)
    summary["llmtap_lossless"] = stats["delivered"] == expected and sum(stats["dropped"].values()) == 0
    summary["peer_events"] = seen
    return summary


async def outage(args, slps):
    import llmtap

    peer, url = start_peer(args.peer, "--fail-for-secs", str(args.outage_secs))
    try:
        ours = llmtap.LiteLLMLogger(api_key="phc_bench", posthog_host=url)
        # A steady rate through the outage and 5 s past it.
        seconds = args.outage_secs + 5
        n = min(len(slps), max(1, int(args.outage_rate * seconds)))
        started = time.monotonic()
        for i in range(n):
            await ours.async_log_success_event(kwargs_of(slps[i]), None, None, None)
            ahead = started + (i + 1) / args.outage_rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        report = ours.shutdown(180.0)
        seen = peer_stats(url)
    finally:
        peer.kill()
    out = {
        "logged": n,
        "outage_secs": args.outage_secs,
        "report": report,
        "peer": seen,
        "lossless": report["delivered"] == n
        and seen["distinct_uuids"] == n
        and seen["events"] == n
        and sum(report["dropped"].values()) == 0
        and seen["failed"] > 0,
    }
    print(f"{'outage':>15}: {json.dumps(out)}", file=sys.stderr)
    return out


def crossing(slps):
    import orjson

    from llmtap import _llmtap

    ways = {
        "json.dumps": lambda s: json.dumps(s, default=str).encode(),
        "orjson.dumps": lambda s: orjson.dumps(s, default=str),
        "llmtap walk": _llmtap._payload_json,
    }
    out = {}
    for name, f in ways.items():
        times = []
        for _ in range(5):
            start = time.thread_time()
            for s in slps:
                f(s)
            times.append((time.thread_time() - start) / len(slps))
        out[name] = round(statistics.median(times) * 1e6, 2)
    print(f"{'crossing (us)':>15}: {out}", file=sys.stderr)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llmtap", required=True, help="the llmtap binary (for `generate`)")
    parser.add_argument("--peer", required=True, help="the capture_peer benchmark tool")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage-secs", type=int, default=0)
    parser.add_argument("--outage-rate", type=float, default=200.0, help="calls per second")
    parser.add_argument("--crossing", action="store_true")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an llmtap setting for the comparison, e.g. gzip=false",
    )
    args = parser.parse_args()
    args.setting = dict((k, json.loads(v)) for k, v in (s.split("=", 1) for s in args.setting))

    rounds = [payloads(args.llmtap, args.events, seed=7 + r) for r in range(args.rounds)]
    warmup = payloads(args.llmtap, 200, seed=1)
    slps = rounds[0]
    summary = {"events": len(slps), "payload_bytes": round(statistics.mean(len(json.dumps(s)) for s in slps))}
    if args.crossing:
        summary["crossing_us"] = crossing(slps)
    summary.update(asyncio.run(compare(args, rounds, warmup)))
    if args.outage_secs:
        summary["outage"] = asyncio.run(outage(args, slps))
    missed = []
    if summary["caller_ratio"] < TARGETS["caller_ratio"]:
        missed.append(f"caller CPU ratio {summary['caller_ratio']} < {TARGETS['caller_ratio']}")
    if summary["process_ratio"] < TARGETS["process_ratio"]:
        missed.append(f"process CPU ratio {summary['process_ratio']} < {TARGETS['process_ratio']}")
    if summary["llmtap"]["p99_us"] > TARGETS["p99_us"]:
        missed.append(f"p99 {summary['llmtap']['p99_us']} us > {TARGETS['p99_us']}")
    if not summary["llmtap_lossless"]:
        missed.append("llmtap lost events")
    if args.outage_secs and not summary["outage"]["lossless"]:
        missed.append("events lost in the outage")
    summary["missed"] = missed
    print(json.dumps(summary, indent=2))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
