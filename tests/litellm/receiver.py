"""A stand-in for `llmtap serve` when working on the driver alone, or when
re-recording the fixtures in ../fixtures/litellm-real/:

    python receiver.py DIR            # prints http://127.0.0.1:PORT/litellm
    python drive.py --endpoint URL    # in another shell

Every POST is written to DIR as `NN.body` (exact bytes) and `NN.headers.json`,
and answered 200 with `{"accepted": N, "rejected": 0}`.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        n = self.server.count
        self.server.count += 1
        os.makedirs(self.server.dir, exist_ok=True)
        with open(os.path.join(self.server.dir, f"{n:02d}.body"), "wb") as f:
            f.write(body)
        with open(os.path.join(self.server.dir, f"{n:02d}.headers.json"), "w") as f:
            json.dump({"path": self.path, "headers": dict(self.headers.items())}, f, indent=1)
        text = body.decode("utf-8", "replace").strip()
        try:
            parsed = json.loads(text)
            entries = len(parsed) if isinstance(parsed, list) else 1
        except ValueError:
            entries = len([line for line in text.split("\n") if line.strip()])
        data = json.dumps({"accepted": entries, "rejected": 0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.dir, httpd.count = out, 0
    print(f"http://127.0.0.1:{httpd.server_address[1]}/litellm", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
