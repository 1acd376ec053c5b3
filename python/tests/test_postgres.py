"""`postgres_url`: every call a row of `llm_calls`, alone or beside PostHog
(both fed from the one pipeline), a database down at first waited for, and
the password never shown. Against a real PostgreSQL (the `database`
fixture: a fresh database on the server tests/python.rs starts)."""

import asyncio
import copy
import socket
import threading
import time

import pytest

import llmtap
from conftest import PASSWORD, load_slp

SLP = "litellm-1.106/anthropic_cache_read_and_write_split.json"

# An event's token property -> its `llm_calls` column.
COLUMNS = {
    "$ai_input_tokens": "input_tokens",
    "$ai_output_tokens": "output_tokens",
    "$ai_cache_read_input_tokens": "cache_read_tokens",
    "$ai_cache_creation_input_tokens": "cache_write_tokens",
    "$ai_cache_creation_5m_input_tokens": "cache_write_5m_tokens",
    "$ai_cache_creation_1h_input_tokens": "cache_write_1h_tokens",
    "$ai_reasoning_tokens": "reasoning_tokens",
}


def calls(n, name=SLP):
    """`n` distinct calls (distinct ids, so distinct uuids)."""
    base = load_slp(name)
    out = []
    for i in range(n):
        slp = copy.deepcopy(base)
        slp["id"] = f"pg-call-{i}"
        slp["litellm_call_id"] = f"pg-litellm-call-{i}"
        out.append(slp)
    return out


def tokens(row):
    return {column: row[column] for column in COLUMNS.values()}


def no_drops(dropped):
    return {reason: n for reason, n in dropped.items() if n}


def assert_hidden(*texts):
    for text in texts:
        assert PASSWORD not in str(text), text


def test_litellm_calls_become_one_row_each_with_postgres_alone(fake_provider, database):
    litellm = pytest.importorskip("litellm")
    from test_litellm import EXPECTED, MODELS, drain_litellm, messages, provider_args

    logger = llmtap.LiteLLMLogger(postgres_url=database.url, flush_interval_ms=20)
    assert logger.client.destinations == ["postgres"], "no API key needed"
    before = list(litellm.callbacks)
    litellm.callbacks = [logger]
    litellm.suppress_debug_info = True
    scenarios = ["openai_plain", "anthropic_plain", "anthropic_fail_429"]

    async def run():
        for scenario in scenarios:
            try:
                await litellm.acompletion(
                    model=MODELS[scenario],
                    messages=messages(scenario),
                    max_tokens=100,
                    litellm_trace_id=f"pg-{scenario}",
                    num_retries=0,
                    timeout=10,
                    **provider_args(fake_provider, scenario),
                )
            except Exception:
                assert "fail" in scenario
        await drain_litellm()

    try:
        asyncio.run(run())
        report = logger.flush(10)
    finally:
        litellm.logging_callback_manager._reset_all_callbacks()
        litellm.callbacks = before
        logger.shutdown(10)
    assert report["timed_out"] is False and report["delivered"] == 3, report
    assert no_drops(report["dropped"]) == {} and report["duplicates"] == 0, report
    assert list(report["destinations"]) == ["postgres"]
    rows = {r["trace_id"]: r for r in database.calls().values()}
    assert sorted(rows) == sorted(f"pg-{s}" for s in scenarios), "one row per call"
    for scenario in ["openai_plain", "anthropic_plain"]:
        row = rows[f"pg-{scenario}"]
        expected = {column: EXPECTED[scenario].get(prop) for prop, column in COLUMNS.items()}
        assert tokens(row) == expected, (scenario, row)
        assert row["status"] == "success", row
    # NULL where the provider did not report, 0 where it reported 0.
    assert rows["pg-openai_plain"]["cache_read_tokens"] is None
    assert rows["pg-anthropic_plain"]["cache_read_tokens"] == 0
    failed = rows["pg-anthropic_fail_429"]
    assert failed["status"] == "failure" and failed["http_status"] == 429, failed


def test_posthog_and_postgres_each_get_every_event(capture, database):
    c = llmtap.Client(
        api_key="phc_both", posthog_host=capture.url, postgres_url=database.url, flush_interval_ms=20
    )
    assert c.destinations == ["posthog", "postgres"]
    sent = calls(3)
    for slp in sent:
        assert c.log(slp) is True
    report = c.flush(10)
    assert report["timed_out"] is False, report
    assert report["accepted"] == 3 and report["delivered"] == 3 and report["pending"] == 0, report
    assert no_drops(report["dropped"]) == {}, report
    for name in ("posthog", "postgres"):
        d = report["destinations"][name]
        assert d["delivered"] == 3 and d["pending"] == 0 and no_drops(d["dropped"]) == {}, (name, d)
    events = {e["uuid"]: e for e in capture.events()}
    rows = database.calls()
    assert set(rows) == set(events) == {llmtap.build_event(s)["uuid"] for s in sent}, "the same uuids"
    for uuid, row in rows.items():
        props = events[uuid]["properties"]
        assert tokens(row) == {column: props.get(prop) for prop, column in COLUMNS.items()}, row


def test_each_destination_delivers_on_its_own(capture, database):
    """PostHog down: the rows still go in, and the top-level counts wait for both."""
    capture.command(outage=503)
    c = llmtap.Client(
        api_key="phc_both", posthog_host=capture.url, postgres_url=database.url, flush_interval_ms=20
    )
    for slp in calls(2):
        c.log(slp)
    assert len(database.wait_for_calls(2)) == 2
    stats = c.stats()
    assert stats["destinations"]["postgres"]["delivered"] == 2
    assert stats["destinations"]["posthog"]["pending"] == 2
    assert stats["delivered"] == 0 and stats["pending"] == 2, "delivered once both delivered"
    capture.command(outage=None)
    report = c.flush(15)
    assert report["delivered"] == 2 and report["timed_out"] is False, report
    assert len(capture.events()) == 2


class Forwarder:
    """Listens on `port` and pipes each connection to `target`: the database
    coming up at that port."""

    def __init__(self, port, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", port))
        self.pipes = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.pipes += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        for s in self.pipes:
            s.close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_database_down_at_first_is_waited_for(database):
    port = closed_port()
    c = llmtap.Client(postgres_url=database.url_at(port), flush_interval_ms=20)
    sent = calls(2)
    for slp in sent:
        assert c.log(slp) is True
    deadline = time.monotonic() + 10
    while c.stats()["destinations"]["postgres"]["retries"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = c.stats()
    assert stats["destinations"]["postgres"]["retries"] >= 1, stats
    assert stats["pending"] == 2 and stats["delivered"] == 0, stats
    assert no_drops(stats["dropped"]) == {}, "retried, not dropped"
    report = c.flush(0.2)
    assert report["timed_out"] is True and report["pending"] == 2, report
    assert_hidden(stats, report, repr(c), c.postgres_url)
    assert c.postgres_url == f"postgres://{database.user}:***@127.0.0.1:{port}/{database.name}"
    forwarder = Forwarder(port, database.port)  # the database comes up
    try:
        report = c.flush(15)
        assert report["timed_out"] is False and report["delivered"] == 2, report
        rows = database.calls()
        assert set(rows) == {llmtap.build_event(s)["uuid"] for s in sent}
        report = c.shutdown(5)
        assert report["timed_out"] is False and no_drops(report["dropped"]) == {}, report
    finally:
        forwarder.close()


def test_the_database_password_never_shows(monkeypatch):
    url = f"postgres://llmtap:{PASSWORD}@127.0.0.1:9/llm"
    c = llmtap.Client(postgres_url=url)
    assert_hidden(repr(c), c.postgres_url, c.stats(), c.fingerprint)
    assert 'postgres_url="postgres://llmtap:***@127.0.0.1:9/llm"' in repr(c), repr(c)
    assert "api_key" not in repr(c), "no PostHog without a key"
    logger = llmtap.LiteLLMLogger(postgres_url=url, api_key="phc_k", posthog_host="http://127.0.0.1:9")
    assert_hidden(repr(logger), vars(logger))
    for bad in (
        f"postgres://llmtap:{PASSWORD}@127.0.0.1:notaport/llm",
        f"host=127.0.0.1 port=x password={PASSWORD}",
        [url],
    ):
        with pytest.raises(llmtap.ConfigError, match="postgres_url") as refused:
            llmtap.Client(postgres_url=bad)
        assert_hidden(refused.value)
    monkeypatch.setenv("LLMTAP_POSTGRES_URL", f"postgres://llmtap:{PASSWORD}@127.0.0.1:notaport/llm")
    with pytest.raises(llmtap.ConfigError, match="postgres_url") as refused:
        llmtap.Client()
    assert_hidden(refused.value)


def test_postgres_url_from_the_environment_needs_no_api_key(monkeypatch):
    with pytest.raises(llmtap.ConfigError) as refused:
        llmtap.Client()
    assert "POSTHOG_API_KEY" in str(refused.value) and "LLMTAP_POSTGRES_URL" in str(refused.value)
    monkeypatch.setenv("LLMTAP_POSTGRES_URL", "postgres://llmtap@127.0.0.1:9/llm")
    c = llmtap.Client()
    assert c.destinations == ["postgres"] and c.postgres_url == "postgres://llmtap@127.0.0.1:9/llm"
    assert "postgres_url" in llmtap.SETTINGS
    stats = c.stats()
    assert list(stats["destinations"]) == ["postgres"] and stats["destinations"]["postgres"]["delivered"] == 0
    monkeypatch.setenv("POSTHOG_API_KEY", "phc_env")
    assert llmtap.Client().destinations == ["posthog", "postgres"], "each gets every event"
