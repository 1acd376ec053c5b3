"""Shared test peers: the scriptable capture server (the testkit's, as a
process) and the fake LLM provider of the real-LiteLLM test, both on
127.0.0.1. `run.sh` builds what these need; nothing leaves loopback."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "litellm"))

# LiteLLM fetches its price map from the internet on import unless told not to.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ[var] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for var in ("POSTHOG_API_KEY", "POSTHOG_HOST", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(var, None)

CAPTURE_SERVER = os.environ.get("LLMTAP_CAPTURE_SERVER", str(ROOT / "target/debug/capture-server"))
LLMTAP_BIN = os.environ.get("LLMTAP_BIN", str(ROOT / "target/debug/llmtap"))
PATIENCE = 20.0


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
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= n:
                return events
            time.sleep(0.05)
        return self.events()

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
