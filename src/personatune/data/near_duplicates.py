"""MinHash signatures with LSH banding: near-duplicate search in near-linear time.

Each item is hashed once and compared only with items that share a band, so 50,000 items cost
about ten times 5,000, not a hundred times.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def normalized_words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def shingles(words: list[str], size: int = 3) -> set[int]:
    if len(words) < size:
        return {zlib.crc32(" ".join(words).encode())} if words else set()
    return {zlib.crc32(" ".join(words[i:i + size]).encode()) for i in range(len(words) - size + 1)}


class NearDuplicateIndex:
    """Streaming index: `check_and_add` returns the key of an earlier near-duplicate, or None."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 64, bands: int = 16, seed: int = 1):
        if num_perm % bands:
            raise ValueError("num_perm must be divisible by bands")
        rng = np.random.default_rng(seed)
        # Multiply-shift hashing: odd 64-bit multipliers with wrap-around, top 32 bits kept. Each
        # column is an independent hash, so the 64 minima are 64 different samples of the set.
        self.a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.threshold = threshold
        self.bands = bands
        self.rows = num_perm // bands
        self.buckets: list[dict[bytes, list[str]]] = [defaultdict(list) for _ in range(bands)]
        self.sets: dict[str, np.ndarray] = {}  # sorted unique shingles; compact next to Python sets

    def signature(self, items: set[int]) -> np.ndarray:
        values = np.fromiter(items, dtype=np.uint64, count=len(items))
        with np.errstate(over="ignore"):
            hashed = (values[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)
        return hashed.min(axis=0)

    def check_and_add(self, key: str, items: set[int]) -> str | None:
        if not items:
            return None
        sig = self.signature(items)
        array = np.unique(np.fromiter(items, dtype=np.uint32, count=len(items)))
        band_keys = [sig[i * self.rows:(i + 1) * self.rows].tobytes() for i in range(self.bands)]
        seen: set[str] = set()
        for band, bkey in enumerate(band_keys):
            for other in self.buckets[band].get(bkey, ()):
                if other in seen:
                    continue
                seen.add(other)
                other_items = self.sets[other]
                common = len(np.intersect1d(array, other_items, assume_unique=True))
                jaccard = common / (len(array) + len(other_items) - common)
                if jaccard >= self.threshold:
                    return other
        for band, bkey in enumerate(band_keys):
            self.buckets[band][bkey].append(key)
        self.sets[key] = array
        return None
