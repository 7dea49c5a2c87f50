"""Answers and likelihoods an eval already computed in this workspace, reused instead of recomputed.

A greedy answer is a function of the weights (the engine's `fingerprint`), the prompt exactly as the
model sees it (rendered by its own chat template: the card, the passages, the question), the
generation settings and the backend. A likelihood is a function of the weights and the conversation.
Both are kept in DIR/cache/eval_answers.jsonl (an append-only `KeyedLog`), so `base`, `prompt` and
`rag` are generated once per workspace, and an eval after retraining generates only the tuned
variants. Any change to a weight, a setting, the card, the index or the question is a different key:
a miss. One limit: on the Hugging Face backend prompts are generated in padded batches, and which
prompts share a batch can move a near tie; the cache keeps the answer it first got.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from personatune.artifacts import KeyedLog, sha256_json

VERSION = 1  # bump when what an answer depends on changes in a way the key does not see


class AnswerCache:
    def __init__(self, path: Path, enabled: bool = True):
        self.enabled = enabled
        self.log = KeyedLog(path) if enabled else None
        self.counts = {"answers": {"reused": 0, "computed": 0}, "likelihoods": {"reused": 0, "computed": 0}}

    def record(self) -> dict:
        return {"enabled": self.enabled, **self.counts}

    def answer_key(self, engine, messages: list[dict], settings) -> str:
        return sha256_json({"v": VERSION, "kind": "answer", "model": engine.fingerprint(),
                            "prompt": engine.render(messages), "settings": settings.to_dict()})

    def nll_key(self, model: str, conversation: list[dict]) -> str:
        return sha256_json({"v": VERSION, "kind": "nll", "model": model, "conversation": conversation})

    def answers(self, engine, conversations: list[list[dict]], settings, generate: Callable) -> list[tuple[str, int]]:
        """(answer, tokens) per conversation; `generate(conversations)` runs only on the ones not cached."""
        if not self.enabled:
            self.counts["answers"]["computed"] += len(conversations)
            return generate(conversations)
        keys = [self.answer_key(engine, c, settings) for c in conversations]
        return [tuple(v) for v in self._fill("answers", keys, conversations, generate)]

    def likelihoods(self, model: Callable[[], str], conversations: list[list[dict]], compute: Callable) -> list[float]:
        """Answer NLL per conversation under the weights `model()` names (called only when the cache is on);
        `compute` runs on the misses only."""
        if not self.enabled:
            self.counts["likelihoods"]["computed"] += len(conversations)
            return compute(conversations)
        name = model()
        return self._fill("likelihoods", [self.nll_key(name, c) for c in conversations], conversations, compute)

    def _fill(self, kind: str, keys: list[str], inputs: list, compute: Callable) -> list:
        missing = [i for i, k in enumerate(keys) if k not in self.log]
        self.counts[kind]["reused"] += len(keys) - len(missing)
        self.counts[kind]["computed"] += len(missing)
        if missing:
            fresh = compute([inputs[i] for i in missing])
            self.log.put_many((keys[i], list(v) if isinstance(v, tuple) else v) for i, v in zip(missing, fresh))
        return [self.log[k] for k in keys]
