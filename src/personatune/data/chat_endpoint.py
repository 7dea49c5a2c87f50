"""One chat completion from any OpenAI-compatible endpoint (Ollama, a llama.cpp server, vLLM, OpenAI).

The question writer and the LLM labeller both ask one; every way it can fail is one line that says
which endpoint, what happened and which setting to look at.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from personatune.errors import UserError


def endpoint_settings(base_url: str, model: str, key_env: str) -> tuple[str, str, str]:
    """The configured endpoint, else $OPENAI_BASE_URL / $PERSONATUNE_OPENAI_MODEL; the key from its variable."""
    return (base_url or os.environ.get("OPENAI_BASE_URL", ""),
            model or os.environ.get("PERSONATUNE_OPENAI_MODEL", ""),
            os.environ.get(key_env, "") if key_env else "")


def complete(url: str, model: str, api_key: str, prompt: str, *, timeout: float, temperature: float,
             what: str, settings: str) -> str:
    """The assistant's reply to one user message. `what` names the endpoint in errors ("question
    endpoint"), `settings` the persona.yaml section that configures it ("pairs")."""
    body = {"model": model, "temperature": temperature, "messages": [{"role": "user", "content": prompt}]}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {api_key}"} if api_key else {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise UserError(f"{what} {url} answered HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise UserError(f"{what} {url} did not answer within {timeout:g}s; raise {settings}.openai_timeout "
                            "or use a faster model (answers so far are cached)") from None
        raise UserError(f"cannot reach {what} {url} ({reason}); check {settings}.openai_base_url and that the "
                        "server is running") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{what} {url} answered something that is not JSON: "
                        f"{raw[:120].decode(errors='replace')!r}") from None
    try:
        content = data["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        raise UserError(f"{what} {url} did not return an OpenAI chat completion") from None
    return content
