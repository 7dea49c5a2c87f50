"""The HTTP side of `serve`: a bound server and its request handler (routes, checks, replies).

The handler answers every request, good or bad, and logs it as one line; `eval.rating` reuses
`LocalServer` and `Handler` with routes of its own.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import unquote, urlsplit

from personatune.errors import UserError
from personatune.persona.prompting import Persona, Prompt, Toggles
from personatune.runtime import openai_api as api
from personatune.runtime.bounds import Generation, Limits, Slot
from personatune.runtime.generation import Engine, Settings

PAGE_HEADERS = {  # the page is self-contained: nothing may load from or post to anywhere else
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its URL and logs a failed connection in one line."""

    daemon_threads = True
    log = staticmethod(print)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def handle_error(self, request, client_address) -> None:
        """Anything that escapes a handler is one log line, not a traceback on the console."""
        exc = sys.exc_info()[1]
        self.log(f"error: connection from {client_address[0]}: {type(exc).__name__}: {exc}")


class Server(LocalServer):
    request_queue_size = 64  # listen backlog: a burst of clients waits in the kernel, not refused

    def __init__(self, host: str, port: int, persona: Persona, engines: dict[str, Engine], token: str | None,
                 settings: Settings, toggles: Toggles, limits: Limits, allow_remote: bool, log):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.persona, self.engines, self.models = persona, engines, list(engines)
        self.token, self.toggles, self.limits, self.allow_remote, self.log = token, toggles, limits, allow_remote, log
        cap = min(settings.max_new_tokens, limits.max_tokens)
        self.settings = settings.updated(max_new_tokens=cap, min_new_tokens=min(settings.min_new_tokens, cap))
        self.slots = {name: Slot(limits.queue) for name in engines}
        self.created = int(time.time())
        self.page = resources.files("personatune.runtime").joinpath("page/index.html").read_bytes()
        super().__init__((host.strip("[]"), port), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for many requests
    timeout = 60  # an idle or stalled connection gives its thread back
    server_version = "personatune"

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        """Route one request; whatever happens, it is answered (if the client is still there) and
        logged as one line: who, what, status, time and, for a failure, why."""
        self.sent_headers = self.body_read = False
        self.status, self.problem, started = None, "", time.monotonic()
        path = urlsplit(self.path).path
        try:
            self.check_host()
            routes = self.routes(path)
            if routes is None:
                raise api.ApiError(404, f"no such path: {path}", code="not_found")
            if method not in routes:
                raise api.ApiError(405, f"{path} does not accept {method}", code="method_not_allowed",
                                   headers={"Allow": ", ".join(routes)})
            if path.startswith("/v1/"):
                self.check_token()
            routes[method]()
        except api.ApiError as exc:
            self.answer_error(exc)
        except UserError as exc:
            self.answer_error(api.ApiError(400, str(exc)))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self.problem = "the client closed the connection"
        except Exception as exc:  # a bug: the client gets a 500, the server stays up
            self.answer_error(api.ApiError(500, f"internal error: {type(exc).__name__}", type="server_error"))
            self.problem = f"{type(exc).__name__}: {exc}"
        finally:
            line = f"{self.client_address[0]} {method} {path} {self.status or '-'} {time.monotonic() - started:.2f}s"
            self.server.log(f"{line}: {self.problem}" if self.problem else line)

    def routes(self, path: str) -> dict | None:
        if path.startswith("/v1/models/"):
            return {"GET": lambda: self.model(unquote(path.removeprefix("/v1/models/")))}
        return {
            "/": {"GET": self.page},
            "/index.html": {"GET": self.page},
            "/health": {"GET": lambda: self.send_json(200, {"status": "ok"})},
            "/v1/models": {"GET": self.model_list},
            "/v1/chat/completions": {"POST": self.chat},
        }.get(path)

    # ------------------------------------------------------------------ checks

    def check_host(self) -> None:
        """A loopback server answers only loopback names, so a web page on another site cannot reach
        it through a DNS name that it points at 127.0.0.1 (DNS rebinding)."""
        host = self.headers.get("Host")
        if self.server.allow_remote or host is None:
            return
        name = urlsplit(f"//{host}").hostname or ""
        if not is_loopback(name):
            raise api.ApiError(403, f"Host {host} is not a loopback name; use {self.server.url}", code="bad_host")

    def check_token(self) -> None:
        if not self.server.token:
            return
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.server.token.encode()):
            raise api.ApiError(401, "missing or wrong API token: send `Authorization: Bearer TOKEN`",
                               code="invalid_api_key")

    def read_body(self) -> dict:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or self.headers.get("Content-Length") is None:
            self.close_connection = True
            raise api.ApiError(411, "send the body with a Content-Length header", code="length_required")
        try:
            length = int(self.headers["Content-Length"])
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise api.ApiError(400, "bad Content-Length header") from None
        limit = self.server.limits.max_body_bytes
        if length > limit:
            self.discard(length)
            raise api.ApiError(413, f"request body is {length} bytes; this server accepts at most {limit} "
                               "(serve --max-body-kb)", code="body_too_large")
        raw = self.rfile.read(length)
        self.body_read = True
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # also what makes a cross-site form post need a preflight, which this server never grants
            raise api.ApiError(415, f"Content-Type must be application/json, not {content_type or 'missing'}",
                               code="unsupported_media_type")
        return api.parse_body(raw)

    def discard(self, length: int) -> None:
        """Read a refused body so the client sees the 413 rather than a reset connection; past a
        bound, hang up instead of reading a flood."""
        self.close_connection = True
        if length <= 16 * 1024 * 1024:
            while length > 0:
                length -= len(self.rfile.read(min(length, 1 << 16)) or b"x" * length)

    # ------------------------------------------------------------------ routes

    def page(self) -> None:
        self.send_bytes(200, self.server.page, "text/html; charset=utf-8", PAGE_HEADERS)

    def model_list(self) -> None:
        body = api.model_list(self.server.models, self.server.created)
        settings, toggles = self.server.settings, self.server.toggles
        body["personatune"] = {  # what the page shows before the first message
            "persona": self.server.persona.ws.name, "max_tokens": self.server.limits.max_tokens,
            "defaults": {"temperature": settings.temperature, "max_tokens": settings.max_new_tokens,
                         "persona_card": toggles.card, "rag": toggles.rag}}
        self.send_json(200, body)

    def model(self, name: str) -> None:
        if name not in self.server.engines:
            raise api.ApiError(404, f"The model `{name}` does not exist", param="model", code="model_not_found")
        self.send_json(200, api.model_card(name, self.server.created))

    def chat(self) -> None:
        server = self.server
        request = api.parse_chat(self.read_body(), server.models, server.settings, server.toggles,
                                 server.limits.max_tokens)
        engine, slot = server.engines[request.model], server.slots[request.model]
        slot.admit(request.model)
        try:
            prompt = server.persona.prompt(request.messages, request.toggles, engine, request.settings)
        except BaseException:
            slot.leave()
            raise
        generation = Generation(slot, engine, prompt.messages, request.settings)
        try:
            (self.stream_reply if request.stream else self.whole_reply)(request, generation, prompt)
        finally:
            generation.cancel()  # a no-op once it has ended; otherwise nobody is reading any more
            if generation.timed_out and not self.problem:
                self.problem = f"cut off at the {server.limits.timeout_s:g} s timeout"

    def whole_reply(self, request: api.ChatRequest, generation: Generation, prompt: Prompt) -> None:
        text = "".join(generation.pieces(self.server.limits.timeout_s))
        if generation.finish is None and not text:
            raise self.timed_out()
        finish = generation.finish_or_cut()
        self.send_json(200, api.completion(api.new_id(), request.model, text, finish, prompt))

    def stream_reply(self, request: api.ChatRequest, generation: Generation, prompt: Prompt) -> None:
        id, model = api.new_id(), request.model
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.chunked = self.request_version != "HTTP/1.0"
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:  # HTTP/1.0 has no chunks: the end of the stream is the hang-up
            self.send_header("Connection", "close")
        self.end_headers()
        self.sent_headers = True
        self.event(api.chunk(id, model, {"role": "assistant", "content": ""}, personatune=api.provenance(prompt)))
        try:
            for piece in generation.pieces(self.server.limits.timeout_s):
                self.event(api.chunk(id, model, {"content": piece}))
            if generation.finish is None and not generation.produced:
                raise self.timed_out()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:  # headers are gone: the error travels as an event, as OpenAI does
            error = exc if isinstance(exc, api.ApiError) else api.ApiError(500, f"generation failed: {exc}",
                                                                          type="server_error")
            self.problem = error.message if isinstance(exc, api.ApiError) else f"{type(exc).__name__}: {exc}"
            self.event(error.body())
        else:
            finish = generation.finish_or_cut()
            self.event(api.chunk(id, model, {}, finish.reason))
            if request.include_usage:
                self.event(api.usage_chunk(id, model, finish))
        self.write_chunk(b"data: [DONE]\n\n")
        if self.chunked:
            self.write_chunk(b"")

    def timed_out(self) -> api.ApiError:
        return api.ApiError(504, f"the model produced nothing within {self.server.limits.timeout_s:g} s "
                            "(serve --timeout)", type="timeout_error", code="timeout")

    # ------------------------------------------------------------------ writing

    def event(self, payload: dict) -> None:
        self.write_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if self.chunked else data)
        self.wfile.flush()

    def send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(body, ensure_ascii=False).encode(), "application/json", headers)

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:  # say so, or a keep-alive client finds its next request cut off
            self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.sent_headers = True
        if self.command != "HEAD":
            self.wfile.write(data)

    def answer_error(self, error: api.ApiError) -> None:
        self.problem = error.message
        if getattr(self, "sent_headers", False):  # mid-response: nothing sensible left to send
            self.close_connection = True
            return
        if not getattr(self, "body_read", True) and self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # its unread body must not be parsed as the next request
        self.send_json(error.status, error.body(), error.headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's own errors (bad request line, oversized headers) as JSON too."""
        self.close_connection = True
        self.sent_headers = False
        self.answer_error(api.ApiError(code, message or self.responses.get(code, ("error",))[0]))
        self.server.log(f"{self.client_address[0]} {self.requestline[:80]!r} {code}: {self.problem}")

    def send_response(self, code: int, message: str | None = None) -> None:
        self.status = code
        super().send_response(code, message)

    def log_message(self, format: str, *args) -> None:
        """Silent: dispatch logs its own line per request, and an idle keep-alive connection
        timing out is no news."""
