"""Identity metrics: fact recall, invented biography, contradictions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from personatune.eval.metrics.text import (
    _STOP,
    SourceVocab,
    _is_content,
    _stem,
    _vocab,
    normalise,
    words,
)


def facts_stated(answer: str, expected_facts: Sequence[str]) -> list[bool]:
    """For each expected fact, whether the answer states it.

    A fact is stated when its normalised form occurs in the normalised answer as a run of whole
    tokens, or when every content word of the fact (normalised tokens that are not stopwords;
    numbers always count) occurs as a token of the answer, after removing a plural/possessive
    -s on both sides. So "born in 1987" is stated by "I was born in Gdańsk in 1987", and
    "Gdansk" by "I grew up in GDAŃSK". A fact made only of stopwords needs the phrase match.
    """
    text = normalise(answer)
    padded = f" {text} "
    answer_stems = {_stem(t) for t in text.split()}
    stated = []
    for fact in expected_facts:
        norm = normalise(fact)
        if not norm:
            stated.append(False)
            continue
        content = {_stem(t) for t in norm.split() if _is_content(t)}
        stated.append(f" {norm} " in padded or (bool(content) and content <= answer_stems))
    return stated


def fact_recall(answer: str, expected_facts: Sequence[str]) -> float:
    """Share of `expected_facts` that the answer states (see `facts_stated`); NaN when there are
    no expected facts, so averages over probes (`np.nanmean`, `bootstrap_ci`) skip the probe.
    """
    if not expected_facts:
        return math.nan
    stated = facts_stated(answer, expected_facts)
    return sum(stated) / len(stated)


_DEGREES = {  # normalised token -> degree group; any member of the group in the sources supports it
    "phd": "doctorate", "doctorate": "doctorate", "dphil": "doctorate", "doctoral": "doctorate",
    "masters": "masters", "msc": "masters", "mfa": "masters", "meng": "masters", "mba": "mba",
    "bachelors": "bachelors", "bachelor": "bachelors", "bsc": "bachelors", "beng": "bachelors",
    "postdoc": "postdoc", "professor": "professor", "diploma": "diploma",
}
# Short degree abbreviations are degrees only in capitals ("BA", not "ba" or "Ma").
_CAPS_DEGREES = {"BA": "bachelors", "BS": "bachelors", "MA": "masters", "MS": "masters",
                 "LLB": "bachelors", "LLM": "masters", "JD": "doctorate", "MD": "doctorate"}
_RAW_WORD = re.compile(r"[^\W_](?:[\w'\u2019.\-]*[^\W_])?")
_NAME_JOINERS = {"of", "de", "del", "della", "da", "van", "von", "der", "den", "la", "le", "du", "y"}
_NOT_NAMES = {"i", "im", "ive", "id", "ill", "ok", "okay"}
_TITLES = {"dr", "mr", "mrs", "ms", "prof", "st"}
_SENTENCE_END = ".!?…:;\n•*-–—"


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“‘«([")
    if not before:
        return True
    previous = before[:-1].split()[-1:]
    if before[-1] == "." and previous and previous[0].lower() in _TITLES:  # "Dr. Smith"
        return False
    return before[-1] in _SENTENCE_END


def _claims(text: str, all_capitals_are_names: bool = False) -> list[dict]:
    """Specific claims, names and degrees in order of appearance, then numbers: {"kind", "text",
    "norm"}; kinds are "year", "number", "name", "degree"."""
    claims: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, surface: str, norm: str) -> None:
        if (kind, norm) not in seen:
            seen.add((kind, norm))
            claims.append({"kind": kind, "text": surface, "norm": norm})

    digits_written = set(re.findall(r"\d+", text))
    run: list[str] = []

    def close_run() -> None:
        while run and normalise(run[-1]) in _NAME_JOINERS:
            run.pop()
        while run and normalise(run[0]) in _STOP:  # "The Beatles" -> "Beatles"
            run.pop(0)
        if run:
            add("name", " ".join(run), normalise(" ".join(run)))
        run.clear()

    matches = list(_RAW_WORD.finditer(text))
    for i, m in enumerate(matches):
        word = m[0]
        norm = normalise(word)
        adjacent = i > 0 and text[matches[i - 1].end():m.start()] in (" ", "\u00a0")
        if not adjacent:
            close_run()
        degree = _CAPS_DEGREES.get(word) or _DEGREES.get(norm)
        if degree:
            close_run()
            add("degree", word, degree)
            continue
        if word[0].isupper() and norm not in _NOT_NAMES | _TITLES and not norm[:1].isdigit():
            if run or all_capitals_are_names or not _sentence_start(text, m.start()):
                run.append(word)
                continue
            # A capital at sentence start is only a name when the next word continues it.
            nxt = matches[i + 1] if i + 1 < len(matches) else None
            if nxt and text[m.end():nxt.start()] == " " and nxt[0][0].isupper():
                run.append(word)
                continue
        elif run and norm in _NAME_JOINERS and i + 1 < len(matches) and matches[i + 1][0][0].isupper():
            run.append(word)
            continue
        close_run()
    close_run()
    for token in normalise(text).split():
        if token[0].isdigit() and (token not in ("0", "1") or token in digits_written):
            is_year = len(token) == 4 and token.isdigit() and 1000 <= int(token) <= 2100
            add("year" if is_year else "number", token, token)
    return claims


def _supported(claim: dict, vocab: SourceVocab, extra: set[str]) -> bool:
    if claim["kind"] == "degree":
        group = claim["norm"]
        members = [t for t, g in _DEGREES.items() if g == group]
        members += [c.lower() for c, g in _CAPS_DEGREES.items() if g == group]
        return any(vocab.has(t) or _stem(t) in extra for t in members)
    return all(vocab.has(t) or _stem(t) in extra for t in claim["norm"].split())


def invented_biography(answer: str, sources: SourceVocab | Iterable[str] | str,
                       question: str = "") -> dict:
    """The answer's specific claims that appear nowhere in the person's sources.

    Claims: numbers (written in digits, or number words from two to ninety-nine; a bare "one"
    or "zero" is not a claim); capitalised names (runs of capitalised words, joined by "of",
    "de", "van", ...; a capital at sentence start counts only as part of a run of two or more;
    leading stopwords such as "The" dropped); degree and title words (PhD, doctorate, master's,
    MSc, MBA, bachelor's, BSc, BA/MA/BS/MS/JD/MD in capitals, postdoc, professor, diploma).
    A claim is supported when it occurs in the sources or in the question, after normalisation:
    a number as the same token, a name when every one of its tokens occurs (token level, so
    the lookup stays a set), a degree when any word of the same degree occurs ("MSc" supports
    "master's"). Returns {"claims": [...], "unsupported": [...], "invented": bool}; each claim is
    {"kind": "year" | "number" | "name" | "degree", "text": as written, "norm": normalised}.
    """
    vocab = _vocab(sources)
    extra = {_stem(t) for t in words(question)}
    claims = _claims(answer)
    unsupported = [c for c in claims if not _supported(c, vocab, extra)]
    return {"claims": claims, "unsupported": unsupported, "invented": bool(unsupported)}


def contradicts(answer: str, expected_facts: Sequence[str],
                sources: SourceVocab | Iterable[str] | str | None = None, question: str = "") -> dict:
    """Whether the answer gives a different year, number, name or degree than an expected fact.

    For each claim of an expected fact (extracted as in `invented_biography`, every capitalised
    word of a fact counting as a name) that the answer does not state, the rivals are the
    answer's claims of the same kind (year vs year, number vs number, name vs name, degree vs
    degree) that are not in any expected fact, not in the question, and, when `sources` is
    given, not supported by the sources (so a true extra detail is not a contradiction). The
    answer contradicts when any claim has a rival: expected "born in 1987", answer "I was born in
    1992" → contradiction; "I don't remember" → none. Returns {"contradicts": bool,
    "conflicts": [{"fact", "kind", "expected", "stated": [...]}]}.
    """
    vocab = None if sources is None else _vocab(sources)
    fact_tokens = {_stem(t) for fact in expected_facts for t in words(fact)}
    extra = {_stem(t) for t in words(question)}
    answer_claims = _claims(answer)
    answer_norms = {(c["kind"], c["norm"]) for c in answer_claims}
    answer_stems = {_stem(t) for t in words(answer)}

    def rival(claim: dict) -> bool:
        if all(_stem(t) in fact_tokens for t in claim["norm"].split()):
            return False
        if vocab is not None and _supported(claim, vocab, extra):
            return False
        return not all(_stem(t) in extra for t in claim["norm"].split())

    conflicts = []
    for fact in expected_facts:
        for claim in _claims(fact, all_capitals_are_names=True):
            kind, norm = claim["kind"], claim["norm"]
            if (kind, norm) in answer_norms or all(_stem(t) in answer_stems for t in norm.split()):
                continue
            stated = [c["text"] for c in answer_claims if c["kind"] == kind and rival(c)]
            if stated:
                conflicts.append({"fact": fact, "kind": kind, "expected": claim["text"],
                                  "stated": stated})
    return {"contradicts": bool(conflicts), "conflicts": conflicts}
