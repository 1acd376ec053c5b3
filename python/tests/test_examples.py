"""The Python example in examples/ runs, with and without an account."""

import os
import subprocess
import sys

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "litellm_logger.py"


def test_the_example_runs_without_an_account():
    out = subprocess.run([sys.executable, str(EXAMPLE)], check=True, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert len(lines) == 9, out.stdout
    assert "'cache_write_1h_tokens': 4000" in lines[0]


def test_the_example_sends_with_send(capture):
    env = dict(os.environ, POSTHOG_API_KEY="phc_example", POSTHOG_HOST=capture.url)
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--send"], env=env, check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.splitlines()[-1] == "delivered 9, dropped 0", out.stdout
    assert len(capture.events()) == 9
