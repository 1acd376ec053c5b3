"""Drive the real LiteLLM SDK against the fake provider, with LiteLLM's own
`generic_api` logger POSTing its standard logging payloads to ENDPOINT.

    python drive.py --endpoint http://127.0.0.1:PORT/litellm [--dump DIR]

Every call goes to the fake provider on 127.0.0.1 (fake_provider.py) with
dummy keys. The logger is configured the documented way: `GENERIC_LOGGER_ENDPOINT`
(and `GENERIC_LOGGER_HEADERS`, taken from the caller's environment when set)
plus `litellm.callbacks = ["generic_api"]`. It batches (512 entries or every
DEFAULT_FLUSH_INTERVAL_SECONDS), so each phase ends with an explicit flush:
drain LiteLLM's logging worker, wait until the logger holds the phase's
payloads, then `await logger.flush_queue()`. The phases use the logger's three
body shapes: json_array (default), ndjson and single.

Nothing may leave 127.0.0.1: a guard refuses DNS lookups of other names and
connections to other addresses, and reports every attempt.

Prints one JSON summary on stdout: LiteLLM's version, each call's outcome,
each POST the logger made (shape, entries, status, the receiver's answer),
and any blocked network attempt. Exits non-zero when something went wrong.
"""

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = None
sys.path.insert(0, HERE)

# --- loopback-only guard, installed before anything opens a socket ----------

BLOCKED = []


def _loopback(host):
    if host in ("localhost", "localhost.", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host, *args, **kwargs):
    h = host.decode() if isinstance(host, bytes) else (host or "")
    if not _loopback(h):
        BLOCKED.append(f"getaddrinfo {h}")
        raise socket.gaierror(socket.EAI_NONAME, f"blocked by the e2e guard: {h} is not loopback")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(address):
    if isinstance(address, tuple) and address and isinstance(address[0], str) and not _loopback(address[0]):
        BLOCKED.append(f"connect {address[0]}")
        raise ConnectionRefusedError(f"blocked by the e2e guard: {address[0]} is not loopback")


class _GuardedSocket(socket.socket):
    def connect(self, address):
        _check_address(address)
        return super().connect(address)

    def connect_ex(self, address):
        _check_address(address)
        return super().connect_ex(address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket = _GuardedSocket

# LiteLLM fetches its model price map from the internet on import unless told not to.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
# Anything that still tries an HTTP(S) proxy-aware fetch goes to a closed local port.
for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ[var] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ.setdefault("LITELLM_LOG", "ERROR")
for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"):
    os.environ.pop(var, None)

from fake_provider import FakeProvider  # noqa: E402

DUMMY_OPENAI_KEY = "sk-fake-e2e-not-a-real-key"
DUMMY_ANTHROPIC_KEY = "sk-ant-fake-e2e-not-a-real-key"
MESSAGES = lambda scenario: [  # noqa: E731
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": f"Say hello. scenario:{scenario}"},
]

# (name, phase, kwargs for litellm.acompletion, expected outcome)
CALLS = [
    ("openai_cache_reasoning", "json_array", dict(model="openai/o3-mini"), "ok"),
    ("openai_plain", "json_array", dict(model="openai/gpt-4o-mini"), "ok"),
    (
        "anthropic_cache_split",
        "json_array",
        dict(
            model="anthropic/claude-sonnet-4-5-20250929",
            # What LiteLLM's proxy passes for a client request; with litellm-enterprise
            # installed its `x-` headers become the SLP's metadata.requester_custom_headers.
            proxy_server_request={
                "url": "http://127.0.0.1/chat/completions",
                "method": "POST",
                "headers": {
                    "content-type": "application/json",
                    "authorization": "Bearer sk-fake-client-key",
                    "x-posthog-property-feature": "checkout",
                    "x-posthog-flag-new-ui": "variant-b",
                    "x-posthog-property-$ai_input_tokens": "1",
                },
                "body": {},
            },
        ),
        "ok",
    ),
    ("anthropic_plain", "json_array", dict(model="anthropic/claude-haiku-4-5-20251001"), "ok"),
    ("anthropic_fail_429", "json_array", dict(model="anthropic/claude-sonnet-4-5-20250929"), "error"),
    (
        "openai_cache_reasoning",
        "ndjson",
        dict(model="openai/o3-mini", stream=True, stream_options={"include_usage": True}),
        "ok",
    ),
    ("anthropic_cache_split", "ndjson", dict(model="anthropic/claude-sonnet-4-5-20250929", stream=True), "ok"),
    ("openai_fail_429", "single", dict(model="openai/gpt-4o-mini"), "error"),
    ("openai_plain", "single", dict(model="openai/gpt-4o-mini"), "ok"),
]
PHASES = ["json_array", "ndjson", "single"]


def trace_id(index, name, kwargs):
    return f"e2e-{index}-{name}{'-stream' if kwargs.get('stream') else ''}"


async def one_call(litellm, provider_url, index, name, kwargs):
    kwargs = dict(kwargs)
    if kwargs["model"].startswith("openai/"):
        kwargs.update(api_base=f"{provider_url}/v1", api_key=DUMMY_OPENAI_KEY, max_retries=0)
    else:
        kwargs.update(api_base=provider_url, api_key=DUMMY_ANTHROPIC_KEY)
    tid = trace_id(index, name, kwargs)
    result = {"index": index, "scenario": name, "trace_id": tid, "model": kwargs["model"], "stream": bool(kwargs.get("stream"))}
    try:
        response = await asyncio.wait_for(
            litellm.acompletion(
                messages=MESSAGES(name),
                max_tokens=100,
                litellm_trace_id=tid,
                num_retries=0,
                timeout=10,
                **kwargs,
            ),
            timeout=20,
        )
        if kwargs.get("stream"):
            text = ""
            async for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            result["text"] = text
        else:
            result["text"] = response.choices[0].message.content
            result["usage"] = response.usage.model_dump() if response.usage else None
        result["outcome"] = "ok"
    except Exception as e:  # the failures are expected to raise
        result["outcome"] = "error"
        result["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        result["status_code"] = getattr(e, "status_code", None)
    return result


def find_generic_logger(litellm):
    from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger

    seen = []
    for name in ("callbacks", "_async_success_callback", "_async_failure_callback", "success_callback", "failure_callback"):
        seen.extend(getattr(litellm, name, None) or [])
    try:
        from litellm.litellm_core_utils import litellm_logging

        seen.extend(getattr(litellm_logging, "_in_memory_loggers", []))
    except ImportError:
        pass
    found = []
    for cb in seen:
        if isinstance(cb, GenericAPILogger) and all(cb is not f for f in found):
            found.append(cb)
    return found


def tap_posts(logger, posts, dump_dir):
    """Wrap the logger's POST to record what it sent and what it got back."""
    original = logger._post_with_retries

    async def recorded(data):
        entry = {"format": logger.log_format, "bytes": len(data), "headers": dict(logger.headers)}
        try:
            if logger.log_format == "ndjson":
                entry["entries"] = len([line for line in data.split("\n") if line.strip()])
            else:
                parsed = json.loads(data)
                entry["entries"] = len(parsed) if isinstance(parsed, list) else 1
                entry["body_type"] = type(parsed).__name__
        except ValueError as e:
            entry["parse_error"] = str(e)
        if dump_dir:
            entry["file"] = os.path.join(dump_dir, f"post-{len(posts):02d}-{logger.log_format}.txt")
            with open(entry["file"], "w") as f:
                f.write(data)
        posts.append(entry)
        try:
            response = await original(data=data)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {e}"
            raise
        entry["status"] = response.status_code
        entry["response"] = response.text[:500]
        return response

    logger._post_with_retries = recorded


async def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


async def main(args):
    import litellm
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    try:
        from importlib.metadata import version

        litellm_version = version("litellm")
    except Exception:
        litellm_version = "unknown"

    os.environ["GENERIC_LOGGER_ENDPOINT"] = args.endpoint
    litellm.callbacks = ["generic_api"]
    litellm.telemetry = False
    litellm.suppress_debug_info = True  # else it prints help banners on stdout for every error

    summary = {"litellm_version": litellm_version, "endpoint": args.endpoint, "calls": [], "posts": [], "problems": []}
    posts = summary["posts"]
    logger = None
    with FakeProvider() as fake:
        for phase in PHASES:
            batch = [(i, c) for i, c in enumerate(CALLS) if c[1] == phase]
            for index, (name, _, kwargs, expected) in batch:
                result = await one_call(litellm, fake.url, index, name, kwargs)
                result["phase"] = phase
                summary["calls"].append(result)
                if result["outcome"] != expected:
                    summary["problems"].append(f"call {index} {name}: expected {expected}, got {result}")
                if logger is None:
                    # "generic_api" becomes a GenericAPILogger on the first call (it
                    # needs a running event loop); tap it before it sends anything.
                    found = find_generic_logger(litellm)
                    if len(found) != 1:
                        summary["problems"].append(f"expected one GenericAPILogger, found {len(found)}")
                        raise SystemExit(fail(summary))
                    logger = found[0]
                    summary["logger"] = {
                        "endpoint": logger.endpoint,
                        "batch_size": logger.batch_size,
                        "flush_interval": logger.flush_interval,
                        "max_retries": getattr(logger, "max_retries", None),
                        "default_log_format": logger.log_format,
                    }
                    tap_posts(logger, posts, args.dump)
                    logger.log_format = phase
            # Callbacks run on LiteLLM's logging worker after each call returns.
            sent_before = sum(p.get("entries", 0) for p in posts)
            await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=15)
            ok = await wait_until(
                lambda: len(logger.log_queue) + sum(p.get("entries", 0) for p in posts) - sent_before >= len(batch),
                timeout=15,
            )
            if not ok:
                summary["problems"].append(
                    f"phase {phase}: logger queued {len(logger.log_queue)} of {len(batch)} payloads"
                )
            await asyncio.wait_for(logger.flush_queue(), timeout=15)
            if phase != PHASES[-1]:
                logger.log_format = PHASES[PHASES.index(phase) + 1]
        summary["provider_requests"] = fake.seen

    sent = sum(p.get("entries", 0) for p in posts)
    if sent != len(CALLS):
        summary["problems"].append(f"the logger sent {sent} payloads for {len(CALLS)} calls")
    for p in posts:
        if not (200 <= (p.get("status") or 0) < 300):
            summary["problems"].append(f"a POST was not accepted: {p}")
    summary["blocked_network"] = list(BLOCKED)
    if BLOCKED:
        summary["problems"].append(f"non-loopback network attempts were blocked: {BLOCKED}")
    if summary["problems"]:
        return fail(summary)
    report(summary)
    return 0


def report(summary):
    text = json.dumps(summary, indent=1)
    if ARGS.summary:
        with open(ARGS.summary, "w") as f:
            f.write(text)
    print(text)


def fail(summary):
    summary["blocked_network"] = list(BLOCKED)
    report(summary)
    print("drive.py: " + "; ".join(summary["problems"]), file=sys.stderr)
    return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="where the generic_api logger POSTs (llmtap serve's /litellm)")
    parser.add_argument("--dump", help="write every POST body the logger sends into this directory")
    parser.add_argument("--summary", help="also write the JSON summary to this file")
    ARGS = args = parser.parse_args()
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    try:
        code = asyncio.run(main(args))
    except SystemExit as e:
        code = e.code
    except Exception:
        traceback.print_exc()
        report({"problems": ["driver crashed: " + traceback.format_exc(limit=3)], "blocked_network": BLOCKED})
        code = 1
    sys.stdout.flush()
    # LiteLLM leaves background tasks and atexit hooks; nothing is left to send.
    os._exit(code)
