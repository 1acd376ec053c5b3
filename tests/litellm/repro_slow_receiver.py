"""Reproduces a LiteLLM 1.106.2 generic_api logger bug that a receiver can only
survive by answering fast (not run by CI; run it by hand):

    target/litellm-venv/bin/python tests/litellm/repro_slow_receiver.py

With DEFAULT_BATCH_SIZE=2 and a receiver that takes 1 s per POST, 6 calls
arrive as call-0 x4, call-1 x4, call-2 x3, call-3 x2, call-4 x1, and call-5
never: once the queue reaches the batch size, every payload logged while a
POST is in flight re-sends the whole uncleared queue (async_log_success_event
calls async_send_batch without the flush lock), and the `finally:
log_queue.clear()` of each send then drops what was logged meanwhile. With
`--fast` (no delay) each call arrives once.
"""

import asyncio
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["DEFAULT_BATCH_SIZE"] = "2"
DELAY = 0.0 if "--fast" in sys.argv else 1.0
received = []


class SlowReceiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        time.sleep(DELAY)
        received.extend(slp["trace_id"] for slp in body)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


httpd = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
os.environ["GENERIC_LOGGER_ENDPOINT"] = f"http://127.0.0.1:{httpd.server_address[1]}/litellm"

from fake_provider import FakeProvider  # noqa: E402

import litellm  # noqa: E402

litellm.suppress_debug_info = True
litellm.callbacks = ["generic_api"]


async def main():
    with FakeProvider() as fake:
        for i in range(6):
            await litellm.acompletion(
                model="openai/gpt-4o-mini",
                api_base=fake.url + "/v1",
                api_key="sk-fake",
                max_retries=0,
                litellm_trace_id=f"call-{i}",
                messages=[{"role": "user", "content": "scenario:openai_plain"}],
            )
            await asyncio.sleep(0.3)
        await asyncio.sleep(8)  # the periodic flush (5 s) sends whatever is left
    print(f"6 calls made; receiver (delay {DELAY} s) got {sorted(received)}")


asyncio.run(main())
os._exit(0)
