"""A live `personatune serve` for tests: the real small model, a server thread on a free loopback port."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

SMALL_MODEL = "smollm2-135m-instruct"


def small_engines(*names: str) -> dict:
    """One loaded model behind several names: each Engine has its own lock, so the names answer
    side by side like two different models would."""
    from personatune.registry import load_model
    from personatune.runtime.hf_engine import HFEngine

    model, tokenizer = load_model(SMALL_MODEL)
    return {name: HFEngine(model, tokenizer, name) for name in names}


@contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class StaticFolder(ThreadingHTTPServer):
    """Any static host: files from one folder on a free loopback port; remembers every path asked for."""

    def __init__(self, folder):
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *_):
                server.requests.append(self.path)

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


class ChatEndpoint(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint on a free loopback port. `reply(body)` gives the assistant's
    content, or (HTTP status, raw bytes) to answer something else; every request body is kept."""

    def __init__(self, reply):
        import json
        from http.server import BaseHTTPRequestHandler

        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                answer = reply(body)
                if isinstance(answer, tuple):
                    status, payload = answer
                    if status != 200:
                        self.send_error(status, payload.decode())
                        return
                else:
                    payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"
