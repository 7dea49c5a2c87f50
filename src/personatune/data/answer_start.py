"""Where a passage's answer to a question begins: at the sentence that answers it.

Most questions are read off one sentence of their passage ("Where were you born?" from its fourth).
Answered with the whole passage, such a row teaches a model to open with the passage's first sentence
whatever it is asked, and a row trained as served teaches it to copy the first passage's opening instead
of finding the sentence that answers (what tuned+rag did in 5 of its 7 misses on the example). So the
answer starts at the sentence sharing the most of the question's rarer words and runs to the passage's
end: the person's own words, from a sentence start, unchanged. A sentence that carries on from the one before
("And that was my first real tool.", "So I left without a degree.") starts with that one (two at most); a
question no sentence answers more than the rest ("Can you tell me about your background?") keeps the whole
passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from personatune.data.retrieval import terms
from personatune.data.template_questions import SENTENCE_BREAK

_LEADING = {"and", "but", "so", "then", "or", "because", "also", "plus"}
_POINTING = {"it", "it's", "this", "that", "that's", "them", "those", "these", "there", "there's", "they", "he", "she",
             "which"}
_WORD = re.compile(r"[a-z']+")
MIN_SHARE = 0.5  # the best sentence holds at least this share of the question's weight, else the whole passage


def sentence_starts(text: str) -> list[int]:
    """Character offsets where the text's sentences start (the first is 0), by the question writer's rule."""
    return [0] + [m.end() for m in SENTENCE_BREAK.finditer(text) if m.end() < len(text)]


def _stem(term: str) -> str:
    return term[:4]  # "studied" / "study", "moved" / "move": enough to match a question to its sentence


def _carries_on(sentence: str) -> bool:
    """It opens with a conjunction or a word pointing back: it continues the sentence before."""
    words = _WORD.findall(sentence.lower())[:1]
    return bool(words) and words[0] in _LEADING | _POINTING


def answer_start(text: str, question: str, weight: Callable[[str], float]) -> int:
    """The offset in `text` where the answer to `question` starts (0: the whole text). `weight(term)` is how
    much a shared word says (an idf)."""
    starts = sentence_starts(text)
    asked = {_stem(t): weight(t) for t in terms(question)}
    total = sum(asked.values())
    if len(starts) < 2 or total <= 0:
        return 0
    ends = starts[1:] + [len(text)]
    scores = []
    for start, end in zip(starts, ends):
        found = {_stem(t) for t in terms(text[start:end])}
        scores.append(sum(w for stem, w in asked.items() if stem in found))
    best = max(range(len(starts)), key=lambda k: (scores[k], -k))
    if scores[best] < MIN_SHARE * total:
        return 0
    for _ in range(2):
        if best and _carries_on(text[starts[best]:ends[best]]):
            best -= 1
    return starts[best]
