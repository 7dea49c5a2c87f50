"""Sentence embeddings (all-MiniLM-L6-v2 by default), cached on disk by content hash.

MiniLM embeds only ~35 segments/s of ~128 tokens on 2 cores, so callers embed what cheap signals
have narrowed down, and nothing is embedded twice: vectors live in a SQLite file in the cache.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from personatune.artifacts import sha256_text
from personatune.cache import cache_root
from personatune.registry import DEFAULT_EMBEDDER, resolve


class Embedder:
    """Mean-pooled, L2-normalised sentence vectors, as sentence-transformers computes them."""

    def __init__(self, model: str = DEFAULT_EMBEDDER, max_length: int = 128, batch_size: int = 32,
                 cache: Path | None = None):
        self.model_spec = model
        self.max_length = max_length
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.computed = 0
        db_path = cache or cache_root() / "embeddings.sqlite"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self._namespace = sha256_text(f"{model}:{max_length}")[:12]

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        source = resolve(self.model_spec)
        kwargs = {} if source.kind == "hub" else {"local_files_only": True}
        self._tokenizer = AutoTokenizer.from_pretrained(source.path, **kwargs)
        self._model = AutoModel.from_pretrained(source.path, **kwargs).eval()

    def _key(self, text: str) -> str:
        return self._namespace + sha256_text(text)[:32]

    def _compute(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self._load()
        # Similar lengths in a batch: padding is pure waste on a compute-bound CPU.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            if out.shape[1] != pooled.shape[1]:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled.numpy()
        self.computed += len(texts)
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.items(), key=lambda kv: kv[1])
        if missing:
            vectors = self._compute([texts[i] for _, i in missing])
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                     [(k, vectors[j].tobytes()) for j, (k, _) in enumerate(missing)])
            for j, (k, _) in enumerate(missing):
                found[k] = vectors[j]
        return np.stack([found[k] for k in keys]).astype(np.float32)


_shared: dict[tuple, Embedder] = {}


def get_embedder(model: str = DEFAULT_EMBEDDER, max_length: int = 128) -> Embedder:
    key = (model, max_length, str(cache_root()))
    if key not in _shared:
        _shared[key] = Embedder(model, max_length=max_length)
    return _shared[key]
