"""`llmtap.Client`: what it accepts is delivered once, or counted as dropped
with a reason; it never waits on the network; it survives forks."""

import copy
import json
import os
import subprocess
import sys
import time

import pytest

import llmtap
from conftest import ROOT, load_slp

SLP = "litellm-1.106/anthropic_cache_read_and_write_split.json"


def client(capture, **settings):
    settings.setdefault("flush_interval_ms", 20)
    return llmtap.Client(api_key="phc_test_key", posthog_host=capture.url, **settings)


def calls(n, name=SLP):
    """`n` distinct calls (distinct ids, so distinct uuids)."""
    base = load_slp(name)
    out = []
    for i in range(n):
        slp = copy.deepcopy(base)
        slp["id"] = f"call-{i}"
        slp["litellm_call_id"] = f"litellm-call-{i}"
        out.append(slp)
    return out


def no_drops(stats):
    return {reason: n for reason, n in stats["dropped"].items() if n}


def test_a_logged_call_arrives_as_the_event_build_event_makes(capture):
    c = client(capture)
    slp = load_slp(SLP)
    assert c.log(slp) is True
    report = c.flush(10)
    assert report["timed_out"] is False
    (event,) = capture.events()
    assert event == llmtap.build_event(slp)
    assert report["accepted"] == 1 and report["delivered"] == 1 and report["pending"] == 0
    assert no_drops(report) == {}
    (request,) = capture.requests()
    assert request["gzip"] is True and request["api_key"] == "phc_test_key"


def test_counts_add_up_and_one_bad_payload_takes_nothing_down(capture):
    c = client(capture, batch_size=7)
    good = calls(20)
    for slp in good[:10]:
        c.log(slp)
    assert c.log({"not": "a payload"}) is True, "queued: judged on the pipeline thread"
    assert c.log("{broken json") is True
    for slp in good[10:]:
        c.log(slp)
    report = c.flush(10)
    assert report["delivered"] == 20
    assert report["accepted"] == 22
    assert no_drops(report) == {"malformed": 2}
    assert report["last_error"].startswith("not valid JSON"), report["last_error"]  # the last one
    assert sorted(e["uuid"] for e in capture.events()) == sorted(
        llmtap.build_event(s)["uuid"] for s in good
    )


def test_a_call_logged_twice_is_one_event(capture):
    c = client(capture)
    slp = load_slp(SLP)
    c.log(slp)
    c.log(copy.deepcopy(slp))  # LiteLLM's sync and async hooks, for one call
    report = c.flush(10)
    assert report["delivered"] == 1 and report["duplicates"] == 1
    assert len(capture.events()) == 1


def test_a_capture_outage_loses_nothing(capture):
    c = client(capture, batch_size=10)
    capture.command(outage=500)
    sent = calls(45)
    for slp in sent:
        c.log(slp)
    deadline = time.monotonic() + 10
    while len(capture.requests()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)  # retried a few times against the 500s
    assert c.stats()["delivered"] == 0 and c.stats()["pending"] == 45
    capture.command(outage=None)
    report = c.flush(30)
    assert report["delivered"] == 45 and no_drops(report) == {}, report
    uuids = [e["uuid"] for e in capture.events()]
    assert len(uuids) == len(set(uuids)) == 45, "every event once"
    failed = [r for r in capture.requests() if r["status"] == 500]
    assert failed, "the outage was seen"


def test_refused_events_are_counted_by_reason(capture):
    c = client(capture, batch_size=1)
    capture.command(script=[{"status": 401}])
    for slp in calls(3):
        c.log(slp)
    report = c.flush(10)
    assert report["delivered"] == 2 and no_drops(report) == {"rejected": 1}


def test_a_full_queue_drops_and_counts_without_waiting(capture):
    capture.command(outage=503)
    c = client(capture, queue_capacity=5, batch_size=100, flush_interval_ms=60_000)
    accepted = [c.log(slp) for slp in calls(200)]  # returns, full queue or not
    stats = c.stats()
    assert stats["dropped"]["queue_full"] > 0
    assert accepted.count(False) <= stats["dropped"]["queue_full"]
    assert stats["accepted"] == 200
    capture.command(outage=None)
    report = c.shutdown(10)
    dropped = sum(report["dropped"].values())
    assert report["delivered"] + dropped == 200 and report["pending"] == 0, report


def test_shutdown_flushes_then_refuses(capture):
    c = client(capture, flush_interval_ms=60_000)
    for slp in calls(5):
        c.log(slp)
    report = c.shutdown(10)
    assert report["delivered"] == 5 and report["timed_out"] is False
    assert c.log(load_slp(SLP)) is False
    assert c.stats()["dropped"]["closed"] == 1
    assert c.shutdown(1)["delivered"] == 5, "idempotent"


def test_capture_takes_a_finished_event_with_a_stable_uuid(capture):
    c = client(capture)
    event = {"event": "$ai_trace", "distinct_id": "user-1", "properties": {"$ai_trace_id": "t1"}}
    assert c.capture(event) and c.capture(dict(event))
    c.flush(10)
    (got,) = capture.events()
    assert got["event"] == "$ai_trace" and got["distinct_id"] == "user-1"
    assert got["properties"]["$ai_trace_id"] == "t1"
    assert c.stats()["duplicates"] == 1
    with pytest.raises(llmtap.PayloadError, match="distinct_id"):
        c.capture({"event": "x"})


def test_header_properties_from_the_payload_and_the_caller(capture):
    c = client(capture)
    slp = load_slp(SLP)
    slp["metadata"]["requester_custom_headers"] = {"x-posthog-property-feature": "checkout"}
    c.log(slp, headers={"x-posthog-property-env": "prod", "x-posthog-property-feature": "static"})
    c.flush(10)
    (event,) = capture.events()
    assert event["properties"]["feature"] == "checkout", "the request's header wins"
    assert event["properties"]["env"] == "prod"


def test_settings_come_from_kwargs_then_the_environment(capture, monkeypatch):
    with pytest.raises(llmtap.ConfigError, match="POSTHOG_API_KEY"):
        llmtap.Client()
    with pytest.raises(llmtap.ConfigError, match='unknown setting "batch_sise"'):
        llmtap.Client(api_key="k", batch_sise=3)
    with pytest.raises(llmtap.ConfigError, match="batch_size"):
        llmtap.Client(api_key="k", batch_size="many")
    with pytest.raises(llmtap.ConfigError, match="invalid host"):
        llmtap.Client(api_key="k", posthog_host="ftp://example")
    with pytest.raises(llmtap.ConfigError, match="batch_size"):
        llmtap.Client(api_key="k", batch_size=0)
    with pytest.raises(llmtap.ConfigError, match="pricing"):
        llmtap.Client(api_key="k", pricing="/nonexistent/pricing.toml")
    monkeypatch.setenv("POSTHOG_API_KEY", "phc_from_env")
    monkeypatch.setenv("POSTHOG_HOST", capture.url)
    monkeypatch.setenv("LLMTAP_PROPERTIES", '{"from": "env"}')
    monkeypatch.setenv("LLMTAP_PRIVACY_MODE", "true")
    c = llmtap.Client(flush_interval_ms=20)
    c.log(load_slp(SLP))
    c.flush(10)
    (request,) = capture.requests()
    assert request["api_key"] == "phc_from_env"
    props = request["batch"][0]["properties"]
    assert props["from"] == "env" and "$ai_input" not in props
    monkeypatch.setenv("LLMTAP_BATCH_SIZE", "lots")
    with pytest.raises(llmtap.ConfigError, match="LLMTAP_BATCH_SIZE"):
        llmtap.Client()


def test_the_api_key_never_shows():
    c = llmtap.Client(api_key="phc_very_secret_key", posthog_host="http://127.0.0.1:9")
    assert "phc_very_secret_key" not in repr(c)
    assert "redacted" in repr(c)
    with pytest.raises(llmtap.ConfigError) as refused:
        llmtap.Client(api_key=["phc_very_secret_key"])
    assert "phc_very_secret_key" not in str(refused.value)
    logger = llmtap.LiteLLMLogger(api_key="phc_very_secret_key", posthog_host="http://127.0.0.1:9")
    assert "phc_very_secret_key" not in repr(logger)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_worker(capture):
    c = client(capture)
    parent_call, child_call = calls(2)
    c.log(parent_call)  # starts the parent's threads before the fork
    pid = os.fork()
    if pid == 0:  # the child: the parent's threads do not exist here
        code = 1
        try:
            ok = c.log(child_call)
            report = c.shutdown(10)
            code = 0 if ok and report["delivered"] == 1 and report["accepted"] == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    report = c.flush(10)
    assert report["delivered"] == 1, "the parent's count is its own"
    uuids = sorted(e["uuid"] for e in capture.events())
    assert uuids == sorted(llmtap.build_event(s)["uuid"] for s in (parent_call, child_call))


def test_interpreter_exit_flushes(capture, tmp_path):
    script = tmp_path / "exit.py"
    script.write_text(
        "import json, sys, llmtap\n"
        "c = llmtap.Client(api_key='phc_k', posthog_host=sys.argv[1], flush_interval_ms=60000)\n"
        "c.log(json.loads(sys.argv[2]))\n"
    )
    slp = load_slp(SLP)
    subprocess.run([sys.executable, str(script), capture.url, json.dumps(slp)], check=True, timeout=60)
    assert [e["uuid"] for e in capture.events()] == [llmtap.build_event(slp)["uuid"]]
