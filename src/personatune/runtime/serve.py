"""`personatune serve`: an OpenAI-compatible API and a web chat page over the loaded models.

Standard library only (ThreadingHTTPServer): one thread per connection, one generation at a time
per model. Each request is judged on its own: bad input gets an OpenAI-style JSON error and one
log line, never a dead server. Loopback only unless asked, optional bearer token, and bounded
everywhere a client could make the server hold work: body size, tokens, time, queue length.
"""

from __future__ import annotations

import os

from personatune.errors import UserError
from personatune.persona.prompting import Persona, Toggles
from personatune.runtime.bounds import Limits
from personatune.runtime.engines import open_engine
from personatune.runtime.generation import Engine, Settings
from personatune.runtime.http_server import Server, is_loopback
from personatune.workspace import Workspace

TOKEN_ENV = "PERSONATUNE_API_TOKEN"


def serve(ws: Workspace, models: list[str], run: str | None = None, host: str = "127.0.0.1", port: int = 8000,
          allow_remote: bool = False, token: str | None = None, settings: Settings | None = None,
          toggles: Toggles | None = None, limits: Limits | None = None, log=print) -> None:
    """Load the models, serve until Ctrl-C."""
    check_bind(host, allow_remote)  # before minutes of model loading, not after
    settings, toggles = settings or Settings(), toggles or Toggles()
    token = token or os.environ.get(TOKEN_ENV) or None
    persona = Persona(ws, log=log)
    engines = {spec: open_engine(ws, spec, run=run, context=settings.context, name=spec, log=log)
               for spec in dict.fromkeys(models)}
    if toggles.rag:
        persona.index  # noqa: B018  (build or load it now rather than inside the first request)
    server = make_server(persona, engines, host, port, token, settings, toggles, limits, allow_remote, log=log)
    if allow_remote and not token:
        log(f"warning: anyone who can reach {host} can use these models; set --token or {TOKEN_ENV}")
    log(f"serving {ws.name} ({', '.join(engines)}) at {server.url}  API: {server.url}v1  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()


def make_server(persona: Persona | Workspace, engines: dict[str, Engine], host: str = "127.0.0.1", port: int = 0,
                token: str | None = None, settings: Settings | None = None, toggles: Toggles | None = None,
                limits: Limits | None = None, allow_remote: bool = False, log=print) -> Server:
    """A bound, not yet running server; call serve_forever() (tests do it in a thread, with port 0)."""
    check_bind(host, allow_remote)
    if not engines:
        raise UserError("serve needs at least one model")
    if isinstance(persona, Workspace):
        persona = Persona(persona, log=log)
    try:
        return Server(host, port, persona, engines, token, settings or Settings(), toggles or Toggles(),
                      limits or Limits(), allow_remote, log)
    except OverflowError:
        raise UserError(f"port {port} is out of range; pick one in 1-65535 (0 = any free port)") from None
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
                        "(0 = any free port)") from None


def check_bind(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise UserError(f"refusing to serve on {host or 'every address'}: the API would be reachable from other "
                        "machines; pass --allow-remote (and set --token) if that is what you want")
