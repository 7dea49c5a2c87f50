"""Verbatim recall: copied n-gram share and longest common run against the training answers
(`NgramIndex`), and exact continuation of a training answer."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_MASK64 = (1 << 64) - 1


def _powers(base: int, n: int) -> np.ndarray:
    # base^0 .. base^(n-1) modulo 2^64 (uint64 products wrap).
    out = np.empty(n, dtype=np.uint64)
    out[:1] = 1
    if n > 1:
        out[1:] = np.cumprod(np.full(n - 1, base, dtype=np.uint64))
    return out


def _check_tokens(tokens: Sequence[Hashable]) -> Sequence[Hashable]:
    if isinstance(tokens, str):
        raise TypeError("pass a sequence of tokens (token ids, or words(text)), not a str")
    return tokens


@dataclass(frozen=True)
class Match:
    """A longest common token run: `length` tokens starting at `output_start` in the output and
    at `answer_start` in training answer number `answer`."""

    length: int
    output_start: int
    answer: int
    answer_start: int


class NgramIndex:
    """Training answers (sequences of hashable tokens: token ids or words) indexed once for
    copied-n-gram share and longest common substring queries.

    Windows are compared by a polynomial hash modulo 2^64 with random per-token values; every
    hit is checked token by token, so results are exact. A query hashes every training window of
    the length asked for in a few numpy passes: ~5k answers x 100 tokens answer an LCS query
    (a binary search over lengths) in tens of milliseconds.
    """

    def __init__(self, answers: Iterable[Sequence[Hashable]], seed: int = 0):
        self._vocab: dict[Hashable, int] = {}
        ids: list[int] = []
        starts = [0]
        for answer in answers:
            ids.extend(self._vocab.setdefault(t, len(self._vocab)) for t in _check_tokens(answer))
            starts.append(len(ids))
        self.n_answers = len(starts) - 1
        self._ids = np.asarray(ids, dtype=np.int64)
        self._starts = np.asarray(starts, dtype=np.int64)
        lengths = np.diff(self._starts)
        self.max_length = int(lengths.max()) if len(lengths) else 0
        size = len(ids)
        self._answer_of = np.repeat(np.arange(self.n_answers), lengths)
        self._room = self._starts[1:][self._answer_of] - np.arange(size)  # tokens left in its answer
        rng = np.random.default_rng(seed)
        self._values = rng.integers(0, 2**64, size=max(len(self._vocab), 1), dtype=np.uint64, endpoint=False)
        self._base = int(rng.integers(1, 2**62)) * 2 + 1
        self._inverse = pow(self._base, -1, 1 << 64)
        self._prefix, self._pow = self._prefix_hashes(self._values[self._ids])
        self._sorted: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _prefix_hashes(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # prefix[i] = sum_{j<i} v_j * inverse^j, so window [i, i+L) hashes to
        # (prefix[i+L] - prefix[i]) * base^i = sum_k v_{i+k} * inverse^k, whatever i is.
        n = len(values)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(values * _powers(self._inverse, n), out=prefix[1:])
        return prefix, _powers(self._base, n + 1)

    def _encode(self, output: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray([self._vocab.get(t, -1) for t in _check_tokens(output)], dtype=np.int64)
        unseen = np.concatenate([[0], np.cumsum(ids < 0)])
        return ids, unseen

    @staticmethod
    def _windows(prefix: np.ndarray, pow_: np.ndarray, length: int) -> np.ndarray:
        count = len(prefix) - length
        return (prefix[length:] - prefix[:count]) * pow_[:count]

    def _sorted_windows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n not in self._sorted:
            hashes = self._windows(self._prefix, self._pow, n) if len(self._ids) >= n else np.zeros(0, np.uint64)
            positions = np.flatnonzero(self._room[:len(hashes)] >= n)
            order = np.argsort(hashes[positions], kind="stable")
            self._sorted[n] = (hashes[positions][order], positions[order])
        return self._sorted[n]

    def _output_windows(self, ids: np.ndarray, unseen: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        values = self._values[np.maximum(ids, 0)]
        prefix, pow_ = self._prefix_hashes(values)
        ok = unseen[n:] == unseen[:len(unseen) - n]  # no unseen token inside the window
        return self._windows(prefix, pow_, n), ok

    def copied_ngram_share(self, output: Sequence[Hashable], n: int = 8) -> float:
        """Share of the output's n-grams (overlapping windows of n tokens) that occur in some
        training answer; 0.0 for an output shorter than n tokens."""
        ids, unseen = self._encode(output)
        if len(ids) < n or n < 1:
            return 0.0
        hashes, ok = self._output_windows(ids, unseen, n)
        table, positions = self._sorted_windows(n)
        left = np.searchsorted(table, hashes, side="left")
        right = np.searchsorted(table, hashes, side="right")
        copied = 0
        for j in np.flatnonzero(ok & (right > left)):
            window = ids[j:j + n]
            copied += any(np.array_equal(self._ids[p:p + n], window) for p in positions[left[j]:right[j]])
        return copied / (len(ids) - n + 1)

    def _match(self, ids: np.ndarray, unseen: np.ndarray, length: int) -> Match | None:
        hashes, ok = self._output_windows(ids, unseen, length)
        if not ok.any() or len(self._ids) < length:
            return None
        candidates = np.unique(hashes[ok])
        train = self._windows(self._prefix, self._pow, length)
        slot = np.minimum(np.searchsorted(candidates, train), len(candidates) - 1)
        hits = np.flatnonzero((candidates[slot] == train) & (self._room[:len(train)] >= length))
        for p in hits:
            for j in np.flatnonzero(ok & (hashes == train[p])):
                if np.array_equal(self._ids[p:p + length], ids[j:j + length]):
                    answer = int(self._answer_of[p])
                    return Match(length, int(j), answer, int(p - self._starts[answer]))
        return None

    def longest_match(self, output: Sequence[Hashable]) -> Match | None:
        """The longest contiguous run of output tokens that also occurs contiguously in one
        training answer (the first found of that length), or None when no token is shared."""
        ids, unseen = self._encode(output)
        low, high, best = 0, min(len(ids), self.max_length), None
        while low < high:  # a shared run of length L contains one of every shorter length
            mid = (low + high + 1) // 2
            found = self._match(ids, unseen, mid)
            if found:
                low, best = mid, found
            else:
                high = mid - 1
        return best

    def longest_common_substring(self, output: Sequence[Hashable]) -> int:
        """Length in tokens of the longest contiguous run shared by the output and any single
        training answer (0 when none)."""
        match = self.longest_match(output)
        return match.length if match else 0


def exact_continuation(output: Sequence[Hashable], reference_continuation: Sequence[Hashable],
                       k: int = 32) -> bool:
    """Whether the output's first k tokens equal the reference continuation's first k tokens
    (k shrinks to the reference's length when it is shorter; an empty reference is never
    matched). Tokens are compared as given: token ids, or `words(text)`."""
    output, reference = _check_tokens(output), _check_tokens(reference_continuation)
    k = min(k, len(reference))
    return k > 0 and list(output[:k]) == list(reference[:k])
