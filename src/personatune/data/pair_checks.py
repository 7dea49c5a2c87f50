"""The checks every proposed question passes, whichever writer wrote it: its words (a question, not a copy of
the answer, related to it, distinct from its siblings) and the round trip (it finds its own answer)."""

from __future__ import annotations

import re
from collections import Counter

from personatune.data.retrieval import BM25, STOPWORDS

REQUEST = re.compile(r"^(?:tell me|explain|describe|walk me through|give me|share|talk about|help me)\b", re.I)
_WORDS = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def lexical_problem(question: str, answer: str, settings, taken: list[str],
                    check_overlap: bool = True) -> str | None:
    """Why a question is unusable, judged from its words alone; None if it passes (`settings`: the pairs
    stage's `max_copy` and `min_overlap`)."""
    q = " ".join(question.split())
    if not q:
        return "empty"
    if not (q.endswith("?") or REQUEST.match(q)):
        return "not phrased as a question"
    q_words, a_words = _words(q), _words(answer)
    if len(q_words) < 3:
        return "too short"
    if len(q_words) > 60:
        return "too long"
    if " ".join(q_words) in " ".join(a_words):
        return "copy of the answer"
    grams = {tuple(q_words[i:i + 4]) for i in range(len(q_words) - 3)}
    a_grams = {tuple(a_words[i:i + 4]) for i in range(len(a_words) - 3)}
    if grams and len(grams & a_grams) / len(grams) > settings.max_copy:
        return "copies the answer's wording"
    content = [w for w in q_words if w not in STOPWORDS and len(w) > 2]
    answer_set = set(a_words) | {w.rstrip("s") for w in a_words}
    if check_overlap and content and \
            sum(1 for w in content if w in answer_set or w.rstrip("s") in answer_set) / len(content) < settings.min_overlap:
        return "unrelated to the answer (no shared content words)"
    if " ".join(q_words) in (" ".join(_words(t)) for t in taken):
        return "duplicate of another question"
    return None


CHECKS = {"empty": "form", "not phrased as a question": "form", "too short": "form", "too long": "form",
          "copy of the answer": "not a copy", "copies the answer's wording": "not a copy",
          "unrelated to the answer (no shared content words)": "related", "duplicate of another question": "distinct"}


class Checks:
    """Per label, how many questions passed and failed each check: the pairs report."""

    def __init__(self):
        self.counts: dict[str, Counter] = {}
        self.reasons: Counter = Counter()

    def passed(self, label: str, *checks: str) -> None:
        for check in checks:
            self.counts.setdefault(label, Counter())[f"{check}:pass"] += 1

    def failed(self, label: str, check: str, reason: str) -> None:
        self.counts.setdefault(label, Counter())[f"{check}:fail"] += 1
        self.reasons[reason] += 1

    def report(self) -> dict:
        out = {}
        for label, counts in sorted(self.counts.items()):
            names = sorted({k.split(":")[0] for k in counts})
            out[label] = {name: {"passed": counts[f"{name}:pass"], "failed": counts[f"{name}:fail"],
                                 "share": round(counts[f"{name}:pass"] / max(1, counts[f"{name}:pass"]
                                                                               + counts[f"{name}:fail"]), 3)}
                          for name in names}
        return out


class RoundTrip:
    """Does a question find its own answer? Its segment must be in the top k BM25 hits among all segments."""

    def __init__(self, index: BM25, positions: dict[str, int], k: int):
        self.index, self.positions, self.k = index, positions, k

    def finds(self, question: str, segment_id: str) -> bool:
        return self.k == 0 or self.positions[segment_id] in self.index.top(question, self.k)
