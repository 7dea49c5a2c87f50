"""chunk: split cleaned documents into sentence-aware segments of ~140 tokens of the base model's tokenizer.

Short examples train faster and give a sharper signal than long monologues (attention is n x n).
Unpunctuated auto-captions still get sensible boundaries from pauses and discourse markers. The
segments of a document, joined with spaces, give back its text exactly: nothing lost, nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from personatune import artifacts
from personatune.data.stage import StageContext
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 3  # 2: one speaker per segment; 3: a sentence leaning on the one before stays with it
_END = re.compile(r"[.!?][\"')\]]*$")
_DISCOURSE = {"so", "now", "okay", "ok", "alright", "next", "then", "first", "second", "third", "finally",
              "but", "because", "anyway", "and", "once", "if", "when", "after", "before", "let's", "here's",
              "that's", "this", "the", "you", "i", "i'm", "i've", "we", "we're", "it's", "what"}
# A sentence opening with one of these leans on the sentence before it.
LEANS_BACK = {"and", "but", "or", "nor", "so", "also", "plus", "because", "then", "which", "too", "either", "yet",
              "it", "it's", "this", "that", "that's", "these", "those", "they", "they're", "them", "he", "she", "his",
              "her", "its", "their", "there", "such", "still", "instead", "otherwise", "however", "though",
              "although", "besides", "hence", "thus", "therefore"}
_STRONG = {"so", "now", "okay", "ok", "alright", "next", "anyway", "finally", "first", "second", "third"}


@dataclass
class Settings(BaseSettings):
    target_tokens: int = setting(140, help="aim for segments of about this many tokens (base model tokenizer)")
    max_tokens: int = setting(200, help="hard upper bound; longer sentences are split at word boundaries")
    min_tokens: int = setting(40, help="a segment shorter than this is merged with its neighbour when possible")
    pause_seconds: float = setting(1.2, help="in unpunctuated captions, a gap this long starts a new sentence")
    max_sentence_words: int = setting(40, help="unpunctuated text is cut into pseudo-sentences of at most this many words")

    def problems(self) -> list[str]:
        out = []
        if not 0 < self.min_tokens <= self.target_tokens <= self.max_tokens:
            out.append("need 0 < min_tokens <= target_tokens <= max_tokens")
        if self.max_sentence_words < 5:
            out.append("max_sentence_words must be >= 5")
        return out


def is_punctuated(words: Sequence[str]) -> bool:
    ends = sum(1 for w in words if _END.search(w))
    return ends * 40 >= len(words)


def sentence_spans(words: Sequence[str], piece_of: Sequence[int], gaps: dict[int, float],
                   settings: Settings) -> list[tuple[int, int]]:
    """Word index ranges [start, end) of sentences covering `words` exactly once, in order."""
    if not words:
        return []
    spans = []
    start = 0
    punctuated = is_punctuated(words)
    for i in range(1, len(words)):
        length = i - start
        boundary = False
        if punctuated:
            boundary = bool(_END.search(words[i - 1])) and (words[i][:1].isupper() or words[i][:1].isdigit()
                                                           or words[i][:1] in "\"'(")
        else:
            new_piece = piece_of[i] != piece_of[i - 1]
            lower = words[i].lower().strip(",")
            if new_piece and gaps.get(i, 0.0) >= settings.pause_seconds and length >= 4:
                boundary = True
            elif length >= 8 and lower in _STRONG:
                boundary = True
            elif length >= settings.max_sentence_words // 2 and lower in _DISCOURSE:
                boundary = True
        if length >= settings.max_sentence_words * (3 if punctuated else 1):
            boundary = True
        if boundary:
            spans.append((start, i))
            start = i
    spans.append((start, len(words)))
    return spans


def pack(spans: list[tuple[int, int]], sizes: list[int], settings: Settings,
         split_long: Callable[[int, int], list[tuple[int, int]]],
         continues: Callable[[int], bool] = lambda start: False) -> list[tuple[int, int]]:
    """Greedy: fill up to the target, never past max; tiny tails join the previous segment, and so does a
    sentence that leans on the one before ("And that was...", "It still is.") while it fits under max:
    an answer that opens mid-thought is no answer."""
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(spans, sizes):
        if n > settings.max_tokens:
            units.extend((a, b, -1) for a, b in split_long(s, e))
        else:
            units.append((s, e, n))
    segments: list[list[int]] = []  # [start, end, tokens]
    for s, e, n in units:
        n = n if n >= 0 else settings.max_tokens
        if segments and (segments[-1][2] + n <= settings.target_tokens
                         or ((segments[-1][2] < settings.min_tokens or continues(s))
                             and segments[-1][2] + n <= settings.max_tokens)):
            segments[-1][1] = e
            segments[-1][2] += n
        else:
            segments.append([s, e, n])
    if len(segments) > 1 and segments[-1][2] < settings.min_tokens and \
            segments[-2][2] + segments[-1][2] <= settings.max_tokens:
        last = segments.pop()
        segments[-1][1] = last[1]
        segments[-1][2] += last[2]
    return [(s, e) for s, e, _ in segments]


def chunk_words(words: list[str], piece_of: list[int], gaps: dict[int, float], settings: Settings,
                count_tokens: Callable[[list[str]], list[int]]) -> list[tuple[int, int]]:
    spans = sentence_spans(words, piece_of, gaps, settings)
    sizes = count_tokens([" ".join(words[s:e]) for s, e in spans])

    def split_long(s: int, e: int) -> list[tuple[int, int]]:
        out = []
        step = max(1, int((e - s) * settings.target_tokens / max(1, count_tokens([" ".join(words[s:e])])[0])))
        for a in range(s, e, step):
            out.append((a, min(e, a + step)))
        return out

    punctuated = is_punctuated(words)  # a pseudo-sentence of raw captions opens with "and" all the time
    return pack(spans, sizes, settings, split_long,
                lambda start: punctuated and words[start].lower().strip("\"'(“‘,") in LEANS_BACK)


def document_words(doc: dict) -> tuple[list[str], list[int], dict[int, float]]:
    """A document's words, the piece each comes from, and the silence before each word that starts a
    timed piece (keyed by that word's index)."""
    words: list[str] = []
    piece_of: list[int] = []
    gaps: dict[int, float] = {}
    previous_end = None
    for index, p in enumerate(doc["pieces"]):
        piece_words = p["text"].split()
        if not piece_words:
            continue
        if previous_end is not None and p.get("start") is not None:
            gaps[len(words)] = p["start"] - previous_end
        previous_end = p.get("end")
        words.extend(piece_words)
        piece_of.extend([index] * len(piece_words))
    return words, piece_of, gaps


def voice_runs(pieces: list[dict]) -> list[list[dict]]:
    """Consecutive pieces of one speaker: a segment never mixes the person's words with another voice's."""
    runs: list[list[dict]] = []
    for p in pieces:
        if runs and runs[-1][-1].get("speaker") == p.get("speaker"):
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def chunk_document(doc: dict, settings: Settings, count_tokens: Callable[[list[str]], list[int]]) -> list[dict]:
    segments: list[dict] = []
    char = 0
    for run in voice_runs(doc["pieces"]):
        char = _chunk_run({**doc, "pieces": run}, settings, count_tokens, segments, char)
    return segments


def _chunk_run(doc: dict, settings: Settings, count_tokens: Callable[[list[str]], list[int]], segments: list[dict],
               char: int) -> int:
    words, piece_of, gaps = document_words(doc)
    for s, e in chunk_words(words, piece_of, gaps, settings, count_tokens):
        number = len(segments)
        text = " ".join(words[s:e])
        first, last = doc["pieces"][piece_of[s]], doc["pieces"][piece_of[e - 1]]
        segments.append({
            "segment_id": f"{doc['doc_id']}-{number:04d}",
            "doc_id": doc["doc_id"],
            "source": doc["source"],
            "title": doc.get("title"),
            "format": doc["format"],
            "index": number,
            "text": text,
            "words": e - s,
            "start": first.get("start"),
            "end": last.get("end"),
            "offset": first.get("offset"),
            "char_start": char,
            "char_end": char + len(text),
            **({"speaker": first["speaker"], "voice": first.get("voice", "person")} if first.get("speaker") else {}),
        })
        char += len(text) + 1
    return char


def token_counter(tokenizer) -> Callable[[list[str]], list[int]]:
    def count(texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    return count


def inputs(ws, settings: Settings) -> dict:
    return {"tokenizer": ws.base_model}


def run(ctx: StageContext, settings: Settings) -> dict:
    from personatune.registry import load_tokenizer

    documents = artifacts.read_jsonl(ctx.previous / "documents.jsonl")
    count = token_counter(load_tokenizer(ctx.ws.base_model))
    segments = []
    for doc in documents:
        segments.extend(chunk_document(doc, settings, count))
    for seg, n in zip(segments, count([s["text"] for s in segments])):
        seg["tokens"] = n
    artifacts.write_jsonl(ctx.out / "segments.jsonl", segments)
    tokens = sorted(s["tokens"] for s in segments)
    mid = tokens[len(tokens) // 2] if tokens else 0
    ctx.log(f"  {len(segments)} segments from {len(documents)} documents, median {mid} tokens")
    return {"documents": len(documents), "segments": len(segments), "tokens_total": sum(tokens),
            "tokens_median": mid, "tokens_min": tokens[0] if tokens else 0,
            "tokens_max": tokens[-1] if tokens else 0, "tokenizer": ctx.ws.base_model}
