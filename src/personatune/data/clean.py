"""clean: strip markup, timestamps and speaker tags, collapse rolling captions, drop fillers, boilerplate and duplicates.

Every removal is counted by reason in the report, with a few examples, so a user can see what a
pattern took out before trusting it.
"""

from __future__ import annotations

import html
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass

from personatune import artifacts
from personatune.data.near_duplicates import NearDuplicateIndex, normalized_words, shingles
from personatune.data.stage import StageContext
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 4  # 2: unpunctuated captions get punctuation and case restored; 3: markdown headings, footnotes; 4: images alone, entities
# A sentence matching one of these is dropped. Sponsor-read openers also drop the sentences after
# them up to the call to action ("use code ...", "link below"), since a read spans several sentences.
DEFAULT_BOILERPLATE = [
    r"\blike and subscribe\b", r"\bhit (?:that|the) (?:like|subscribe|bell|notification)",
    r"\bsmash (?:that|the) like\b", r"\b(?:hit|click|press) subscribe\b", r"\bnotification bell\b",
    r"\bthanks for watching\b", r"\bsee you (?:in the next|next time|next week|in the comments)\b",
    r"\buntil next time\b", r"\bpromo code\b", r"\buse (?:the )?code\b", r"\b\d+ ?(?:%|percent) off\b",
    r"\blinks? (?:is |are )?(?:down )?(?:below|in the description)\b",
]
DEFAULT_SPONSOR_OPENERS = [
    r"\b(?:sponsored by|today's sponsor|our sponsor|word from (?:today's |our )?sponsor|brought to you by)\b",
    r"\bthanks to [\w.&' -]{2,40} for sponsoring\b",
]
SPONSOR_CALL_TO_ACTION = re.compile(r"\b(?:code|link|description|percent off|% off|check (?:them|it) out|"
                                    r"discount|free shipping|dot com|\.com)\b", re.I)
TIMED_FORMATS = {"vtt", "srt", "youtube", "whisper"}

_INLINE_TIME = re.compile(r"<\d{1,2}:\d{2}(?::\d{2})?[.,]\d{1,3}>")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_SOUND = re.compile(r"\[(?:music|applause|laughter|laughs|inaudible|silence|noise|__)[^\]]*\]|\((?:music|applause|laughs?)\)", re.I)
_BRACKET_TIME = re.compile(r"[\[(]\s*\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\s*[\])]")
# ">>", "- ", "SPEAKER 1:", "MARTA:" at a line start; a plain "Note:" is left alone.
_SPEAKER = re.compile(r"^\s*(?:>>+\s*|-\s+|(?:(?:[Ss]peaker|SPEAKER)\s*\d+|[A-Z][A-Z.'-]+(?:\s[A-Z][A-Z.'-]+){0,2})\s*:\s+)")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_IMAGES_ONLY = re.compile(r"^\s*(?:\[?!\[[^\]]*\]\([^)]*\)(?:\]\([^)]*\))?\s*)+$")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_MARK = re.compile(r"(\*\*|__|\*|`)")
# A heading is a title, not a sentence: fused into the next paragraph it reads "Layers The OSI model is ...".
_MD_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+.*$|^[^\n]+\n(?:=+|-{2,})[ \t]*$", re.M)
_MD_FOOTNOTE = re.compile(r"\[\^[^\]]+\]:?")
_MD_LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M)
_MD_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)", re.M)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$", re.M)
_FILLER = re.compile(r"(?:(?<=^)|(?<=[\s,.;!?]))(?:um+|uh+m?|erm+|hmm+)(?=$|[\s,.;!?])[,]?", re.I)
_YOU_KNOW = re.compile(r"(,\s*)?(?<!\bdo\s)(?<!\bdid\s)(?<!\bif\s)(?<!\bas\s)(?<!\bwhat\s)\byou know\b(\s*,)?(?!\s+(?:what|how|why|when|where|who|which|that|this|if|"
                       r"the|a|an|it|its|it's|him|her|them|me|us|about|more|less|each|everything|nothing|"
                       r"exactly|enough))", re.I)
_STUTTER = re.compile(r"\b([A-Za-z']+(?:\s+[A-Za-z']+)?)(?:[\s,]+\1\b)+", re.I)
_STUTTER_KEEP = {"that", "had", "very", "bye", "no", "knock", "ha", "really", "many", "far", "long"}
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
                         "\u200b": "", "\u200c": "", "\u200d": "", "\ufeff": ""})


@dataclass
class Settings(BaseSettings):
    remove_fillers: bool = setting(True, help='drop "um", "uh", filler "you know" and stutters like "I I I"')
    collapse_rolling_captions: bool = setting(True, help="remove words a caption cue repeats from the cue before")
    boilerplate_patterns: list[str] = setting(default_factory=lambda: list(DEFAULT_BOILERPLATE),
                                              help="regexes (case-insensitive); a sentence matching one is "
                                                   "dropped (sponsor reads, subscribe outros)")
    extra_boilerplate: list[str] = setting(default_factory=list,
                                           help="more regexes added to boilerplate_patterns")
    sponsor_openers: list[str] = setting(default_factory=lambda: list(DEFAULT_SPONSOR_OPENERS),
                                         help="regexes that open a sponsor read; it is dropped up to its call "
                                              "to action (at most sponsor_max_sentences)")
    sponsor_max_sentences: int = setting(5, help="longest sponsor read removed after an opener")
    dedup: bool = setting(True, help="drop exact and near-duplicate passages across the archive (MinHash-LSH)")
    dedup_threshold: float = setting(0.7, help="Jaccard similarity of word 3-grams above which a passage is a "
                                               "near-duplicate of an earlier one")
    dedup_block_words: int = setting(60, help="consecutive pieces are grouped into passages of about this "
                                              "many words for duplicate detection")
    min_piece_chars: int = setting(2, help="pieces shorter than this after cleaning are dropped")
    restore_punctuation: bool = setting(True, help="give unpunctuated captions sentence punctuation and "
                                                   "capitals (only marks and letter case change, never the words)")

    def problems(self) -> list[str]:
        out = []
        if not 0 < self.dedup_threshold <= 1:
            out.append("dedup_threshold must be in (0, 1]")
        for pattern in self.boilerplate_patterns + self.extra_boilerplate + self.sponsor_openers:
            try:
                re.compile(pattern)
            except re.error as exc:
                out.append(f"boilerplate pattern {pattern!r} is not a valid regex ({exc})")
        return out


class Cleaner:
    """The per-piece cleaning steps; counts what each step removed."""

    def __init__(self, settings: Settings):
        self.settings = settings
        patterns = settings.boilerplate_patterns + settings.extra_boilerplate
        self.boilerplate = re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
        openers = settings.sponsor_openers
        self.sponsor = re.compile("|".join(f"(?:{p})" for p in openers), re.I) if openers else None
        self.counts: Counter = Counter()
        self.examples: dict[str, list[str]] = {}

    def _note(self, reason: str, removed: str, words: int | None = None) -> None:
        words = len(removed.split()) if words is None else words
        if words:
            self.counts[reason] += words
            bucket = self.examples.setdefault(reason, [])
            if len(bucket) < 5 and removed.strip() not in bucket:
                bucket.append(removed.strip()[:160])

    def _sub(self, pattern: re.Pattern, repl, text: str, reason: str) -> str:
        def replace(match: re.Match) -> str:
            new = repl(match) if callable(repl) else match.expand(repl)
            dropped = len(match.group(0).split()) - len(new.split())
            if dropped > 0:
                self._note(reason, match.group(0), dropped)
            return new
        return pattern.sub(replace, text)

    def strip_markup(self, text: str, fmt: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
        text = _INLINE_TIME.sub("", text)
        text = self._sub(_TAG, "", text, "markup")
        text = self._sub(_SOUND, "", text, "sound_tags")
        text = self._sub(_BRACKET_TIME, "", text, "timestamps")
        if fmt == "markdown":
            if _MD_IMAGES_ONLY.match(text):
                self._note("images", text)
                return ""  # a picture's alt text is no sentence: fused to the next paragraph it breaks one
            text = html.unescape(text)  # "&mdash;" as the writer meant it
            text = self._sub(_MD_HEADING, "", text, "headings")
            text = self._sub(_MD_LINK_DEFINITION, "", text, "link_definitions")
            text = self._sub(_MD_FOOTNOTE, "", text, "footnote_marks")
            text = _TABLE_RULE.sub("", text)
            text = _MD_IMAGE.sub(r"\1", text)
            text = _MD_LINK.sub(r"\1", text)
            text = _MD_LINE_PREFIX.sub("", text)
            text = _MD_MARK.sub("", text)
            text = text.replace("|", " ")
        if fmt != "markdown":
            text = "\n".join(self._sub(_SPEAKER, "", line, "speaker_tags") for line in text.split("\n"))
        return " ".join(text.split())

    def remove_fillers(self, text: str) -> str:
        text = self._sub(_FILLER, "", text, "fillers")
        text = self._sub(_YOU_KNOW, lambda m: "," if (m.group(1) and m.group(2)) else "", text, "fillers")

        def stutter(match: re.Match) -> str:
            if match.group(1).lower() in _STUTTER_KEEP:
                return match.group(0)
            return match.group(1)
        text = self._sub(_STUTTER, stutter, text, "stutters")
        text = re.sub(r"\s+([,.;!?])", r"\1", text)
        text = re.sub(r",\s*([,.;!?])", r"\1", text)
        text = re.sub(r"^[,;\s]+", "", text)
        return " ".join(text.split())

    def boilerplate_spans(self, sentences: list[str], reach: int = 0) -> set[int]:
        """Indexes of sentences to drop: boilerplate lines and whole sponsor reads."""
        drop: set[int] = set()
        i = 0
        while i < len(sentences):
            sentence = sentences[i]
            if self.sponsor and self.sponsor.search(sentence):
                end = i
                for j in range(i, min(len(sentences), i + (reach or self.settings.sponsor_max_sentences))):
                    if SPONSOR_CALL_TO_ACTION.search(sentences[j]):
                        end = j
                        break
                drop.update(range(i, end + 1))
                i = end + 1
                continue
            if self.boilerplate and self.boilerplate.search(sentence):
                drop.add(i)
            i += 1
        return drop

    def remove_boilerplate(self, pieces: list[dict]) -> list[dict]:
        """Sentence-level removal across pieces: a caption sentence often spans several cues."""
        from personatune.data.chunk import is_punctuated

        joined, bounds = [], []
        position = 0
        for p in pieces:
            bounds.append((position, position + len(p["text"])))
            joined.append(p["text"])
            position += len(p["text"]) + 1
        text = " ".join(joined)
        punctuated = is_punctuated(text.split())
        if punctuated:
            spans, start = [], 0
            for match in _SENTENCE_SPLIT.finditer(text):
                spans.append((start, match.start()))
                start = match.end()
            spans.append((start, len(text)))
        else:
            spans = bounds  # unpunctuated captions: each cue line is the unit
        sentences = [text[a:b] for a, b in spans]
        # A caption line is about a third of a sentence, so a read reaches over more of them.
        reach = self.settings.sponsor_max_sentences * (1 if punctuated else 2)
        drop = self.boilerplate_spans(sentences, reach)
        if not drop:
            return pieces
        for index in sorted(drop):
            self._note("sponsor_and_outro", sentences[index])
        cut = [spans[i] for i in sorted(drop)]
        out = []
        for p, (a, b) in zip(pieces, bounds):
            keep, cursor = [], a
            for x, y in cut:
                if y <= cursor or x >= b:
                    continue
                keep.append(text[cursor:max(cursor, x)])
                cursor = max(cursor, min(y, b))
            keep.append(text[cursor:b])
            new = " ".join("".join(keep).split())
            if new:
                out.append({**p, "text": new})
        return out


def collapse_rolling(pieces: list[dict], cleaner: Cleaner) -> list[dict]:
    """Auto-captions repeat the previous line at the start of each cue; keep each word once."""
    out: list[dict] = []
    tail: list[str] = []  # normalized recent words already emitted
    for p in pieces:
        words = p["text"].split()
        norm = [w.lower().strip(",.?!;:\"'") for w in words]
        overlap = 0
        for k in range(min(len(norm), len(tail)), 0, -1):
            if norm[:k] == tail[-k:] and (k >= 2 or k == len(norm)):
                overlap = k
                break
        if overlap:
            cleaner._note("caption_duplication", " ".join(words[:overlap]))
        rest = words[overlap:]
        if rest:
            out.append({**p, "text": " ".join(rest)})
            tail = (tail + norm[overlap:])[-40:]
    return out


def dedup_documents(documents: list[dict], settings: Settings, cleaner: Cleaner) -> dict:
    """Drop passages that repeat earlier ones (exactly or nearly), e.g. the same video uploaded twice."""
    index = NearDuplicateIndex(threshold=settings.dedup_threshold)
    exact: dict[str, str] = {}
    stats = Counter()
    for doc in documents:
        blocks: list[list[int]] = [[]]
        words = 0
        for i, p in enumerate(doc["pieces"]):
            blocks[-1].append(i)
            words += len(p["text"].split())
            if words >= settings.dedup_block_words:
                blocks.append([])
                words = 0
        if len(blocks) > 1 and len(blocks[-1]) and sum(len(doc["pieces"][i]["text"].split()) for i in blocks[-1]) < settings.dedup_block_words // 2:
            blocks[-2].extend(blocks.pop())
        drop: set[int] = set()
        for number, block in enumerate(b for b in blocks if b):
            words_list = normalized_words(" ".join(doc["pieces"][i]["text"] for i in block))
            if len(words_list) < 8:
                continue
            key = f"{doc['doc_id']}:{number}"
            digest = artifacts.sha256_text(" ".join(words_list))
            if digest in exact:
                stats["exact_duplicate_passages"] += 1
                drop.update(block)
                continue
            exact[digest] = key
            if index.check_and_add(key, shingles(words_list)) is not None:
                stats["near_duplicate_passages"] += 1
                drop.update(block)
        if drop:
            for i in sorted(drop):
                cleaner._note("duplicates", doc["pieces"][i]["text"])
            doc["pieces"] = [p for i, p in enumerate(doc["pieces"]) if i not in drop]
            if not doc["pieces"]:
                stats["duplicate_documents"] += 1
    return dict(stats)


def clean_document(doc: dict, settings: Settings, cleaner: Cleaner) -> dict:
    pieces = []
    for p in doc["pieces"]:
        text = cleaner.strip_markup(p["text"], doc["format"])
        if text:
            pieces.append({**p, "text": text})
    if settings.collapse_rolling_captions and doc["format"] in TIMED_FORMATS:
        pieces = collapse_rolling(pieces, cleaner)
    if settings.remove_fillers:
        pieces = [{**p, "text": cleaner.remove_fillers(p["text"])} for p in pieces]
    pieces = cleaner.remove_boilerplate([p for p in pieces if p["text"]])
    return {**doc, "pieces": [p for p in pieces if len(p["text"]) >= settings.min_piece_chars]}


def restore_documents(documents: list[dict], log) -> dict:
    """Punctuate and case every unpunctuated document in place, with the casing of names and tools
    learned from the person's own punctuated documents; the words of every piece stay as they were."""
    from personatune.data.chunk import document_words, is_punctuated
    from personatune.data.punctuate import learn_casing, pauses_after, restore

    plain, casing_texts = [], []
    for doc in documents:
        words, piece_of, gaps = document_words(doc)
        if is_punctuated(words):
            casing_texts.append(" ".join(words))
        else:
            plain.append((doc, words, piece_of, gaps))
    if not plain:
        return {"punctuation_restored": {"documents": 0, "words": 0}}
    casing = learn_casing(casing_texts)
    started, words_total, example = time.perf_counter(), 0, None
    for doc, words, piece_of, gaps in plain:
        new = restore(words, pauses_after(len(words), gaps), casing=casing)
        if example is None:
            example = {"title": doc.get("title"), "before": " ".join(words[:40]), "after": " ".join(new[:40])}
        by_piece: dict[int, list[str]] = {}
        for word, index in zip(new, piece_of):
            by_piece.setdefault(index, []).append(word)
        for index, piece_words in by_piece.items():
            doc["pieces"][index]["text"] = " ".join(piece_words)
        words_total += len(words)
    seconds = time.perf_counter() - started
    log(f"  restored punctuation and case in {len(plain)} unpunctuated documents ({words_total} words, "
        f"{seconds:.1f} s)")
    return {"punctuation_restored": {"documents": len(plain), "words": words_total,
                                     "casing_forms_learned": len(casing), "example": example}}


def run(ctx: StageContext, settings: Settings) -> dict:
    documents = artifacts.read_jsonl(ctx.previous / "documents.jsonl")
    cleaner = Cleaner(settings)
    words_before = sum(len(p["text"].split()) for d in documents for p in d["pieces"])
    cleaned = [clean_document(doc, settings, cleaner) for doc in documents]
    dedup_stats = dedup_documents(cleaned, settings, cleaner) if settings.dedup else {}
    kept = [d for d in cleaned if d["pieces"]]
    restored = restore_documents(kept, ctx.log) if settings.restore_punctuation else {}
    words_after = sum(len(p["text"].split()) for d in kept for p in d["pieces"])
    artifacts.write_jsonl(ctx.out / "documents.jsonl", kept)
    removed = dict(sorted(cleaner.counts.items()))
    ctx.log(f"  {words_before} -> {words_after} words; removed by reason: "
            + ", ".join(f"{k} {v}" for k, v in removed.items()))
    return {"documents_in": len(documents), "documents_out": len(kept), "words_in": words_before,
            "words_out": words_after, "removed_words_by_reason": removed, **dedup_stats, **restored,
            "examples": cleaner.examples}
