"""label's learned pass: a small classifier, trained on real people's archives, scores every segment.

Cue phrases find a person's biography only when it is phrased the way the cue lists expect. The
classifier instead reads the *shape* of a passage, which carries across people and domains: its
closed-class words and part-of-speech sequence ("when I VBD", "my NN", "I MD never") as hashed
uni- and bigrams, its first-person, "you" and "we" rates, and the cue pass's own scores. Topic words
(clamps, monads, dividends) are reduced to their part of speech, so nothing ties it to one field.

The weights ship with the package (`label_model.npz`, trained by `tools/train_labeller.py` on the
hand-labelled corpus in `bench/data/labels/`); a workspace's own decisions (review, overrides)
adapt them for that archive (`adapt`), pulled toward the shipped weights so a few decisions move
the boundary without forgetting what the corpus taught.
"""

from __future__ import annotations

import io
import math
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from personatune.data import pos

HASH_DIM = 1 << 13
CLOSED_TAGS = frozenset({"PRP", "PRP$", "DT", "IN", "MD", "CC", "WDT", "WP", "WP$", "WRB", "TO", "EX", "PDT", "RP",
                         "UH", "POS"})
DENSE = ("first person rate", "you rate", "we rate", "cue score", "instruction cues", "length", "cue pass score",
         "cue pass says persona")
MODEL_FILE = "label_model.npz"
_FIRST = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|mine|myself)\b", re.I)
_YOU = re.compile(r"\b(?:you|your|you're|yours)\b", re.I)
_WE = re.compile(r"\b(?:we|our|us)\b", re.I)
_TAG_WORDS = {"VBD": "past-tense verb", "VBN": "participle", "VBG": "-ing verb", "VBZ": "verb", "VBP": "verb",
              "VB": "verb", "NN": "noun", "NNS": "noun", "NNP": "name", "NNPS": "name", "JJ": "adjective",
              "JJR": "adjective", "JJS": "adjective", "RB": "adverb", "RBR": "adverb", "CD": "number"}


def shape_sequence(tokens: list[pos.Token]) -> list[str]:
    """Closed-class words as themselves, every other word as its part of speech."""
    return [t.text.lower() if t.tag in CLOSED_TAGS else t.tag for t in tokens if t.tag not in (",", ".", ":")]


def grams(sequence: list[str]) -> list[str]:
    return sequence + [f"{a} {b}" for a, b in zip(sequence, sequence[1:])]


def _slot(gram: str) -> int:
    return zlib.crc32(gram.encode()) % HASH_DIM


def dense_features(text: str, cues: dict, cue_score: float, cue_persona: bool) -> list[float]:
    words = max(1, len(text.split()))
    return [len(_FIRST.findall(text)) / words * 10, len(_YOU.findall(text)) / words * 10,
            len(_WE.findall(text)) / words * 10, min(3.0, cues["lexical"]), min(3.0, cues["instruction"]),
            math.log(words) / 5, cue_score, float(cue_persona)]


def shape_sequences(texts: list[str]) -> list[list[str]]:
    tagger = pos.load()
    return [shape_sequence(tagger.tag(text)) for text in texts]


def features(texts: list[str], cues: list[dict], cue_scores: list[float], cue_persona: list[bool],
             sequences: list[list[str]] | None = None) -> np.ndarray:
    """One row per text: hashed shape n-gram rates (log scale), then the dense features (DENSE).
    `sequences`: the texts' `shape_sequences`, when the caller has them already."""
    sequences = sequences if sequences is not None else shape_sequences(texts)
    out = np.zeros((len(texts), HASH_DIM + len(DENSE)), dtype=np.float32)
    for row, (text, sequence) in enumerate(zip(texts, sequences)):
        if sequence:
            slots = np.bincount([_slot(g) for g in grams(sequence)], minlength=HASH_DIM)
            out[row, :HASH_DIM] = np.log1p(slots * (100.0 / len(sequence)))
        out[row, HASH_DIM:] = dense_features(text, cues[row], cue_scores[row], cue_persona[row])
    return out


@dataclass
class Model:
    """Logistic regression on standardised features: p = sigmoid(((x - mean) / scale) . weights + bias)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    info: dict = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x), -30, 30)))

    def why(self, x: np.ndarray, sequence: list[str], limit: int = 3) -> list[str]:
        """The shape n-grams of one text that pushed it most toward persona, in words."""
        z = (x[:HASH_DIM] - self.mean[:HASH_DIM]) / self.scale[:HASH_DIM] * self.weights[:HASH_DIM]
        scored = sorted({g: float(z[_slot(g)]) for g in grams(sequence)}.items(), key=lambda kv: -kv[1])
        return [_readable(g) for g, value in scored[:limit] if value > 0.05]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, mean=self.mean, scale=self.scale, weights=self.weights,
                            bias=np.array([self.bias]),
                            info=np.frombuffer(repr(self.info).encode(), dtype=np.uint8))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        import ast

        arrays = np.load(io.BytesIO(data))
        return cls(arrays["mean"], arrays["scale"], arrays["weights"], float(arrays["bias"][0]),
                   ast.literal_eval(arrays["info"].tobytes().decode()))


def _readable(gram: str) -> str:
    """'i VBD' -> '"I [past-tense verb]"'."""
    words = [f"[{_TAG_WORDS[p]}]" if p in _TAG_WORDS else ("I" if p == "i" else p) for p in gram.split()]
    return '"' + " ".join(words) + '"'



@lru_cache(maxsize=1)
def shipped() -> Model:
    return Model.from_bytes(resources.files("personatune.data").joinpath(MODEL_FILE).read_bytes())


def _minimise(z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, l2: float, anchor: np.ndarray,
              bias: float) -> tuple[np.ndarray, float]:
    """Weighted logistic loss + l2 * |w - anchor|^2 / n, by L-BFGS (torch does the arithmetic)."""
    import torch

    zt, yt = torch.tensor(z, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    sw = torch.tensor(sample_weight, dtype=torch.float32)
    at = torch.tensor(anchor, dtype=torch.float32)
    w = at.clone().requires_grad_(True)
    b = torch.tensor([bias], dtype=torch.float32, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(zt @ w + b, yt, weight=sw, reduction="sum")
        loss = loss / sw.sum() + l2 / len(yt) * ((w - at) ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach().numpy().astype(np.float64), float(b.detach()[0])


def fit(x: np.ndarray, y: np.ndarray, l2: float = 3000.0, info: dict | None = None) -> Model:
    """Class-balanced fit from scratch (the corpus model)."""
    mean, scale = x.mean(axis=0).astype(np.float64), x.std(axis=0).astype(np.float64) + 1e-3
    positive = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    sample_weight = np.where(y > 0, 0.5 / positive, 0.5 / (1 - positive))
    weights, bias = _minimise((x - mean) / scale, y, sample_weight, l2, np.zeros(x.shape[1]), 0.0)
    return Model(mean, scale, weights, bias, dict(info or {}))


def adapt(model: Model, x: np.ndarray, y: np.ndarray, strength: float = 30.0) -> Model:
    """The model refitted on one archive's human decisions, kept near its weights by `strength`.

    Both classes weigh the same however few of one there are; with no decisions, the model is unchanged.
    """
    if len(y) == 0:
        return model
    counts = np.array([max(1, int((y == 0).sum())), max(1, int((y > 0).sum()))])
    sample_weight = np.where(y > 0, 0.5 / counts[1], 0.5 / counts[0]) * len(y)
    weights, bias = _minimise((x - model.mean) / model.scale, y, sample_weight, strength, model.weights, model.bias)
    return Model(model.mean, model.scale, weights, bias, {**model.info, "adapted_on": int(len(y))})
