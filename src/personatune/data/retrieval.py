"""Lexical retrieval shared by the pairs stage's round-trip check and the runtime index: BM25 over terms.

`terms` is the one tokenizer both use (lower case, stop words out), so a question that finds its
answer when the dataset is built finds it the same way at run time.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

STOPWORDS = set("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each even ever every few for from further get
gets got had has have having he her here hers herself him himself his how i if in into is it its itself just
kind know let like lot make me more most much must my myself no nor not now of off often on once one only or
other our ours out over own pretty quite really right same say see she should so some something still such sure
take than that the their theirs them themselves then there these they thing things think this those through to
too under until up us use used very want was way we well were what when where which while who whom why will with
would yeah yes you your yours yourself going gonna okay ok actually basically also little bit another much many
put want wanna stuff go goes went come comes back kind sort look looks thing lot lots whole enough instead dont
don't it's that's i'm you're i've you'll i'll we're they're there's here's can't won't didn't doesn't isn't""".split())
_WORD = re.compile(r"[a-z0-9']+")


def terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower().replace("\u2019", "'")) if w not in STOPWORDS and len(w) > 1]


class BM25:
    """Okapi BM25 over a fixed list of texts; postings are numpy arrays, so a query costs microseconds."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.n, self.k1, self.b = len(texts), k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(terms(text))
            self.lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((i, tf))
        self.avg_length = float(self.lengths.mean()) if len(texts) else 0.0
        self.postings = {term: (np.array([d for d, _ in p], dtype=np.int64), np.array([t for _, t in p], dtype=np.float32))
                         for term, p in postings.items()}

    def df(self, term: str) -> int:
        posting = self.postings.get(term)
        return 0 if posting is None else len(posting[0])

    def idf(self, term: str) -> float:
        """How much a shared term says (an unseen one weighs the most)."""
        return math.log(1 + (self.n - self.df(term) + 0.5) / (self.df(term) + 0.5))

    def scores(self, query: str) -> np.ndarray:
        scores = np.zeros(self.n, dtype=np.float32)
        for term in set(terms(query)):
            posting = self.postings.get(term)
            if posting is None:
                continue
            docs, tf = posting
            idf = self.idf(term)
            norm = self.k1 * (1 - self.b + self.b * self.lengths[docs] / max(self.avg_length, 1e-9))
            scores[docs] += idf * tf * (self.k1 + 1) / (tf + norm)
        return scores

    def top(self, query: str, k: int) -> list[int]:
        """Indices of the k best texts sharing a term with the query, best first (ties by position)."""
        scores = self.scores(query)
        if k < len(scores):
            best = np.argpartition(-scores, k)[:k]
            order = best[np.lexsort((best, -scores[best]))]
        else:
            order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order if scores[i] > 0]
