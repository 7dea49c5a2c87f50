"""Text as the word-level metrics see it: `normalise`, `words`, the stopword and term tests,
and the person's source vocabulary (`SourceVocab`) that support checks look tokens up in."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from personatune.data.retrieval import STOPWORDS

# ---------------------------------------------------------------------------------------------
# Normalisation

_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d",
                       "ı": "i", "ħ": "h", "ŀ": "l"})
_APOSTROPHES = re.compile("['\u2019\u2018\u02bc\u00b4`\u2032]")
_PHD = re.compile(r"\bph\.\s?d\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W_]+")
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen", "twenty"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | _TENS
_COMPOUND = re.compile(r"\b(" + "|".join(_TENS) + r") (one|two|three|four|five|six|seven|eight|nine)\b")
_SIMPLE_NUMBER = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b")


def normalise(text: str) -> str:
    """Text reduced for matching: tokens joined by single spaces.

    Exactly: case-fold; NFKD with combining marks dropped, plus ł→l, ø→o, æ→ae, œ→oe, đ/ð→d,
    þ→th, ı→i ("Gdańsk", "GDAŃSK" and "gdansk" all become "gdansk"); apostrophes of every kind
    removed ("master's" → "masters", "don't" → "dont"); "ph.d" → "phd"; thousands commas removed
    ("1,000" → "1000"); tokens are digit runs with an optional decimal part, or runs of letters
    and digits (all other characters separate tokens); the number words zero..twenty and the
    tens, and "twenty five" / "twenty-five" compounds, become digits ("twenty-five" → "25").
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.casefold())
        text = "".join(c for c in text if not unicodedata.combining(c)).translate(_FOLD)
    text = _APOSTROPHES.sub("", text.lower())
    text = _THOUSANDS.sub("", _PHD.sub("phd", text))
    text = " ".join(_TOKEN.findall(text))
    text = _COMPOUND.sub(lambda m: str(_TENS[m[1]] + _UNITS.index(m[2])), text)
    return _SIMPLE_NUMBER.sub(lambda m: str(_NUMBER_WORDS[m[1]]), text)


def words(text: str) -> list[str]:
    """The tokens of `normalise(text)`: the word sequence the word-level metrics use."""
    return normalise(text).split()


def _stem(token: str) -> str:
    # Plural and possessive -s only ("workshops", "master's"), never "glass", "status", "analysis".
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")) \
            and not token[0].isdigit():
        return token[:-1]
    return token


_STOP = frozenset(normalise(w) for w in STOPWORDS) | {"im", "ive", "id", "ill", "youre", "thats"}


def _is_content(token: str) -> bool:
    return token not in _STOP


def _is_term(token: str) -> bool:
    return len(token) >= 3 and token not in _STOP and not token[0].isdigit()


# ---------------------------------------------------------------------------------------------
# Source vocabulary


@dataclass
class SourceVocab:
    """What the person's sources mention, for cheap support checks over tens of thousands of
    segments: counts of normalised tokens, and the set of their stems."""

    counts: Counter
    stems: frozenset = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.stems:
            self.stems = frozenset(_stem(t) for t in self.counts)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> SourceVocab:
        counts: Counter = Counter()
        for text in texts:
            counts.update(normalise(text).split())
        return cls(counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def has(self, token: str) -> bool:
        """Whether the normalised token (or its stem) occurs anywhere in the sources."""
        return token in self.counts or _stem(token) in self.stems


def source_vocab(texts: Iterable[str] | str) -> SourceVocab:
    """Build the `SourceVocab` of the person's sources (one string or many); build it once and pass
    it to `invented_biography`, `contradicts` and `term_echo`."""
    return SourceVocab.from_texts([texts] if isinstance(texts, str) else texts)


def _vocab(sources: SourceVocab | Iterable[str] | str) -> SourceVocab:
    return sources if isinstance(sources, SourceVocab) else source_vocab(sources)
