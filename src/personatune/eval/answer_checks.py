"""Answer checks for general instructions: `check_answer` and the matching, number and
list-counting rules behind each check kind.

Checks on general items are deliberately easy to pass: the models are tiny, and a check that every
variant fails measures nothing.
"""

from __future__ import annotations

import re
import unicodedata

from personatune.eval.evalset_items import GeneralItem

CHECK_KINDS = ("contains_any", "contains_all", "number", "regex", "max_words", "min_items")

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss",
                       "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i",
                       "‘": "'", "’": "'", "´": "'", "`": "'", "“": '"', "”": '"'})
_WORD_NEEDLE_PUNCT = set("'-.,!?;:")
_BULLET = re.compile(r"^(?:[-*•+–]|\(?\d{1,2}[.):]|\(?[a-z][.)])\s+\S", re.IGNORECASE)
_INLINE_SPLIT = re.compile(r",|;|\s+(?:and|or|&)\s+", re.IGNORECASE)
_DIGITS = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}


def fold(text: str) -> str:
    """Case-folded, accents stripped, typographic quotes made plain; punctuation kept."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def normalise(text: str) -> str:
    """fold(), then apostrophes dropped and every other non-alphanumeric run made one space."""
    return " ".join(re.sub(r"[\W_]+", " ", fold(text).replace("'", "")).split())


def check_answer(item: GeneralItem, answer: str) -> bool | None:
    """Whether `answer` passes every kind in the item's check; None when the item has no check."""
    if item.check is None:
        return None
    return all(_CHECKS[kind](answer, value) for kind, value in item.check.items())


def contains(answer: str, needle: str) -> bool:
    """Word needles match whole words, ignoring case, accents and punctuation; others are literal."""
    if all(c.isalnum() or c.isspace() or c in _WORD_NEEDLE_PUNCT for c in needle):
        words = normalise(needle)
        return bool(words) and f" {words} " in f" {normalise(answer)} "
    return fold(needle) in fold(answer)


def numbers_in(text: str) -> list[float]:
    """Every number stated in `text`, as digits (12, -3, 1,000, 2.5) or English words (zero..ninety-nine,
    hundred, thousand: 'twenty-one', 'a hundred and five')."""
    found = [float(m.group().replace(",", "")) for m in _DIGITS.finditer(fold(text))]
    return found + _word_numbers(normalise(text).split())


def count_words(text: str) -> int:
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def count_items(text: str) -> int:
    """List items: bullet or numbered lines, short plain lines, or comma/and-separated parts of a line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    counts = [sum(1 for line in lines if _BULLET.match(line))]
    plain = [line for line in lines if not line.endswith(":")]
    if len(plain) >= 2 and all(count_words(line) <= 6 for line in plain):
        counts.append(len(plain))
    for line in lines:
        counts.append(sum(1 for part in _INLINE_SPLIT.split(line) if any(c.isalnum() for c in part)))
    return max(counts, default=0)


def _word_numbers(tokens: list[str]) -> list[float]:
    out: list[float] = []
    current = total = 0
    last = None  # kind of the previous number word in the running number; None: no number running

    def flush():
        if last is not None:
            out.append(float(total + current))

    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _UNITS:
            value = _UNITS[token]
            if last in ("hundred", "thousand") or (last == "tens" and 1 <= value <= 9):
                current += value
            else:
                flush()
                total, current = 0, value
            last = "unit"
        elif token in _TENS:
            if last in ("hundred", "thousand"):
                current += _TENS[token]
            else:
                flush()
                total, current = 0, _TENS[token]
            last = "tens"
        elif token == "hundred":
            if last == "unit" and current < 10:
                current *= 100
            else:
                flush()
                total, current = 0, 100
            last = "hundred"
        elif token == "thousand":
            if last in ("unit", "tens", "hundred"):
                total, current = total + current * 1000, 0
            else:
                flush()
                total, current = 1000, 0
            last = "thousand"
        elif token == "and" and last in ("hundred", "thousand") and (nxt in _UNITS or nxt in _TENS):
            continue
        else:
            flush()
            last = None
    flush()
    return out


_CHECKS = {
    "contains_any": lambda answer, needles: any(contains(answer, n) for n in needles),
    "contains_all": lambda answer, needles: all(contains(answer, n) for n in needles),
    "number": lambda answer, value: any(abs(x - value) < 1e-9 for x in numbers_in(answer)),
    "regex": lambda answer, pattern: re.search(pattern, unicodedata.normalize("NFC", answer)) is not None,
    "max_words": lambda answer, limit: 0 < count_words(answer) <= limit,
    "min_items": lambda answer, least: count_items(answer) >= least,
}
