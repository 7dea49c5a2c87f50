"""The OpenAI chat-completions wire format: request bodies in, response and chunk objects out.

Kept apart from the HTTP server so that the mapping (which OpenAI field sets which generation
setting, what is an error and with which status) reads in one place and is tested without sockets.
Extension fields ride in the same bodies: `persona_card`, `rag`, `repetition_penalty` and
`min_tokens` in a request, `personatune: {passages, dropped}` in a response.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, replace

from personatune.errors import UserError
from personatune.persona.prompting import Prompt, Toggles
from personatune.runtime.generation import Finish, Settings

# request field -> (Settings field, kind); later entries win, so max_completion_tokens (the
# newer name) overrides max_tokens when a client sends both
SETTINGS_FIELDS = {
    "temperature": ("temperature", "number"),
    "top_p": ("top_p", "number"),
    "max_tokens": ("max_new_tokens", "integer"),
    "max_completion_tokens": ("max_new_tokens", "integer"),
    "seed": ("seed", "integer"),
    "repetition_penalty": ("repetition_penalty", "number"),
    "min_tokens": ("min_new_tokens", "integer"),
}
TOGGLE_FIELDS = {"persona_card": "card", "rag": "rag"}


class ApiError(Exception):
    """An error the client gets as OpenAI's `{"error": {message, type, param, code}}` object."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    model: str
    messages: list
    settings: Settings
    toggles: Toggles
    stream: bool = False
    include_usage: bool = False


def parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def parse_chat(body: dict, models: list[str], defaults: Settings, toggles: Toggles, max_tokens: int) -> ChatRequest:
    """Validate a chat-completions body against the served models and the server's defaults."""
    model = body.get("model") or models[0]
    if not isinstance(model, str):
        raise ApiError(400, "model must be a string", param="model")
    if model not in models:
        raise ApiError(404, f"The model `{model}` does not exist; this server has {', '.join(models)}",
                       param="model", code="model_not_found")
    if "messages" not in body:
        raise ApiError(400, "messages is required", param="messages")
    if body.get("n") not in (None, 1):
        raise ApiError(400, "only n=1 is supported", param="n")
    stream = _flag(body, "stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    changes = {}
    for name, (field, kind) in SETTINGS_FIELDS.items():
        if body.get(name) is not None:
            changes[field] = _number(body, name, kind)
    if "max_new_tokens" in changes:
        changes["max_new_tokens"] = min(changes["max_new_tokens"], max_tokens)
    try:
        settings = defaults.updated(**changes)
    except UserError as exc:
        raise ApiError(400, _public_names(str(exc)), param=_blamed(str(exc), body)) from None
    chosen = replace(toggles, **{field: _flag(body, name, getattr(toggles, field))
                                 for name, field in TOGGLE_FIELDS.items()})
    return ChatRequest(model, body["messages"], settings, chosen, stream, _flag(options, "include_usage", False))


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false, not {value!r}", param=name)
    return value


def _number(body: dict, name: str, kind: str) -> float | int:
    value = body[name]
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "integer":
        ok = ok and float(value).is_integer()
    if not ok:
        raise ApiError(400, f"{name} must be {'an integer' if kind == 'integer' else 'a number'}, not {value!r}",
                       param=name)
    return int(value) if kind == "integer" else float(value)


def _public_names(message: str) -> str:
    """Settings speak of max_new_tokens; the client sent max_tokens."""
    return (message.replace("generation settings: ", "").replace("invalid Settings: ", "")
            .replace("max_new_tokens", "max_tokens")
            .replace("min_new_tokens", "min_tokens"))


def _blamed(message: str, body: dict) -> str | None:
    for name, (field, _) in SETTINGS_FIELDS.items():
        if field in message and name in body:
            return name
    return None


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def provenance(prompt: Prompt) -> dict:
    """Where the retrieved facts came from, so a client can show them under the reply."""
    passages = [{"where": p.get("where"), "text": p.get("text")} for p in prompt.passages]
    return {"passages": passages, "dropped": prompt.dropped}


def usage(finish: Finish) -> dict:
    return {"prompt_tokens": finish.prompt_tokens, "completion_tokens": finish.completion_tokens,
            "total_tokens": finish.prompt_tokens + finish.completion_tokens}


def completion(id: str, model: str, text: str, finish: Finish, prompt: Prompt) -> dict:
    return {"id": id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish.reason, "logprobs": None}],
            "usage": usage(finish), "personatune": provenance(prompt)}


def chunk(id: str, model: str, delta: dict, finish_reason: str | None = None, **extra) -> dict:
    return {"id": id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra}


def usage_chunk(id: str, model: str, finish: Finish) -> dict:
    """The extra last chunk a client asks for with stream_options.include_usage."""
    return {"id": id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [], "usage": usage(finish)}


def model_list(models: list[str], created: int) -> dict:
    return {"object": "list", "data": [model_card(m, created) for m in models]}


def model_card(model: str, created: int) -> dict:
    return {"id": model, "object": "model", "created": created, "owned_by": "personatune"}
