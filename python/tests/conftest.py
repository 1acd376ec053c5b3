"""Shared test peers: the scriptable capture server (the testkit's, as a
process), the fake LLM provider of the real-LiteLLM test, and a database of
the PostgreSQL server tests/python.rs starts, all on 127.0.0.1. `run.sh`
builds what these need; nothing leaves loopback."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "litellm"))

# LiteLLM fetches its price map from the internet on import unless told not to.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ[var] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for var in ("POSTHOG_API_KEY", "POSTHOG_HOST", "LLMTAP_POSTGRES_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(var, None)

CAPTURE_SERVER = os.environ.get("LLMTAP_CAPTURE_SERVER", str(ROOT / "target/debug/capture-server"))
LLMTAP_BIN = os.environ.get("LLMTAP_BIN", str(ROOT / "target/debug/llmtap"))
PATIENCE = 20.0


def wait_for(fetch, n, patience=PATIENCE):
    """`fetch()` once it holds `n` items, else what it holds when `patience` runs out."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        got = fetch()
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return fetch()


class CaptureServer:
    """`crates/llmtap-testkit/src/bin/capture-server.rs`, driven over its stdin."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [CAPTURE_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def command(self, **command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert "error" not in answer, answer
        return answer

    def requests(self):
        return self.command(requests=True)["requests"]

    def events(self):
        """Events of every batch answered 2xx, in arrival order."""
        return [
            e for r in self.requests() if r["status"] and 200 <= r["status"] < 300 for e in r["batch"] or []
        ]

    def wait_for_events(self, n, patience=PATIENCE):
        return wait_for(self.events, n, patience)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def capture():
    server = CaptureServer()
    yield server
    server.close()


@pytest.fixture
def fake_provider():
    from fake_provider import FakeProvider

    with FakeProvider() as fake:
        yield fake


def fixture_path(name):
    """A recorded payload: the project's copy (`tests/fixtures/`)."""
    return ROOT / "tests" / "fixtures" / name


def load_slp(name):
    value = json.loads(fixture_path(name).read_text())
    return value.get("standard_logging_object", value)


def replay_events(path):
    """What `llmtap replay FILE` writes: one event per line."""
    out = subprocess.run([LLMTAP_BIN, "replay", str(path)], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


# The server tests/python.rs started (`llmtap_testkit::PostgresServer`, trust
# authentication on 127.0.0.1): `postgres://postgres@127.0.0.1:PORT/postgres`.
POSTGRES_URL = os.environ.get("LLMTAP_TEST_POSTGRES_URL")
PSQL = os.environ.get("LLMTAP_PSQL") or shutil.which("psql")
# Given in every URL the tests pass llmtap (trust authentication ignores it),
# so that its absence from reprs, errors and stats means something.
PASSWORD = "pg-s3cret-pw"


class Database:
    """A fresh database on the test server, dropped afterwards; read with psql."""

    def __init__(self, server_url):
        parts = urlsplit(server_url)
        self.name = f"llmtap_{uuid.uuid4().hex[:12]}"
        self.host, self.port, self.user = parts.hostname, parts.port, parts.username
        self.server_url = server_url
        self.plain_url = f"postgres://{self.user}@{self.host}:{self.port}/{self.name}"
        # What llmtap is given: the same database, with a password.
        self.url = self.url_at(self.port)
        self._psql(self.server_url, f'CREATE DATABASE "{self.name}"')

    def url_at(self, port):
        """This database's URL, password included, at another port."""
        return f"postgres://{self.user}:{PASSWORD}@{self.host}:{port}/{self.name}"

    def _psql(self, url, sql):
        out = subprocess.run(
            [PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, f"{sql}: {out.stderr}"
        return out.stdout

    def rows(self, sql):
        """The rows of a SELECT as dicts, SQL NULL as None."""
        text = self._psql(self.plain_url, f"SELECT coalesce(json_agg(q_), '[]') FROM ({sql}) q_")
        return json.loads(text)

    def calls(self):
        """`llm_calls` by uuid, or {} before llmtap created it."""
        exists = self.rows("SELECT to_regclass('llm_calls') AS t")[0]["t"]
        return {r["uuid"]: r for r in self.rows("SELECT * FROM llm_calls")} if exists else {}

    def wait_for_calls(self, n, patience=PATIENCE):
        return wait_for(self.calls, n, patience)

    def drop(self):
        self._psql(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def database():
    if not POSTGRES_URL:
        pytest.skip(
            "no PostgreSQL server: LLMTAP_TEST_POSTGRES_URL is unset "
            "(tests/python.rs starts one and sets it)"
        )
    if not PSQL:
        pytest.skip("no psql to read the rows back (put it on PATH or set LLMTAP_PSQL)")
    db = Database(POSTGRES_URL)
    yield db
    db.drop()
