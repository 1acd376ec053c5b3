"""A tiny fake LLM provider on 127.0.0.1 for the real-LiteLLM end-to-end test.

It answers OpenAI chat completions (`POST /v1/chat/completions`, plain or
streamed) and Anthropic messages (`POST /v1/messages`, plain or streamed) with
fixed usages taken from ../shared/fixtures/litellm-1.106/README.md, so the
normalized numbers llmtap must produce are known in advance.

The scenario is chosen by a marker in the request's messages, `scenario:NAME`
(see SCENARIOS), so the model name can stay realistic (LiteLLM prices by it).

Run alone (`python fake_provider.py`) it prints `http://127.0.0.1:PORT` and
serves until killed; the driver imports it and runs it in a thread.
"""

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# name -> (api, usage as the provider reports it, or an HTTP error status)
SCENARIOS = {
    # prompt 4000, cached 3584, completion 900, reasoning 640
    "openai_cache_reasoning": (
        "openai",
        {
            "prompt_tokens": 4000,
            "completion_tokens": 900,
            "total_tokens": 4900,
            "prompt_tokens_details": {"cached_tokens": 3584, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 640,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    ),
    # No details at all: cache and reasoning were not reported.
    "openai_plain": (
        "openai",
        {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    ),
    "openai_fail_429": ("openai", 429),
    # input 3, cache_creation 5424 (5m 1424, 1h 4000), cache_read 18000, output 400
    "anthropic_cache_split": (
        "anthropic",
        {
            "input_tokens": 3,
            "cache_creation_input_tokens": 5424,
            "cache_read_input_tokens": 18000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 1424,
                "ephemeral_1h_input_tokens": 4000,
            },
            "output_tokens": 400,
            "service_tier": "standard",
        },
    ),
    # input 50, output 25, no cache fields
    "anthropic_plain": ("anthropic", {"input_tokens": 50, "output_tokens": 25}),
    "anthropic_fail_429": ("anthropic", 429),
}

MARKER = re.compile(r"scenario:([a-z0-9_]+)")


def find_scenario(body):
    """The first `scenario:NAME` in the request's messages/system text."""
    text = json.dumps([body.get("system"), body.get("messages")])
    m = MARKER.search(text)
    return m.group(1) if m else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"

    def log_message(self, fmt, *args):  # keep the test's output quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply(400, {"error": {"message": "body is not JSON"}})
        path = self.path.split("?")[0].rstrip("/")
        name = find_scenario(body)
        self.server.seen.append({"path": path, "scenario": name, "stream": bool(body.get("stream"))})
        if name not in SCENARIOS:
            return self.reply(400, {"error": {"message": f"no known scenario marker in request: {name}"}})
        api, usage = SCENARIOS[name]
        if path.endswith("/chat/completions") and api == "openai":
            return self.openai(body, usage)
        if path.endswith("/messages") and api == "anthropic":
            return self.anthropic(body, usage)
        return self.reply(404, {"error": {"message": f"{path} does not serve {name}"}})

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        return self.reply(404, {"error": {"message": "not found"}})

    # --- helpers -----------------------------------------------------------

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, data, event=None):
        chunk = ""
        if event:
            chunk += f"event: {event}\n"
        chunk += f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    # --- OpenAI ------------------------------------------------------------

    def openai(self, body, usage):
        if isinstance(usage, int):
            return self.reply(
                usage,
                {"error": {"message": "Rate limit reached (fake)", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
                headers=[("retry-after", "1")],
            )
        model = body.get("model", "unknown")
        rid = f"chatcmpl-fake-{int(time.time() * 1000)}"
        created = int(time.time())
        text = "Hello from the fake provider."
        if not body.get("stream"):
            return self.reply(
                200,
                {
                    "id": rid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": "fp_fake",
                },
            )
        self.start_sse()
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model, "system_fingerprint": "fp_fake"}
        self.sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for word in text.split(" "):
            self.sse({**base, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]})
        self.sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self.sse({**base, "choices": [], "usage": usage})
        self.sse("[DONE]")

    # --- Anthropic ---------------------------------------------------------

    def anthropic(self, body, usage):
        if isinstance(usage, int):
            return self.reply(
                usage,
                {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached (fake)"}},
                headers=[("retry-after", "1")],
            )
        model = body.get("model", "unknown")
        rid = f"msg_fake{int(time.time() * 1000)}"
        text = "Hello from the fake provider."
        if not body.get("stream"):
            return self.reply(
                200,
                {
                    "id": rid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": usage,
                },
            )
        # Streams carry the input side in message_start (output 1 so far) and
        # the final output count in message_delta, as Anthropic does.
        self.start_sse()
        start_usage = {**usage, "output_tokens": 1}
        self.sse(
            {
                "type": "message_start",
                "message": {
                    "id": rid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
            event="message_start",
        )
        self.sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, event="content_block_start")
        for word in text.split(" "):
            self.sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}}, event="content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, event="content_block_stop")
        self.sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            event="message_delta",
        )
        self.sse({"type": "message_stop"}, event="message_stop")


class FakeProvider:
    """The server on 127.0.0.1:`port` (0: any free port), in a daemon thread."""

    def __init__(self, port=0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fake-provider", daemon=True)

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def seen(self):
        return list(self.httpd.seen)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with FakeProvider(port) as fake:
        print(fake.url, flush=True)
        try:
            fake.thread.join()
        except KeyboardInterrupt:
            pass
