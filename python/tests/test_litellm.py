"""The real LiteLLM (pinned in tests/litellm/requirements.txt) with
`llmtap.LiteLLMLogger` registered both ways: in the SDK
(`litellm.callbacks = [...]`) and in a real `litellm --config` proxy
(`callbacks: llmtap.litellm.logger`), against the fake provider on
127.0.0.1, to the capture server."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import json

import pytest

import llmtap
from conftest import PATIENCE

litellm = pytest.importorskip("litellm")

TOKEN_KEYS = [
    "$ai_input_tokens",
    "$ai_output_tokens",
    "$ai_cache_read_input_tokens",
    "$ai_cache_creation_input_tokens",
    "$ai_cache_creation_5m_input_tokens",
    "$ai_cache_creation_1h_input_tokens",
    "$ai_reasoning_tokens",
]
# What the fake provider reports per scenario, normalized (the same table as
# tests/litellm_real.rs): absent keys were not reported and must stay absent.
EXPECTED = {
    "openai_cache_reasoning": {
        "$ai_input_tokens": 4000,
        "$ai_output_tokens": 900,
        "$ai_cache_read_input_tokens": 3584,
        "$ai_reasoning_tokens": 640,
    },
    "openai_plain": {"$ai_input_tokens": 12, "$ai_output_tokens": 5},
    "anthropic_cache_split": {
        "$ai_input_tokens": 23427,
        "$ai_output_tokens": 400,
        "$ai_cache_read_input_tokens": 18000,
        "$ai_cache_creation_input_tokens": 5424,
        "$ai_cache_creation_5m_input_tokens": 1424,
        "$ai_cache_creation_1h_input_tokens": 4000,
        "$ai_reasoning_tokens": 0,
    },
    "anthropic_plain": {
        "$ai_input_tokens": 50,
        "$ai_output_tokens": 25,
        "$ai_cache_read_input_tokens": 0,
        "$ai_cache_creation_input_tokens": 0,
        "$ai_reasoning_tokens": 0,
    },
}
MODELS = {
    "openai_cache_reasoning": "openai/o3-mini",
    "openai_plain": "openai/gpt-4o-mini",
    "openai_fail_429": "openai/gpt-4o-mini",
    "anthropic_cache_split": "anthropic/claude-sonnet-4-5-20250929",
    "anthropic_plain": "anthropic/claude-haiku-4-5-20251001",
    "anthropic_fail_429": "anthropic/claude-sonnet-4-5-20250929",
}
CLIENT_HEADERS = {
    "x-posthog-property-feature": "checkout",
    "x-posthog-flag-new-ui": "variant-b",
    "x-posthog-property-$ai_input_tokens": "1",
}


def messages(scenario):
    return [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": f"Say hello. scenario:{scenario}"},
    ]


def provider_args(fake, scenario):
    if MODELS[scenario].startswith("openai/"):
        return dict(api_base=f"{fake.url}/v1", api_key="sk-fake-not-a-key", max_retries=0)
    return dict(api_base=fake.url, api_key="sk-ant-fake-not-a-key")


def by_trace(events):
    return {e["properties"]["$ai_trace_id"]: e for e in events}


def assert_tokens(event, scenario):
    props = event["properties"]
    got = {k: props[k] for k in TOKEN_KEYS if k in props}
    assert got == EXPECTED[scenario], f"{scenario}: {props}"
    assert props["$ai_cache_reporting_exclusive"] is False


@pytest.fixture
def sdk_logger(capture):
    logger = llmtap.LiteLLMLogger(api_key="phc_sdk", posthog_host=capture.url, flush_interval_ms=20)
    before = list(litellm.callbacks)
    litellm.callbacks = [logger]
    litellm.suppress_debug_info = True
    yield logger
    litellm.logging_callback_manager._reset_all_callbacks()
    litellm.callbacks = before
    logger.shutdown(10)


async def drain_litellm():
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=15)


def test_sdk_async_calls_become_events_with_exact_tokens(capture, fake_provider, sdk_logger):
    streamed = {"openai_cache_reasoning", "anthropic_cache_split"}

    async def run():
        calls = [(s, False) for s in MODELS] + [(s, True) for s in sorted(streamed)]
        for i, (scenario, stream) in enumerate(calls):
            extra = dict(provider_args(fake_provider, scenario))
            if stream:
                extra["stream"] = True
                if scenario.startswith("openai"):
                    extra["stream_options"] = {"include_usage": True}
            if scenario == "anthropic_cache_split" and not stream:
                extra["proxy_server_request"] = {
                    "url": "http://127.0.0.1/chat/completions",
                    "method": "POST",
                    "headers": {"content-type": "application/json", "authorization": "Bearer sk-client", **CLIENT_HEADERS},
                    "body": {},
                }
            try:
                response = await litellm.acompletion(
                    model=MODELS[scenario],
                    messages=messages(scenario),
                    max_tokens=100,
                    litellm_trace_id=f"sdk-{i}-{scenario}{'-stream' if stream else ''}",
                    num_retries=0,
                    timeout=10,
                    **extra,
                )
                if stream:
                    async for _ in response:
                        pass
            except Exception:
                assert "fail" in scenario
        await drain_litellm()
        return len(calls)

    n = asyncio.run(run())
    report = sdk_logger.flush(10)
    events = capture.wait_for_events(n)
    assert len(events) == n, [e["properties"]["$ai_trace_id"] for e in events]
    assert report["delivered"] == n and report["duplicates"] == 0, report
    assert sum(report["dropped"].values()) == 0, report
    traces = by_trace(events)
    for trace, event in traces.items():
        scenario = trace.split("-", 2)[2].removesuffix("-stream")
        props = event["properties"]
        if "fail" in scenario:
            assert props["$ai_is_error"] is True and props["$ai_http_status"] == 429, props
            assert "$ai_total_cost_usd" not in props
        else:
            assert_tokens(event, scenario)
            assert props.get("$ai_is_error") is None
            assert props["$ai_stream"] is trace.endswith("-stream"), trace
    (headed,) = [e["properties"] for t, e in traces.items() if t.endswith("-anthropic_cache_split")]
    assert headed["feature"] == "checkout" and headed["$feature/new-ui"] == "variant-b", headed
    assert headed["$ai_input_tokens"] == 23427, "a header cannot override a token count"


def test_sdk_sync_calls_go_through_the_sync_hooks(capture, fake_provider, sdk_logger):
    for i, scenario in enumerate(["openai_cache_reasoning", "openai_fail_429"]):
        try:
            litellm.completion(
                model=MODELS[scenario],
                messages=messages(scenario),
                max_tokens=100,
                litellm_trace_id=f"sync-{i}-{scenario}",
                num_retries=0,
                timeout=10,
                **provider_args(fake_provider, scenario),
            )
        except Exception:
            assert "fail" in scenario
    events = capture.wait_for_events(2)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # a late second copy would show here
        time.sleep(0.1)
    events = capture.events()
    assert len(events) == 2, [e["properties"]["$ai_trace_id"] for e in events]
    traces = by_trace(events)
    assert_tokens(traces["sync-0-openai_cache_reasoning"], "openai_cache_reasoning")
    assert traces["sync-1-openai_fail_429"]["properties"]["$ai_is_error"] is True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body, headers):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_proxy_loads_llmtap_litellm_logger_and_flushes_at_shutdown(capture, fake_provider, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: o3-mini\n"
        f"    litellm_params: {{model: openai/o3-mini, api_base: '{fake_provider.url}/v1', api_key: sk-fake, max_retries: 0}}\n"
        "  - model_name: claude-sonnet\n"
        f"    litellm_params: {{model: anthropic/claude-sonnet-4-5-20250929, api_base: '{fake_provider.url}', api_key: sk-ant-fake}}\n"
        "litellm_settings:\n"
        "  callbacks: llmtap.litellm.logger\n"
        "  num_retries: 0\n"
    )
    port = free_port()
    env = dict(os.environ)
    env.update(
        POSTHOG_API_KEY="phc_proxy",
        POSTHOG_HOST=capture.url,
        # Nothing is sent before shutdown, so the events prove the exit flush.
        LLMTAP_FLUSH_INTERVAL_MS="600000",
        LITELLM_MASTER_KEY="sk-master-test",
        LITELLM_LOG="ERROR",
    )
    litellm_cli = os.path.join(os.path.dirname(sys.executable), "litellm")
    proxy = subprocess.Popen(
        [litellm_cli, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "proxy.log", "w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health/liveliness", timeout=2):
                    break
            except OSError:
                assert proxy.poll() is None, (tmp_path / "proxy.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.5)
        auth = {"Authorization": "Bearer sk-master-test", "Content-Type": "application/json"}
        for model, scenario in [("claude-sonnet", "anthropic_cache_split"), ("o3-mini", "openai_cache_reasoning")]:
            status, answer = post(
                f"{base}/chat/completions",
                {"model": model, "messages": messages(scenario), "max_tokens": 100},
                {**auth, **CLIENT_HEADERS},
            )
            assert status == 200, answer
        status, _ = post(
            f"{base}/chat/completions",
            {"model": "claude-sonnet", "messages": messages("anthropic_fail_429"), "max_tokens": 100},
            auth,
        )
        assert status == 429
        time.sleep(1)
        assert capture.requests() == [], "the flush interval is ten minutes: nothing yet"
    finally:
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proxy.kill()
            raise
    events = capture.events()
    log = (tmp_path / "proxy.log").read_text()[-3000:]
    assert len(events) == 3, log
    by_model = {}
    for e in events:
        by_model.setdefault((e["properties"]["$ai_model"], bool(e["properties"].get("$ai_is_error"))), e)
    # The proxy's payloads name the deployment's model, provider prefix included.
    claude = "anthropic/claude-sonnet-4-5-20250929"
    assert set(by_model) == {(claude, False), (claude, True), ("openai/o3-mini", False)}
    assert_tokens(by_model[(claude, False)], "anthropic_cache_split")
    assert_tokens(by_model[("openai/o3-mini", False)], "openai_cache_reasoning")
    props = by_model[(claude, False)]["properties"]
    assert props["feature"] == "checkout" and props["$feature/new-ui"] == "variant-b", props
    failed = by_model[(claude, True)]["properties"]
    assert failed["$ai_http_status"] == 429
    assert capture.requests()[0]["api_key"] == "phc_proxy"
