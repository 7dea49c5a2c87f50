"""What goes into the prompt: the persona card as the system message, retrieved passages with
their provenance, and as much of the conversation as fits the context window.

Fine-tuning gives the voice, the card gives form, retrieval gives facts. Card and retrieval are
toggles (per chat, per request); with the card off the system message is the one the model was
trained with (`dataset.system_prompt`, "You are {name}." by default).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from personatune.data.rag import served_system
from personatune.errors import UserError
from personatune.workspace import Workspace


@dataclass
class Toggles:
    card: bool = True
    rag: bool = True


@dataclass
class Prompt:
    messages: list[dict]
    passages: list[dict] = field(default_factory=list)
    dropped: int = 0  # earlier messages left out to fit the context window


class Persona:
    """The workspace's card and retrieval index, loaded once and shared by every conversation."""

    def __init__(self, ws: Workspace, top_k: int | None = None, log=print):
        from personatune.data.card import live_card
        self.ws, self.log = ws, log
        self.card = live_card(ws)
        self.plain_system = self.plain_system_for(ws)
        self.top_k = top_k
        self._index = None
        self._index_lock = threading.Lock()

    @staticmethod
    def plain_system_for(ws: Workspace) -> str:
        """The system message the model was trained with (with the card off)."""
        from personatune.data.dataset import plain_system

        return plain_system(ws)

    @property
    def index(self):
        with self._index_lock:
            if self._index is None:
                from personatune.data.rag import Settings as RagSettings
                from personatune.data.rag import build_index
                from personatune.settings import resolve

                settings = resolve(RagSettings, self.ws.section("rag"))
                if self.top_k:
                    settings.top_k = self.top_k
                self._index = build_index(self.ws, settings, log=self.log)
            return self._index

    def system(self, toggles: Toggles, query: str, client_system: str | None = None) -> tuple[str, list[dict]]:
        # Front ends often send their own system message ("You are a helpful assistant"): with the
        # card on it follows the card instead of silently replacing it.
        base = self.card if toggles.card and self.card else (None if client_system else self.plain_system)
        base = "\n\n".join(part for part in (base, client_system) if part)
        if not toggles.rag or not query.strip():
            return base, []
        hits = self.index.search(query)
        return served_system(base, hits), hits

    def prompt(self, history: list[dict], toggles: Toggles, engine, settings) -> Prompt:
        """System message + the newest turns of `history` that fit the engine's context window."""
        history = validate_messages(history)
        client_system = "\n\n".join(m["content"] for m in history if m["role"] == "system") or None
        turns = [m for m in history if m["role"] != "system"]
        last_user = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
        system, passages = self.system(toggles, last_user, client_system)
        return fit(engine, system, turns, settings, passages)


def validate_messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UserError("messages must be a non-empty list of {role, content} objects")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise UserError(f"messages[{i}] must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        role = "system" if role == "developer" else role  # newer OpenAI clients say developer
        if role not in ("system", "user", "assistant"):
            raise UserError(f"messages[{i}].role must be system, user or assistant, not {role!r}")
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise UserError(f"messages[{i}].content must be a string")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise UserError("the last message must come from the user")
    return out


ANSWER_FLOOR = 256  # tokens always kept for the answer; max_new_tokens beyond it is a ceiling, not a reservation


def fit(engine, system: str, turns: list[dict], settings, passages: list[dict] | None = None) -> Prompt:
    """Drop the oldest turns until the prompt leaves room for an answer in the context window.

    `max_new_tokens` is an upper bound (as OpenAI's max_tokens is): clients send 2048 or 4096 by default,
    and the card with its passages is ~1,100 tokens, so only up to ANSWER_FLOOR tokens are kept free
    when trimming; the engines then generate up to whatever the window leaves."""
    window = engine.context_for(settings)
    room = window - min(settings.max_new_tokens, ANSWER_FLOOR, window // 2)
    start = 0
    while True:
        messages = [{"role": "system", "content": system}, *turns[start:]]
        if engine.count(messages) <= room:
            return Prompt(messages, passages or [], start)
        if start >= len(turns) - 1:
            raise UserError(f"the message is too long for the {window}-token context window "
                            f"(with {window - room} tokens kept for the answer); shorten it")
        start += 1
        while start < len(turns) - 1 and turns[start]["role"] != "user":
            start += 1  # never open the history with an orphaned answer
