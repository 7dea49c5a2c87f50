"""Text generation behind chat, serve and eval: one interface (`Engine`), two backends.

`hf_engine.HFEngine` runs a Hugging Face model (base, base + adapter, merged);
`gguf_engine.GGUFEngine` runs a GGUF file through llama.cpp; `engines.open_engine` loads either by
what the user calls the model. Both take chat messages, render them with the model's own chat template,
and stream text pieces. Generation settings are one dataclass, read from persona.yaml `generate:`,
flags, `/set` in chat or the request body in serve.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from personatune.settings import Settings as BaseSettings
from personatune.settings import setting


@dataclass
class Settings(BaseSettings):
    temperature: float = setting(0.7, help="sampling temperature; 0 = greedy (deterministic)")
    top_p: float = setting(0.9, help="nucleus sampling: keep the smallest set of tokens with this much probability")
    repetition_penalty: float = setting(1.15, help="> 1 discourages repeating tokens the answer already used "
                                        "(not the prompt: retrieved passages stay free to quote)")
    min_new_tokens: int = setting(0, help="never stop before this many new tokens")
    max_new_tokens: int = setting(256, help="stop after this many new tokens")
    context: int = setting(2048, help="context window used for prompt + answer (history is trimmed to fit)")
    seed: int = setting(0, help="random seed for sampling")

    def problems(self) -> list[str]:
        out = []
        if self.temperature < 0:
            out.append("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            out.append("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            out.append("repetition_penalty must be > 0")
        if self.max_new_tokens < 1 or self.min_new_tokens < 0 or self.min_new_tokens > self.max_new_tokens:
            out.append("need 0 <= min_new_tokens <= max_new_tokens and max_new_tokens >= 1")
        if self.context < 64:
            out.append("context must be >= 64")
        if not 0 <= self.seed < 2**32:
            out.append("seed must be in 0 .. 2**32 - 1")
        return out

    def updated(self, **changes) -> Settings:
        """A copy with some values changed (validated like any other settings)."""
        from personatune.settings import resolve

        return resolve(Settings, {**self.to_dict()}, changes, where="generation settings")


@dataclass
class Finish:
    """What ended the last generation: 'stop' (end of turn) or 'length' (max_new_tokens)."""

    reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine:
    """A loaded model that renders chat messages and streams an answer."""

    name: str = "model"
    max_context: int = 2048

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one generation at a time per loaded model
        self.last = Finish()

    def render(self, messages: list[dict]) -> str:
        raise NotImplementedError

    def count(self, messages: list[dict]) -> int:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A hash of the weights this engine runs: equal fingerprints give equal answers to equal prompts."""
        raise NotImplementedError

    def stream(self, messages: list[dict], settings: Settings) -> Iterator[str]:
        raise NotImplementedError

    def complete(self, messages: list[dict], settings: Settings) -> str:
        return "".join(self.stream(messages, settings))

    def context_for(self, settings: Settings) -> int:
        return min(settings.context, self.max_context)
