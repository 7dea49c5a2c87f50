"""The offline question writer: the answer's own noun phrases in phrasings per label, and its facts as questions.

For a segment, the sentences that say most (rare words, and for persona the first-person ones) are
tagged; their noun phrases become slots, ranked by how particular they are to this segment among
all of the workspace's segments, so a question points at its own answer ("How does the modulo
operator work?", not "Can you explain strips?"). Each question uses a different phrase and a
different phrasing. Fact pairs come from first-person sentences of persona segments that state
something specific; see `fact_questions`.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from personatune.data import pos
from personatune.data.fact_questions import fact_questions
from personatune.data.lesson_questions import (
    definition_question,
    how_question,
    subject_question,
    use_question,
)
from personatune.data.question_forms import (
    SLOT_TEMPLATES,
    Slot,
    agree,
    slot,
    stance_question,
)
from personatune.data.retrieval import BM25, terms
from personatune.data.statement_questions import (
    FIRST_TO_SECOND,
    asked_in_text,
    statement_question,
    title_question,
)

# A title or an initial's full stop ends no sentence ("Mr. Covey", "St. Michael's", "Herr A. S.").
_TITLES = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Prof", "Rev", "Capt", "Col", "Gen", "Lt", "Mt", "vs", "etc",
           "No", "Vol", "Fig")
SENTENCE_BREAK = re.compile("".join(rf"(?<!\b{t}\.)" for t in _TITLES) + r"(?<!\b[A-Z]\.)(?<=[.!?])[\"')\]]*\s+"
                       r"(?=[\"'(\[]?[A-Z0-9])|\n+")
_WHOLE = re.compile(r"^[\"'(\[*_]*[A-Z0-9].*[.!?][\"')\]*_]*$", re.S)  # starts and ends like a sentence
_LESSON = re.compile(r"^(?:To \w+|(?:If|When) you (?:want|need) to|The \w+ way to)|^[^,.]{3,60}? (?:is|are) "
                     r"(?:a|an|the|one|basically|just|simply|used|important|\w+er than) |^[^,.]{3,60}? (?:lets|let|"
                     r"allows?|means?|matters?) |\b(?:I|we) use", re.I)
_MID_SENTENCE_WORD = re.compile(r"(?<=[\w,;)] )([A-Za-z][\w'’-]*[a-z][\w'’-]*)")
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|mine|we|our|us)\b")
# What a word on its own says it is, when it cannot sit inside a noun phrase (participles can: "sanded wood").
NOT_IN_PHRASES = {"VB", "VBD", "VBZ", "VBP", "MD", "RB", "RBR", "RBS", "IN", "TO", "PRP", "WDT", "WP", "WRB", "CC",
                  "UH", "EX"}
TAG_BUDGET = 60  # words tagged per segment for slots (the tagger reads ~30k words/s)
STATEMENT_WORDS = 120  # words of a segment's opening read for statements asked back


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_BREAK.split(text) if s and s.strip()]


@dataclass(frozen=True)
class Fact:
    """One sentence's fact: the questions it answers (oversampled copies take them in turn) and the answer."""

    questions: list[str]
    answer: str
    sentence: int


class TemplateBackend:
    """Offline and deterministic; `idf` comes from every labelled segment of the workspace."""

    name = "template"

    def __init__(self, texts: Sequence[str], seed: int = 0, person: str = "", index: BM25 | None = None,
                 slot_labels: Sequence[str] = ()):
        self.index = index or BM25(texts)
        self.texts = texts
        self.seed = seed
        self.slot_labels = set(slot_labels)
        self.tagger = pos.load()
        self.person = {w.lower() for w in re.findall(r"\w+", person) if len(w) > 2}
        self._slots: dict[str, list[Slot]] = {}
        self._tags: dict[str, list[pos.Token]] = {}
        self._names: set[str] | None = None
        self._lower: Counter[str] = Counter()
        self._read: dict[str, list[str]] = {}

    def tag(self, sentence: str) -> list[pos.Token]:
        """Tags of a sentence, once: slots, facts, stances and lessons all read the same sentences."""
        if sentence not in self._tags:
            if len(self._tags) > 50_000:
                self._tags.clear()
            tokens = self.tagger.tag(sentence)
            first = next((k for k, t in enumerate(tokens) if t.text[:1].isalpha()), None)
            if first is not None and first <= 2 and tokens[first].tag in pos.PROPER and \
                    tokens[first].text[:1].isupper() and not self.is_name(tokens[first].text):  # "Finishing is"
                raw = [t.text.lower() if k == first else t.text for k, t in enumerate(tokens)]
                tokens = [pos.Token(t.text, t.start, t.end, tag) for t, tag in zip(tokens, self.tagger.tag_words(raw))]
            self._tags[sentence] = [pos.Token(t.text, t.start, t.end, "NNP") if t.text.islower() and t.tag in
                                    ("NN", "NNS", "JJ") and t.text in self.names() else t for t in tokens]
        return self._tags[sentence]

    def names(self) -> set[str]:
        """Words the archive itself writes as names: unknown to the tagger's lexicon (no common English word) and
        capitalised in mid-sentence at least once, and at least a fifth of the times they occur there. Restored
        captions lose the case of some names ("I live in duluth"); elsewhere in the same archive the person's
        blog or a better caption writes "Duluth", and the tagger is told so."""
        if self._names is None:
            upper: Counter[str] = Counter()
            lower: Counter[str] = Counter()
            for text in self.texts:
                for m in _MID_SENTENCE_WORD.finditer(text):
                    word = m.group(1)
                    (upper if word[0].isupper() else lower)[word.lower()] += 1
            self._lower = lower
            self._names = {w for w, n in upper.items() if 5 * n >= n + lower[w] and "'" not in w and "’" not in w
                           and self.tagger.lexical_tag(w) is None}
        return self._names

    def is_name(self, word: str) -> bool:
        """Capitalised mid-sentence in the archive, or unknown to the tagger's lexicon and never written in lower
        case mid-sentence ("grain", "finishing" are capitalised only where a sentence starts); "C", "R" are."""
        low = word.lower()
        if len(word) == 1:
            return word.isupper() and word not in ("A", "I")
        return low in self.names() or (word[:1].isupper() and self.tagger.lexical_tag(low) is None
                                       and not self._lower[low])

    def title_topic(self, title: str) -> str | None:
        """A title that names a topic ("My experiences at FOSDEM", "Configuring aerc for git via email") as the
        topic a reader asks about ("your experiences at FOSDEM"); a claim, a command, a list of contents, a date
        or a quotation is no topic. Quoted as a title, readers did not agree it is a question anyone asks."""
        title = " ".join(title.split()).rstrip(".!")
        if not 2 <= len(title.split()) <= 8 or re.search(r"[\d:,;&|()\"“”?!]| - ", title):
            return None
        tokens = self.tag(title)
        if any(t.tag in ("VBZ", "VBP", "VBD", "MD") for t in tokens) or tokens[0].tag in ("VB", "IN", "WRB", "WP") or \
                tokens[-1].tag not in pos.NOUNS:
            return None
        words = [FIRST_TO_SECOND.get(t.text.lower(), t.text) if t.tag.startswith("PRP") else t.text for t in tokens]
        topic = " ".join(words)
        named = tokens[0].tag in pos.PROPER and self.is_name(tokens[0].text)
        return topic if named else topic[:1].lower() + topic[1:]

    def idf(self, term: str) -> float:
        return math.log(1 + self.index.n / (1 + self.index.df(term)))

    def known(self, word: str) -> bool:
        """A verb, by the tagger's own lexicon."""
        return (self.tagger.lexical_tag(word) or "").startswith("VB")

    def focus(self, text: str, persona: bool) -> list[str]:
        """The sentences worth tagging: most distinctive first, first-person ones first for persona."""
        found = sentences(text)

        def weight(s: str) -> float:
            words = terms(s)
            score = sum(self.idf(w) for w in set(words)) / math.sqrt(len(words) + 1)
            return score + (5.0 if persona and _FIRST_PERSON.search(s) else 0.0)

        chosen, budget = [], TAG_BUDGET
        for s in sorted(found, key=weight, reverse=True):
            if budget <= 0:
                break
            chosen.append(s)
            budget -= len(s.split())
        return chosen

    def slots(self, segment: dict) -> list[Slot]:
        key = segment["segment_id"]
        if key not in self._slots:
            persona = segment["label"] == "persona"
            text = segment["text"]
            counts = Counter(re.findall(r"[\w'’+#.-]+", text.lower()))
            scored: dict[str, tuple[float, Slot]] = {}
            first = next(iter(sentences(text)), "")
            for sentence in self.focus(text, persona):
                tokens = self.tag(sentence)
                for phrase in pos.noun_phrases(tokens, sentence):
                    s = slot(phrase)
                    if s is None or s.head in self.person or any(w.lower() in self.person for w in s.text.split()):
                        continue
                    if self.tagger.lexical_tag(s.head) not in (None, "NN", "NNS", "NNP", "NNPS"):
                        continue  # "fourteen", "diverse", "unlock": the head is not a noun, whatever the context said
                    if any(self.tagger.lexical_tag(t.text) in NOT_IN_PHRASES or t.text.lower() in ("been", "being")
                           for t in phrase.tokens if t.tag not in ("DT", "PRP$", "PDT", "POS")):
                        continue  # a verb or a function word swallowed by a mis-tagged phrase ("had previous coding")
                    words = [w for w in terms(s.text)]
                    if not words:
                        continue
                    if not s.proper and not self.is_topic(phrase, words, counts[s.head] + counts[s.head + "s"]):
                        continue
                    particular = sum(self.idf(w) for w in words) / len(words)
                    mentions = max(1, counts[s.head] + counts[s.head + "s"])
                    score = particular * (1 + math.log(mentions)) * (1.3 if len(words) > 1 else 1.0)
                    if mentions < 2 and not (s.proper or sentence == first):
                        score *= 0.3  # mentioned in passing: the answer is probably not about it
                    score *= 1.2 if s.proper else 1.0
                    if s.head not in scored or scored[s.head][0] < score:
                        scored[s.head] = (score, s)
            self._slots[key] = [s for _, s in sorted(scored.values(), key=lambda t: (-t[0], t[1].text))]
        return self._slots[key]

    def is_topic(self, phrase: pos.Phrase, words: list[str], mentions: int) -> bool:
        """Would a reader know what the phrase means without the passage? "the same reaction", "a helpful
        leg-up" and "the parameters" point back into the text; a topic recurs: the passage returns to it,
        or its words meet again in other segments of the archive."""
        elsewhere = self.cooccurrences(words)
        definite = phrase.determiner in ("the", "this", "that", "these", "those", "such") and \
            not any(t.text.lower() == "of" for t in phrase.tokens)
        if definite or len(words) == 1:
            return mentions >= 2 and elsewhere >= 2
        return elsewhere >= 2

    def cooccurrences(self, words: list[str]) -> int:
        """In how many segments all the words occur (an upper bound on the phrase's own count)."""
        import numpy as np

        docs = None
        for word in set(words):
            posting = self.index.postings.get(word)
            if posting is None:
                return 0
            docs = posting[0] if docs is None else np.intersect1d(docs, posting[0], assume_unique=True)
        return 0 if docs is None else len(docs)

    def propose(self, segment: dict, n: int, attempt: int) -> list[str]:
        kind = segment.get("subtype") if segment["label"] == "persona" else "instructional"
        read = self.read_off_sentences(segment, kind)
        if read:
            # Questions read off the person's own sentences are rated far better than any phrase in a template
            # (bench/pair_quality.py); a segment that has them gets no template questions at all, and each
            # round offers the next ones.
            return read[attempt * n:(attempt + 1) * n]
        if segment["label"] not in self.slot_labels:
            topic = self.title_topic(segment.get("title") or "") if segment["label"] == "persona" else None
            return [f"Can you tell me about {topic}?"] if topic and attempt == 0 else []
        templates = SLOT_TEMPLATES.get(kind or "story", SLOT_TEMPLATES["story"])[:]
        random.Random(f"{self.seed}:{segment['segment_id']}").shuffle(templates)
        out: list[str] = []
        slots = self.slots(segment)
        # Each round offers the next phrases, two per question wanted, each with its own phrasing.
        process = SLOT_TEMPLATES["process"]
        for k, s in enumerate(slots[attempt * 2 * n:(attempt + 1) * 2 * n]):
            # "mixing shellac" is a process to walk through, not a thing that works
            forms = process if kind == "instructional" and s.head.endswith("ing") and not s.proper else templates
            form = forms[(k + attempt) % len(forms)]
            if s.proper and form.endswith("work?"):
                form = forms[(k + attempt + 1) % len(forms)]  # "How does Mark Zuckerberg work?"
            out.append(agree(form, s))
        return out

    def read_off_sentences(self, segment: dict, kind: str) -> list[str]:
        """Every question read off the segment's own sentences, best first: facts for background and stories,
        stances, lessons, then statements asked back (sentence tags are cached, so a later round costs
        nothing)."""
        key = segment["segment_id"]
        if key not in self._read:
            if kind in ("background", "story"):
                found = [f.questions[0] for f in self.facts(segment, 6)]  # "Where did you grow up?"
            elif segment["label"] == "persona":
                found = self.stances(segment, 6) + self.lessons(segment, 6)
            else:
                found = self.lessons(segment, 6)
            found += self.statements(segment)
            titled = title_question(segment.get("title") or "")
            if titled and not any(w.lower() in self.person for w in re.findall(r"\w+", titled)):
                found.append(titled)  # the question its post asks, last: it fits the passage less closely
            self._read[key] = list(dict.fromkeys(found))
        return self._read[key]

    def statements(self, segment: dict) -> list[str]:
        """Yes/no questions from the segment's opening sentences (`STATEMENT_WORDS` words, or further while
        none is found), the earliest and most particular first: a passage's first sentences say what it is
        about."""
        scored: list[tuple[float, str]] = []
        budget = STATEMENT_WORDS
        persona = segment["label"] == "persona"
        parts = sentences(segment["text"])
        for number, sentence in enumerate(parts):
            if budget <= 0 and scored:
                break  # the opening has questions; the rest is read only when it has none
            budget -= len(sentence.split())
            if not _WHOLE.match(sentence):
                continue
            if sentence.endswith("?"):
                asked = asked_in_text(self.tag(sentence)) if number + 1 < len(parts) else None
                if asked and not any(w.lower() in self.person for w in re.findall(r"\w+", asked)):
                    scored.append((100.0 / (1 + number), asked))  # the person's own question: the best there is
                continue
            question = statement_question(self.tag(sentence), sentence, self.known, self.is_name)
            if question is None or any(w.lower() in self.person for w in re.findall(r"\w+", question)):
                continue
            about_them = bool(re.match(r"^\w+ you\b", question))
            if about_them and not persona:
                continue  # "Did you tilt the gauge forward?": a lesson narrating its own steps, no one's question
            words = terms(question)
            particular = sum(self.idf(w) for w in words) / max(1, len(words))
            weight = 1.3 if about_them else 1.0  # about the person, first in a persona segment
            scored.append((weight * particular / (1 + 0.15 * number), question))
        return [q for _, q in sorted(scored, key=lambda t: -t[0])]

    def stances(self, segment: dict, limit: int) -> list[str]:
        """Questions about what the person says they think, love or recommend, from their own sentences."""
        out: list[str] = []
        for sentence in sentences(segment["text"])[:40]:
            if not re.search(r"\bI\b", sentence):
                continue
            tokens = self.tag(sentence)
            question = stance_question(tokens, sentence, pos.noun_phrases(tokens, sentence))
            if question and re.search(r" (?:about|on|with) the [a-z]+\?$", question):
                continue  # "What do you think about the reason?": which reason?
            if question and question not in out:
                out.append(question)
                if len(out) == limit:
                    break
        return out

    def lessons(self, segment: dict, limit: int) -> list[str]:
        """How-to and what-is questions read off the segment's teaching sentences."""
        out: list[str] = []
        for sentence in sentences(segment["text"])[:40]:
            if not _LESSON.match(sentence):
                continue
            tokens = self.tag(sentence)
            phrases = pos.noun_phrases(tokens, sentence)
            question = (how_question(tokens, sentence) or definition_question(tokens, phrases)
                        or subject_question(tokens, phrases) or use_question(tokens, sentence, phrases))
            if question and question not in out and not any(w in self.person for w in question.lower().split()):
                out.append(question[:1].upper() + question[1:])
                if len(out) == limit:
                    break
        return out

    def facts(self, segment: dict, limit: int) -> list[Fact]:
        """Specific first-person statements of a persona segment (`limit` sentences at most), each with the
        questions it answers: "I was born in Gdańsk in 1987." answers where, when and what year."""
        found: list[Fact] = []
        asked: set[str] = set()
        parts = sentences(segment["text"])
        for number, sentence in _stated(parts):
            facts = [a for a in fact_questions(self.tag(sentence), sentence, self.known) if a.question not in asked]
            if not facts:
                continue
            questions = list(dict.fromkeys(q for a in facts for q in (a.question, *a.also) if q not in asked))
            asked.update(questions)
            found.append(Fact(questions, _answer(parts, number, any(a.points_back for a in facts)), number))
            if len(found) == limit:
                return found
        return found + self._statement_facts(parts, {f.sentence for f in found}, asked, limit - len(found))

    def _statement_facts(self, parts: list[str], used: set[int], asked: set[str], limit: int) -> list[Fact]:
        """The person's present-tense statements about themselves that no wh-question reads, asked back as
        yes/no questions and answered by the sentence ("I write every script on index cards, one card per step."
        answers "Do you write every script on index cards?"): a way in to each habit, tool or view the segment
        states. A past event asked back ("Did you create an account?") was rated natural 1 time in 8: only the
        answer knows which event, so none is asked (`bench/data/facts/ratings/*-statements.jsonl`)."""
        found: list[Fact] = []
        for number, sentence in _stated(parts):
            if len(found) >= limit:
                break
            if number in used or sentence.endswith("?"):
                continue
            question = statement_question(self.tag(sentence), sentence, self.known, self.is_name)
            if question is None or question in asked or not re.match(r"^(?:Do|Does|Are|Is) (?:you|your)\b", question) \
                    or any(w.lower() in self.person for w in re.findall(r"\w+", question)):
                continue
            asked.add(question)
            found.append(Fact([question], _answer(parts, number, False), number))
        return found


def _stated(parts: list[str]):
    """(number, sentence) of the whole first-person sentences of a segment that can answer on their own; a
    segment cut mid-sentence gives a fragment, no answer."""
    for number, sentence in enumerate(parts[:40]):
        if _FIRST_PERSON.search(sentence) and len(sentence.split()) <= 45 and _WHOLE.match(sentence):
            yield number, sentence


def _answer(parts: list[str], number: int, points_back: bool) -> str:
    """A fact's answer: its sentence, with the one before when the fact points back to it ("That was in 2008."),
    or the one after when the sentence alone is too short to stand."""
    if points_back and number > 0:
        return f"{_opening(parts[number - 1])} {parts[number]}"
    if len(parts[number].split()) < 8 and number + 1 < len(parts):
        return f"{_opening(parts[number])} {parts[number + 1]}"
    return _opening(parts[number])


def _opening(sentence: str) -> str:
    """The sentence as an answer's first words: a leading "And", "So" or "But" that ties it to the one before
    goes ("And I went looking for work in 2008." -> "I went looking for work in 2008.")."""
    trimmed = re.sub(r"^(?:And|So|But|Well|Now|Then|Also|Okay|OK)\b,?\s+(?=\w)", "", sentence)
    return trimmed[:1].upper() + trimmed[1:] if trimmed != sentence else sentence
