"""The llama.cpp backend: a GGUF file behind `Engine`, its chat template and stop tokens read from the file."""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from personatune.errors import UserError
from personatune.runtime.generation import Engine, Finish, Settings


class GGUFEngine(Engine):
    """A GGUF file through llama.cpp; the chat template and stop tokens come from the file itself."""

    def __init__(self, path: str | Path, context: int = 2048, threads: int | None = None, name: str | None = None,
                 lora: str | Path | None = None):
        super().__init__()
        try:
            from llama_cpp import Llama
        except ImportError:
            raise UserError("the GGUF backend needs llama-cpp-python; install it with "
                            "`pip install llama-cpp-python` (or `make demo`)") from None
        from personatune.device import cpu_threads

        path = Path(path)
        if not path.is_file():
            raise UserError(f"GGUF file {path} not found; write it with `personatune export DIR`")
        self.path = path
        self.lora = Path(lora) if lora else None
        self._fingerprint: str | None = None
        self._prefix: tuple[int, ...] | None = None  # the opening whose keys and values the cache holds
        self.name = name or path.stem
        with native_output_to(os.devnull):  # llama.cpp prints notes even when asked not to
            self.llm = Llama(model_path=str(path), n_ctx=context, n_threads=threads or cpu_threads(),
                             n_batch=512, verbose=False, seed=0, lora_path=str(lora) if lora else None)
        meta = self.llm.metadata
        self.max_context = min(context, int(self.llm.n_ctx()))
        self.template = meta.get("tokenizer.chat_template")
        if not self.template:
            raise UserError(f"{path} has no tokenizer.chat_template; export it with `personatune export` "
                            "so the template travels with the weights")
        self.bos = self._piece(meta.get("tokenizer.ggml.bos_token_id"))
        self.eos = self._piece(meta.get("tokenizer.ggml.eos_token_id"))

    def fingerprint(self) -> str:
        """sha256 of the GGUF file (and of the LoRA file, when one is applied), computed once."""
        if self._fingerprint is None:
            from personatune.artifacts import sha256_file

            parts = [sha256_file(self.path)] + ([sha256_file(self.lora)] if self.lora else [])
            self._fingerprint = "gguf:" + ":".join(parts)
        return self._fingerprint

    def _piece(self, token_id) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def render(self, messages: list[dict]) -> str:
        from personatune.runtime.chat_template import render_chat

        return render_chat(self.template, messages, bos_token=self.bos, eos_token=self.eos)

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return self.llm.tokenize(self.render(messages).encode("utf-8"), add_bos=False, special=True)

    def count(self, messages: list[dict]) -> int:
        return len(self.prompt_ids(messages))

    @functools.cached_property
    def end_ids(self) -> list[int]:
        """Every end-of-generation token (held back until min_new_tokens are out)."""
        return [t for t in range(self.llm.n_vocab()) if self.is_end(t)]

    def is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def tokens(self, ids: list[int], settings: Settings, budget: int, shared: int = 0) -> Iterator[int]:
        """Generated token ids. With `shared`, the prompt's first `shared` tokens are evaluated on their own
        and kept: the next call with the same opening evaluates only its own rest (`generate_batch`)."""
        import numpy as np

        eog = self.end_ids if settings.min_new_tokens else []
        count = 0

        def hold_end(_input_ids, scores):
            if count < settings.min_new_tokens:
                scores[eog] = -np.inf
            return scores

        self.llm.set_seed(settings.seed)
        # Evaluate the whole prompt every time, or a fixed opening and then the rest: reusing whatever the
        # previous call left in the cache would evaluate the rest in another batch split, whose logits differ
        # in the last bits, and greedy answers would then differ between two identical calls.
        if shared and self._prefix == tuple(ids[:shared]) and self.llm.n_tokens >= shared \
                and self.llm._ctx.kv_cache_seq_rm(-1, shared, -1):
            self.llm.n_tokens = shared  # the opening's keys and values stay; the previous rest is dropped
        elif shared:
            self.llm.reset()
            self.llm.eval(ids[:shared])
            self._prefix = tuple(ids[:shared])
        else:
            self.llm.reset()
            self._prefix = None
        greedy = settings.temperature == 0
        for token in self.llm.generate(ids[shared:], temp=0.0 if greedy else settings.temperature,
                                       top_p=1.0 if greedy else settings.top_p, top_k=1 if greedy else 0,
                                       min_p=0.0, repeat_penalty=settings.repetition_penalty, reset=not shared,
                                       logits_processor=[hold_end] if eog else None):
            if self.is_end(token):
                return
            yield token
            count += 1
            if count >= budget:
                return

    def stream(self, messages: list[dict], settings: Settings) -> Iterator[str]:
        with self.lock:
            yield from self._stream(self.prompt_ids(messages), settings)

    def generate_batch(self, conversations: list[list[dict]], settings: Settings, batch_size: int = 1,
                       progress=None) -> list[tuple[str, int]]:
        """(answer, new tokens) per conversation, for evaluation. The tokens every prompt starts with (the chat
        template and the persona card, ~400 of a ~1,100-token retrieval prompt) are evaluated once; each prompt
        then keeps their keys and values and evaluates only its own rest. One prompt at a time: llama.cpp
        already spreads one over every core."""
        from personatune.train.prefix import shared_length

        prompts = [self.prompt_ids(c) for c in conversations]
        shared = shared_length(prompts, min((len(p) for p in prompts), default=1) - 1)
        out = []
        with self.lock:
            for ids in prompts:
                text = "".join(self._stream(ids, settings, shared))
                out.append((text, self.last.completion_tokens))
                if progress:
                    progress(len(out), len(prompts))
        return out

    def _stream(self, ids: list[int], settings: Settings, shared: int = 0) -> Iterator[str]:
        budget = max(1, min(settings.max_new_tokens, self.context_for(settings) - len(ids)))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced = 0
        try:
            for token in self.tokens(ids, settings, budget, shared):
                produced += 1
                piece = decoder.decode(self.llm.detokenize([token], special=False))
                if piece:
                    yield piece
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:  # under the caller's lock, also when the reader stopped early
            self.last = Finish("length" if produced >= budget else "stop", len(ids), produced)

    def greedy_ids(self, ids: list[int], n: int) -> list[int]:
        settings = Settings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=n)
        with self.lock:
            return list(self.tokens(ids, settings, n))


@contextlib.contextmanager
def native_output_to(path: Path):
    """Send what C code prints on stdout/stderr to a file (Python's sys.stdout does not see it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
