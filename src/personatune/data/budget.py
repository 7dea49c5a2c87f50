"""A training token budget for big archives: fewer instructional segments, the same topics, every persona row.

A 5,000-segment archive is ~1M tokens per epoch, over an hour on a laptop CPU. With
`build.budget_tokens` set, each non-persona label of the train split keeps at most that many tokens:
its segments are grouped by topic (spherical k-means over hashed TF-IDF of their words: cheap, and
every segment is considered) and each topic keeps a share of the budget in proportion to its size,
at least one segment, so a topic the person covered in three videos is still trained on. Persona
rows are never dropped. The persona ratio is chosen afterwards, against what is actually trained.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict

import numpy as np

DIM = 4096
ITERATIONS = 12
_WORD = re.compile(r"[a-z][a-z0-9'-]{2,}")


def _vectors(texts: list[str]) -> np.ndarray:
    """L2-normalised hashed TF-IDF rows; words hashed with FNV-1a (Python's own hash is salted per process)."""
    docs = [Counter(_WORD.findall(t.lower())) for t in texts]
    df = Counter(w for d in docs for w in d)
    n = len(docs)
    matrix = np.zeros((n, DIM), dtype=np.float32)
    for i, d in enumerate(docs):
        for word, count in d.items():
            if df[word] < 2 or df[word] > 0.5 * n:  # one-off words and glue words say nothing of the topic
                continue
            matrix[i, _fnv(word) % DIM] += (1 + math.log(count)) * math.log(n / df[word])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-9)


def _fnv(word: str) -> int:
    h = 0x811C9DC5
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def topics(texts: list[str], k: int, seed: int) -> list[int]:
    """A topic number per text: spherical k-means with k-means++ seeding (a small topic far from the
    rest gets a centre of its own), seeded, deterministic."""
    if len(texts) <= k:
        return list(range(len(texts)))
    x = _vectors(texts)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(x)))]
    distance = 1.0 - x @ x[chosen[0]]
    for _ in range(1, k):
        weights = np.clip(distance, 0, None) ** 2
        if weights.sum() <= 0:
            break
        chosen.append(int(rng.choice(len(x), p=weights / weights.sum())))
        distance = np.minimum(distance, 1.0 - x @ x[chosen[-1]])
    centres = x[chosen].copy()
    k = len(chosen)
    assign = np.zeros(len(x), dtype=np.int64)
    for _ in range(ITERATIONS):
        assign = np.argmax(x @ centres.T, axis=1)
        for c in range(k):
            members = x[assign == c]
            if len(members):
                centre = members.sum(0)
                centres[c] = centre / max(float(np.linalg.norm(centre)), 1e-9)
    return assign.tolist()


def within_budget(rows: list[dict], budget: int, tokens, seed: int) -> tuple[list[dict], dict]:
    """The train rows to keep and what was left out. `tokens(row)` counts a row's tokens."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    dropped: set[str] = set()
    report: dict = {"budget_tokens": budget, "labels": {}}
    for label, items in sorted(by_label.items()):
        total = sum(tokens(r) for r in items)
        if label == "persona" or total <= budget:
            continue
        keep, info = _sample(items, budget, tokens, seed)
        dropped |= {r["segment_id"] for r in items} - {r["segment_id"] for r in keep}
        after = sum(tokens(r) for r in keep)
        report["labels"][label] = {"segments_before": len(items), "segments_after": len(keep),
                                   "tokens_before": total, "tokens_after": after, **info}
        if after > budget:
            report.setdefault("warnings", []).append(
                f"budget_tokens {budget} is smaller than one segment per topic of {label} ({info['topics']} topics): "
                f"kept {after} tokens; raise build.budget_tokens to at least {after}")
    kept = [r for r in rows if r["segment_id"] not in dropped]
    left_out = [r for r in rows if r["segment_id"] in dropped]
    by_title = Counter(r.get("title") or r.get("source") or "?" for r in left_out)
    report["left_out"] = {"segments": len(left_out), "tokens": sum(tokens(r) for r in left_out),
                          "most_from": by_title.most_common(8)}
    return kept, report


def _sample(items: list[dict], budget: int, tokens, seed: int) -> tuple[list[dict], dict]:
    total = sum(tokens(r) for r in items)
    k = max(2, min(64, round(math.sqrt(len(items)))))
    groups: dict[int, list[int]] = defaultdict(list)
    for index, topic in enumerate(topics([r["text"] for r in items], k, seed)):
        groups[topic].append(index)
    rng = random.Random(seed)
    picked: dict[int, list[int]] = {}
    # Every topic gets its share of the budget, in proportion to its tokens: at least one segment,
    # then segments in seeded random order while they fit in the share.
    for topic in sorted(groups):
        members = list(groups[topic])
        rng.shuffle(members)
        share = budget * sum(tokens(items[i]) for i in members) / total
        chosen, used = [], 0
        for i in members:
            if chosen and used + tokens(items[i]) > share:
                break
            chosen.append(i)
            used += tokens(items[i])
        picked[topic] = chosen
    # The floor of one segment per topic can overshoot a small budget: trim the biggest topics first.
    kept_tokens = sum(tokens(items[i]) for chosen in picked.values() for i in chosen)
    while kept_tokens > budget:
        topic = max(picked, key=lambda t: len(picked[t]))
        if len(picked[topic]) <= 1:
            break
        kept_tokens -= tokens(items[picked[topic].pop()])
    keep = sorted(i for chosen in picked.values() for i in chosen)
    return [items[i] for i in keep], {"topics": len(groups), "topics_kept": sum(1 for c in picked.values() if c)}
