"""Pure evaluation metrics: identity facts, invented biography, opinions, bleed, verbatim recall,
term echo, length drift, confidence intervals and overfitting flags.

Nothing here loads a model. Functions take strings, token sequences, numpy vectors or callables
(an `embed(list[str]) -> (n, d)` array of L2-normalised rows; a log-probability function) and
return numbers or small dicts, so the eval stage stays thin and every definition is unit-tested.
The docstrings are the definitions the README quotes.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from personatune.data.questions import STOPWORDS
from personatune.settings import Settings, setting

Embed = Callable[[list[str]], np.ndarray]

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
# Identity: fact recall, invented biography, contradictions


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


# ---------------------------------------------------------------------------------------------
# Opinions


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def opinion_alignments(answers: Sequence[str], references: Sequence[str], embed: Embed) -> np.ndarray:
    """Cosine similarity between each answer's embedding and its reference answer's embedding
    (rows re-normalised, so any embedder works); an empty or blank answer scores 0.0."""
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    scores = np.zeros(len(answers))
    keep = [i for i, a in enumerate(answers) if a.strip()]
    if keep:
        vectors = _unit_rows(embed([answers[i] for i in keep] + [references[i] for i in keep]))
        a, r = vectors[:len(keep)], vectors[len(keep):]
        scores[keep] = np.sum(a * r, axis=1)
    return scores


def opinion_alignment(answer: str, reference_answer: str, embed: Embed) -> float:
    """Cosine similarity of the embeddings of the answer and the person's held-out answer to the
    same question, in [-1, 1]; 0.0 for an empty answer."""
    return float(opinion_alignments([answer], [reference_answer], embed)[0])


def stance_pick(logprob_fn: Callable[[str, str], tuple[float, int]], question: str,
                options: Sequence[str]) -> dict:
    """Multiple-choice stance: the option with the highest length-normalised log-likelihood.

    `logprob_fn(question, option)` returns (sum of the option's token log-probabilities, number
    of option tokens); the score is sum / max(n_tokens, 1); ties go to the first option.
    Returns {"index": int, "option": str, "scores": [float, ...]}.
    """
    if not options:
        raise ValueError("stance_pick needs at least one option")
    scores = []
    for option in options:
        total, n_tokens = logprob_fn(question, option)
        scores.append(float(total) / max(int(n_tokens), 1))
    index = int(np.argmax(scores))
    return {"index": index, "option": options[index], "scores": scores}


# ---------------------------------------------------------------------------------------------
# Persona bleed


def _term_counts(texts: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(_stem(t) for t in words(text) if _is_term(t))
    return counts


def persona_terms(persona_texts: Iterable[str], other_texts: Iterable[str], top: int = 50,
                  min_count: int = 3, z_min: float = 1.96, prior: float = 0.1) -> list[str]:
    """Terms specific to the persona segments, most specific first.

    Terms are normalised tokens of at least 3 characters, not stopwords, not numbers, with a
    plural -s removed. Score: the weighted log-odds ratio with an informative Dirichlet prior
    (Monroe, Colaresi & Quinn 2008), persona vs other segments, with the prior for a term set to
    `prior` times its pooled count; z = delta / sqrt(1/(y_p + a) + 1/(y_o + a)). Kept: terms
    seen at least `min_count` times in persona text with z >= `z_min`; the `top` highest z.
    """
    persona, other = _term_counts(persona_texts), _term_counts(other_texts)
    n_p, n_o = sum(persona.values()), sum(other.values())
    a0 = prior * (n_p + n_o)
    scored = []
    for term, y_p in persona.items():
        if y_p < min_count:
            continue
        y_o = other.get(term, 0)
        a = prior * (y_p + y_o)
        delta = math.log((y_p + a) / (n_p + a0 - y_p - a)) - math.log((y_o + a) / (n_o + a0 - y_o - a))
        z = delta / math.sqrt(1 / (y_p + a) + 1 / (y_o + a))
        if z >= z_min:
            scored.append((-z, term))
    return [term for _, term in sorted(scored)[:top]]


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
           min_terms: int = 1) -> dict:
    """Whether an answer to a neutral prompt brings up the persona unprompted.

    It bleeds when any of: (1) it contains at least `min_terms` persona terms (from
    `persona_terms`, matched on normalised, de-pluralised tokens) that the prompt does not
    contain; (2) it contains a first-person biography phrase the prompt does not ("my
    grandfather", "my workshop", "when I was a kid", "I grew up", "back when I", ...): an
    assistant answering "What is the capital of France?" has no childhood; (3) `embed` and
    `persona_vectors` (k, d) are given and the answer's highest cosine to a persona segment is
    >= `sim_threshold` (0.6 suits MiniLM; tune it for another embedder).
    Returns {"bleed": bool, "terms": [...], "patterns": [...], "similarity": float | None}.
    """
    text = normalise(answer)
    prompt_text = normalise(prompt)
    prompt_stems = {_stem(t) for t in prompt_text.split()}
    term_set = set(terms)
    found = sorted(({_stem(t) for t in text.split()} & term_set) - prompt_stems)
    patterns = sorted({m[0] for m in _BIOGRAPHY.finditer(text)} - {m[0] for m in _BIOGRAPHY.finditer(prompt_text)})
    similarity = None
    if embed is not None and persona_vectors is not None and len(persona_vectors) and text:
        vector = _unit_rows(embed([answer]))[0]
        similarity = float(np.max(_unit_rows(persona_vectors) @ vector))
    bleed = len(found) >= min_terms or bool(patterns) or (similarity is not None and similarity >= sim_threshold)
    return {"bleed": bool(bleed), "terms": found, "patterns": patterns, "similarity": similarity}


# ---------------------------------------------------------------------------------------------
# Verbatim recall

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


# ---------------------------------------------------------------------------------------------
# Term echo and length drift


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


def length_drift(generated_lengths: Sequence[float], training_lengths: Sequence[float]) -> dict:
    """Generated answer lengths against training answer lengths (tokens or words, the same unit
    on both sides).

    median_ratio = median(generated) / median(training). Both samples are then divided by the
    training median; wasserstein = the 1-D earth mover's distance between the two empirical
    distributions (mean absolute shift, in training medians: answers all twice as long score
    about 1.0), ks = the Kolmogorov-Smirnov statistic (largest gap between the two CDFs, 0..1).
    Returns {"median_ratio", "generated_median", "training_median", "wasserstein", "ks",
    "n_generated", "n_training"}.
    """
    generated = np.sort(np.asarray(generated_lengths, dtype=np.float64))
    training = np.sort(np.asarray(training_lengths, dtype=np.float64))
    if not len(generated) or not len(training):
        raise ValueError("length_drift needs at least one generated and one training length")
    scale = float(np.median(training))
    if scale <= 0:
        raise ValueError("the training median length is 0")
    g, t = generated / scale, training / scale
    points = np.concatenate([g, t])
    points.sort()
    cdf_g = np.searchsorted(g, points, side="right") / len(g)
    cdf_t = np.searchsorted(t, points, side="right") / len(t)
    gaps = np.abs(cdf_g - cdf_t)
    return {"median_ratio": float(np.median(generated)) / scale,
            "generated_median": float(np.median(generated)), "training_median": scale,
            "wasserstein": float(np.sum(gaps[:-1] * np.diff(points))), "ks": float(gaps.max()),
            "n_generated": len(generated), "n_training": len(training)}


# ---------------------------------------------------------------------------------------------
# Statistics


def bootstrap_ci(values: Sequence[float], stat: Callable[[np.ndarray], float] = np.mean,
                 n: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval: resample the values with replacement `n` times and take the
    alpha/2 and 1-alpha/2 quantiles of `stat`. NaNs are dropped first (probes that do not
    apply); no values gives (nan, nan), one value gives (v, v)."""
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    if not len(data):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.array([stat(data[rng.integers(0, len(data), len(data))]) for _ in range(n)])
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap_delta(a: Sequence[float], b: Sequence[float],
                           stat: Callable[[np.ndarray], float] = np.mean, n: int = 2000,
                           alpha: float = 0.05, seed: int = 0) -> dict:
    """Run b minus run a on the same probes: delta = stat(b) - stat(a), with a percentile interval
    from resampling probes (the same indices for both runs, which keeps the pairing) and a
    two-sided bootstrap p-value, 2 * min(share of deltas <= 0, share >= 0) capped at 1. Probes
    where either value is NaN are dropped. Returns {"delta", "low", "high", "p_value", "n"}."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values need the same probes: {len(x)} vs {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if not len(x):
        return {"delta": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    deltas = np.empty(n)
    for i in range(n):
        idx = rng.integers(0, len(x), len(x))
        deltas[i] = stat(y[idx]) - stat(x[idx])
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0)))
    return {"delta": float(stat(y) - stat(x)), "low": float(low), "high": float(high),
            "p_value": float(p_value), "n": int(len(x))}


def wilson_interval(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a win rate of wins/n (z = 1.96 for 95%); (0.0, 1.0) when n = 0.
    `wins` may be fractional: `win_rate` counts a tie as half a win."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rate(wins: int, losses: int, ties: int = 0, z: float = 1.96) -> dict:
    """Blind side-by-side judgments: rate = (wins + ties / 2) / (wins + losses + ties), a tie
    counting as half a win and half a loss, with its Wilson interval.
    Returns {"rate", "low", "high", "n"}."""
    n = wins + losses + ties
    score = wins + ties / 2
    low, high = wilson_interval(score, n, z)
    return {"rate": score / n if n else math.nan, "low": low, "high": high, "n": n}


# ---------------------------------------------------------------------------------------------
# Overfitting flags


@dataclass
class Thresholds(Settings):
    """When the eval report raises an overfitting flag (every comparison is strictly greater)."""

    bleed_increase: float = setting(0.10, help="bleed flag: tuned bleed rate minus base bleed rate above this")
    bleed_rate: float = setting(0.20, help="bleed flag: tuned bleed rate above this, whatever the base")
    copied_share: float = setting(0.30, help="verbatim flag: mean share of copied 8-grams above this")
    exact_continuation: float = setting(0.20, help="verbatim flag: exact-continuation rate above this")
    accuracy_drop: float = setting(0.10, help="task-collapse flag: base minus tuned general-instruction "
                                              "accuracy above this (absolute, accuracy in 0..1)")
    nll_increase: float = setting(0.10, help="task-collapse flag: tuned instructional NLL over base NLL, "
                                             "minus 1, above this (0.10 = 10 percent worse)")
    length_factor: float = setting(1.5, help="length-drift flag: median length ratio above this, or below "
                                             "its inverse")

    def problems(self) -> list[str]:
        out = [f"{name}={getattr(self, name)} must be >= 0" for name in
               ("bleed_increase", "bleed_rate", "copied_share", "exact_continuation", "accuracy_drop",
                "nll_increase") if getattr(self, name) < 0]
        if self.length_factor < 1:
            out.append(f"length_factor={self.length_factor} must be >= 1")
        return out


ADVICE = {
    "bleed": "the persona leaks into neutral answers: lower the persona ratio, or add more "
             "instructional/neutral data",
    "verbatim": "the model recites training answers: vary the questions (more distinct questions per "
                "persona segment), lower the ratio or the epochs",
    "task_collapse": "ordinary tasks got worse: add instructional data, lower the epochs or the "
                     "learning rate",
    "length_drift": "answer lengths drifted: check that every training answer ends with the "
                    "end-of-turn token and that max_length does not cut answers",
}


def flags(metrics: dict, base: dict, thresholds: Thresholds | None = None) -> list[dict]:
    """Overfitting flags for a tuned run against the base model on the same probes.

    Keys read (a flag whose keys are missing or None is left out):
      metrics["bleed_rate"], base["bleed_rate"]      share of neutral prompts whose answer bleeds
      metrics["copied_8gram_share"]                  mean `copied_ngram_share(n=8)` over verbatim probes
      metrics["exact_continuation_rate"]             share of verbatim probes with `exact_continuation`
      metrics["general_accuracy"], base[...]         share of built-in general instructions answered right
      metrics["instruction_nll"], base[...]          mean per-token NLL on held-out instructional pairs
      metrics["length_median_ratio"]                 `length_drift(...)["median_ratio"]`
    Rows: {"flag": "bleed" | "verbatim" | "task_collapse" | "length_drift", "measure", "fired",
    "value", "threshold", "advice"}; measures: bleed_rate_increase (tuned - base), bleed_rate,
    copied_8gram_share, exact_continuation_rate, general_accuracy_drop (base - tuned),
    instruction_nll_increase (tuned / base - 1), length_factor (max(ratio, 1 / ratio)).
    """
    t = thresholds or Thresholds()

    def get(d: dict, key: str) -> float | None:
        value = d.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    bleed, base_bleed = get(metrics, "bleed_rate"), get(base, "bleed_rate")
    accuracy, base_accuracy = get(metrics, "general_accuracy"), get(base, "general_accuracy")
    nll, base_nll = get(metrics, "instruction_nll"), get(base, "instruction_nll")
    ratio = get(metrics, "length_median_ratio")
    candidates = [
        ("bleed", "bleed_rate_increase",
         None if bleed is None or base_bleed is None else bleed - base_bleed, t.bleed_increase),
        ("bleed", "bleed_rate", bleed, t.bleed_rate),
        ("verbatim", "copied_8gram_share", get(metrics, "copied_8gram_share"), t.copied_share),
        ("verbatim", "exact_continuation_rate", get(metrics, "exact_continuation_rate"), t.exact_continuation),
        ("task_collapse", "general_accuracy_drop",
         None if accuracy is None or base_accuracy is None else base_accuracy - accuracy, t.accuracy_drop),
        ("task_collapse", "instruction_nll_increase",
         None if nll is None or not base_nll else nll / base_nll - 1, t.nll_increase),
        ("length_drift", "length_factor",
         None if not ratio or ratio <= 0 else max(ratio, 1 / ratio), t.length_factor),
    ]
    return [{"flag": flag, "measure": measure, "fired": value > threshold, "value": value,
             "threshold": threshold, "advice": ADVICE[flag]}
            for flag, measure, value, threshold in candidates if value is not None]
