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
