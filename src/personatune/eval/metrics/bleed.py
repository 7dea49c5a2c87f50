"""Persona bleed: the persona's own terms, whether a neutral answer brings the persona up
unprompted, and term echo (terms the model repeats far more often than the person does)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from personatune.eval.metrics.opinions import Embed, _unit_rows
from personatune.eval.metrics.text import SourceVocab, _is_term, _stem, _vocab, normalise, words


def _term_counts(texts: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(_stem(t) for t in words(text) if _is_term(t))
    return counts


EVERYDAY_ZIPF = 5.0  # "first", "year", "free", "question", "video": everyone's words, at least once in 10,000


def everyday(term: str) -> bool:
    """A word of everyday English (Zipf frequency >= `EVERYDAY_ZIPF` in `wordfreq`'s English, the word or its
    plural): "First, check your internet speed." says nothing about anyone."""
    from wordfreq import zipf_frequency

    return max(zipf_frequency(term, "en"), zipf_frequency(term + "s", "en")) >= EVERYDAY_ZIPF


def persona_terms(persona_texts: Iterable[str], other_texts: Iterable[str], top: int = 50,
                  min_count: int = 3, z_min: float = 1.96, prior: float = 0.1) -> list[str]:
    """Terms specific to the persona segments, most specific first.

    Terms are normalised tokens of at least 3 characters, not stopwords, not numbers, not
    `everyday` English words, with a plural -s removed. Score: the weighted log-odds ratio with an
    informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), persona vs other segments, with the
    prior for a term set to `prior` times its pooled count; z = delta / sqrt(1/(y_p + a) + 1/(y_o + a)).
    Kept: terms seen at least `min_count` times in persona text with z >= `z_min`; the `top` highest z.
    Without the everyday filter, a woodworker's "first" (her first tool, her first video) made 9 of 10
    tuned answers to neutral prompts count as bleed ("First, wash the shirt in cold water").
    """
    persona, other = _term_counts(persona_texts), _term_counts(other_texts)
    n_p, n_o = sum(persona.values()), sum(other.values())  # every term counts toward the totals
    a0 = prior * (n_p + n_o)
    scored = []
    for term, y_p in persona.items():
        if y_p < min_count or everyday(term):
            continue
        y_o = other.get(term, 0)
        a = prior * (y_p + y_o)
        delta = math.log((y_p + a) / (n_p + a0 - y_p - a)) - math.log((y_o + a) / (n_o + a0 - y_o - a))
        z = delta / math.sqrt(1 / (y_p + a) + 1 / (y_o + a))
        if z >= z_min:
            scored.append((-z, term))
    return [term for _, term in sorted(scored)[:top]]


_NAME_RUN = re.compile(r"\b[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ][\w’'-]*(?:\s+(?:of\s+|de\s+)?[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ][\w’'-]*)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“(\n]|\s-)\s*$")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_NOT_NAMES = frozenset(normalise(w) for w in (
    "January February March April May June July August September October November December Monday Tuesday "
    "Wednesday Thursday Friday Saturday Sunday English OK Okay Mr Mrs Ms Dr").split())


def _names(text: str, lower: set[str]) -> set[str]:
    """Runs of capitalised words inside a sentence ("Lake Superior College", "Duluth", "Biscuit"), never
    at a sentence start, never "I'm"-style forms; a single word only if the archive never writes it in
    lower case (so "Shop" in a title is not a name)."""
    out = set()
    for match in _NAME_RUN.finditer(text):
        phrase = re.sub(r"['’]s$", "", match.group(0))
        parts = phrase.split()
        if _SENTENCE_START.search(text[:match.start()]) or parts[0].startswith(("I'", "I’")):
            parts = parts[1:]  # the first word is capitalised for the sentence, not for a name
        if not parts:
            continue
        if len(parts) == 1 and (parts[0].lower() in lower or len(parts[0]) < 3):
            continue
        name = normalise(" ".join(parts))
        if name and name not in _NOT_NAMES:
            out.add(name)
    return out


def persona_entities(persona_texts: Iterable[str], all_texts: Iterable[str], facts: Iterable[str] = ()) -> list[str]:
    """The person's own names, places and specific facts, normalised: what a neutral answer must not bring up.

    - names: runs of capitalised words inside a sentence in the persona segments (see `_names`);
    - years (1800-2099) in the persona segments;
    - the probes' expected facts that are names, numbers of four digits, or phrases of two or more
      content words ("wooden fishing boats"); one common word ("fourteen", "two years") is not.
    """
    lower: set[str] = set()
    for text in all_texts:
        lower.update(re.findall(r"\b[a-zà-ÿ][\w'’-]*", text))
    found: set[str] = set()
    for text in persona_texts:
        found |= _names(text, lower)
        found.update(_YEAR.findall(text))
    for fact in facts:
        content = [t for t in words(fact) if _is_term(t)]
        if _YEAR.fullmatch(fact.strip()) or len(content) >= 2 or (content and fact[:1].isupper()
                                                                    and normalise(fact) not in _NOT_NAMES):
            found.add(normalise(fact))
    return sorted(found)


_BIOGRAPHY = re.compile(
    r"\b(?:my (?:grand)?(?:father|mother|dad|mum|mom|parents|grandparents|wife|husband|partner|kids"
    r"|children|son|daughter|brother|sister|family|childhood|hometown|workshop|studio|garage|shop"
    r"|channel|videos?|viewers|subscribers|students|career)"
    r"|when i was (?:a |an )?(?:kid|child|boy|girl|teenager|teen|young|younger|little|growing up"
    r"|in (?:school|college|university|the \w+)|\d+)"
    r"|i grew up|growing up i|back when i|in my (?:twenties|thirties|forties|youth)"
    r"|i remember when|i used to work)\b")


def bleeds(answer: str, terms: Iterable[str], prompt: str, embed: Embed | None = None,
           persona_vectors: np.ndarray | None = None, sim_threshold: float = 0.6,
           min_terms: int = 1, entities: Iterable[str] = ()) -> dict:
    """Whether an answer to a neutral prompt brings up the persona unprompted.

    It bleeds when any of: (1) it contains at least `min_terms` persona terms (from
    `persona_terms`, matched on normalised, de-pluralised tokens) that the prompt does not
    contain; (2) it contains a first-person biography phrase the prompt does not ("my
    grandfather", "my workshop", "when I was a kid", "I grew up", "back when I", ...): an
    assistant answering "What is the capital of France?" has no childhood; (3) `embed` and
    `persona_vectors` (k, d) are given and the answer's highest cosine to a persona segment is
    >= `sim_threshold` (0.6 suits MiniLM; tune it for another embedder); (4) it names one of the
    person's own `entities` (from `persona_entities`: their dog, hometown, first tool, a year of their
    life) that the prompt does not.
    Returns {"bleed": bool, "terms": [...], "patterns": [...], "entities": [...], "similarity": float | None}.
    """
    text = normalise(answer)
    prompt_text = normalise(prompt)
    prompt_stems = {_stem(t) for t in prompt_text.split()}
    term_set = set(terms)
    found = sorted(({_stem(t) for t in text.split()} & term_set) - prompt_stems)
    patterns = sorted({m[0] for m in _BIOGRAPHY.finditer(text)} - {m[0] for m in _BIOGRAPHY.finditer(prompt_text)})
    padded, padded_prompt = f" {text} ", f" {prompt_text} "
    named = sorted(e for e in set(entities) if e and f" {e} " in padded and f" {e} " not in padded_prompt)
    similarity = None
    if embed is not None and persona_vectors is not None and len(persona_vectors) and text:
        vector = _unit_rows(embed([answer]))[0]
        similarity = float(np.max(_unit_rows(persona_vectors) @ vector))
    bleed = (len(found) >= min_terms or bool(patterns) or bool(named)
             or (similarity is not None and similarity >= sim_threshold))
    return {"bleed": bool(bleed), "terms": found, "patterns": patterns, "entities": named, "similarity": similarity}


# ---------------------------------------------------------------------------------------------
# Term echo


def term_echo(outputs: Sequence[str], sources: SourceVocab | Iterable[str], min_count: int = 5,
              min_outputs: int = 3, ratio: float = 5.0, prompts: Sequence[str] | None = None) -> list[dict]:
    """Terms the model repeats far more often than the person does (the "keeps saying MSTY"
    failure), highest ratio first.

    Terms are normalised tokens of at least 3 characters that are neither stopwords nor numbers;
    a term is not counted in an output whose prompt contains it. output_rate = count in outputs /
    all output tokens; source_rate = (count in sources + 1) / (all source tokens + V), V the
    number of distinct tokens in sources and outputs; ratio = output_rate / source_rate.
    Flagged: count >= `min_count`, present in >= `min_outputs` different outputs, ratio >= `ratio`.
    Each row: {"term", "output_count", "outputs_with", "source_count", "ratio"}.
    """
    vocab = _vocab(sources)
    counts: Counter = Counter()
    spread: Counter = Counter()
    all_tokens: set[str] = set()
    n_out = 0
    for i, output in enumerate(outputs):
        tokens = words(output)
        n_out += len(tokens)
        all_tokens.update(tokens)
        skip = set(words(prompts[i])) if prompts is not None else set()
        terms = [t for t in tokens if _is_term(t) and t not in skip]
        counts.update(terms)
        spread.update(set(terms))
    if not n_out:
        return []
    n_src = vocab.total
    distinct = len(vocab.counts) + len(all_tokens - vocab.counts.keys())
    rows = []
    for term, count in counts.items():
        source_count = vocab.counts.get(term, 0)
        term_ratio = (count / n_out) / ((source_count + 1) / (n_src + distinct))
        if count >= min_count and spread[term] >= min_outputs and term_ratio >= ratio:
            rows.append({"term": term, "output_count": count, "outputs_with": spread[term],
                         "source_count": source_count, "ratio": term_ratio})
    return sorted(rows, key=lambda r: (-r["ratio"], -r["output_count"], r["term"]))
