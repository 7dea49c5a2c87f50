"""Retrieval over the person's own material: BM25 and MiniLM embeddings, fused by reciprocal rank.

Style comes from fine-tuning; facts come from here. The index covers every labelled segment in
the person's own voice (a host's or guest's turns in a tagged transcript are left out), is built once per label-stage output (and cached in DIR/index/), and returns passages with their
provenance so an answer can cite where a fact came from.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personatune import artifacts
from personatune.data.retrieval import BM25, terms
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting
from personatune.workspace import Workspace

VERSION = 2  # 2: other speakers' turns left out
_WORD = re.compile(r"[a-z0-9']+")
_ADDRESSED = re.compile(r"\b(?:you|your|yours|yourself)\b", re.I)  # a question to the person, about them


@dataclass
class Settings(BaseSettings):
    top_k: int = setting(4, help="passages put into the prompt")
    k1: float = setting(1.5, help="BM25 term-frequency saturation")
    b: float = setting(0.75, help="BM25 length normalisation")
    rrf_k: int = setting(60, help="reciprocal rank fusion constant: score = sum of 1 / (rrf_k + rank)")
    candidates: int = setting(50, help="hits taken from each retriever before fusion")
    embedder: str = setting("all-minilm-l6-v2", help="embedding model for dense retrieval")
    persona_vote: float = setting(0.5, help="weight of a third vote in the fusion for a question addressed to the "
                                            "person (\"you\", \"your\"): the persona segments alone, ranked by "
                                            "meaning (0: off)")

    def problems(self) -> list[str]:
        return [f"{name} must be >= 1" for name in ("top_k", "rrf_k", "candidates") if getattr(self, name) < 1]


def where(segment: dict) -> str:
    name = Path(segment.get("source") or "").name
    if segment.get("start") is not None:
        minutes, seconds = divmod(int(segment["start"]), 60)
        return f"{name} @ {minutes}:{seconds:02d}"
    if segment.get("offset") is not None:
        return f"{name} @ char {segment['offset']}"
    return name


class Index:
    def __init__(self, segments: list[dict], vectors: np.ndarray, settings: Settings):
        self.segments = segments
        self.vectors = vectors
        self.settings = settings
        self.lexical = BM25([seg["text"] for seg in segments], k1=settings.k1, b=settings.b)
        self._embedder = None
        self._position = {seg["segment_id"]: i for i, seg in enumerate(segments)}
        self._persona = np.array([i for i, seg in enumerate(segments) if seg.get("label") == "persona"], dtype=np.int64)

    def by_id(self, segment_id: str) -> dict | None:
        """A segment as a hit (with where it came from), or None when it is not in the index."""
        i = self._position.get(segment_id)
        return None if i is None else {**self.segments[i], "score": 0.0, "where": where(self.segments[i])}

    def bm25(self, query: str) -> np.ndarray:
        return self.lexical.scores(query)

    def dense(self, query: str) -> np.ndarray:
        if self._embedder is None:
            from personatune.embed import get_embedder
            self._embedder = get_embedder(self.settings.embedder)
        return self.vectors @ self._embedder.encode([query])[0]

    def search(self, query: str, k: int | None = None, mode: str = "fused") -> list[dict]:
        k = k or self.settings.top_k
        ranked: list[tuple[float, np.ndarray]] = []  # (weight of the vote, ranking)
        if mode in ("fused", "bm25"):
            scores = self.bm25(query)
            order = np.argsort(-scores, kind="stable")[:self.settings.candidates]
            ranked.append((1.0, order[scores[order] > 0]))  # no shared term, no BM25 vote
        if mode in ("fused", "dense"):
            dense = self.dense(query)
            ranked.append((1.0, np.argsort(-dense, kind="stable")[:self.settings.candidates]))
            if mode == "fused" and self.settings.persona_vote and _ADDRESSED.search(query) and len(self._persona):
                order = self._persona[np.argsort(-dense[self._persona], kind="stable")][:self.settings.candidates]
                ranked.append((self.settings.persona_vote, order))
        fused: dict[int, float] = defaultdict(float)
        for weight, order in ranked:
            for rank, index in enumerate(order):
                fused[int(index)] += weight / (self.settings.rrf_k + rank + 1)
        best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [{**self.segments[i], "score": round(fused[i], 5), "where": where(self.segments[i])} for i in best]


RAG_HEADER = ("Passages from your own material (use them for facts; if they do not answer the question, "
              "say you don't know):")


def format_context(hits: list[dict]) -> str:
    """The passages as they go into a prompt, each with where it came from."""
    return "\n\n".join(f"[{n}] ({hit['where']}) {hit['text']}" for n, hit in enumerate(hits, 1))


def served_system(base: str, hits: list[dict]) -> str:
    """The system message every runtime sends with retrieval on (and the training rows that learn it):
    the card (or the plain system prompt), the header, the passages."""
    return f"{base}\n\n{RAG_HEADER}\n{format_context(hits)}"


def index_dir(ws: Workspace) -> Path:
    return ws.root / "index"


def build_index(ws: Workspace, settings: Settings | None = None, log=print) -> Index:
    """Build (or load the cached) index over the label stage's segments."""
    settings = settings or Settings()
    label_dir = ws.stage_dir("label")
    try:  # the label stage's record (not data.runner's reader: the runner's stages use this index)
        record = artifacts.read_json(label_dir / "record.json")
    except (OSError, ValueError):
        record = None
    if record is None:
        raise UserError(f"no labelled segments in {ws.root}; run `personatune run {ws.root} --until label` first")
    fingerprint = artifacts.sha256_json({"version": VERSION, "labels": record["output_hash"],
                                         "embedder": settings.embedder})
    folder = index_dir(ws)
    cached = folder / "record.json"
    if cached.exists() and artifacts.read_json(cached).get("fingerprint") == fingerprint:
        segments = artifacts.read_jsonl(folder / "segments.jsonl")
        return Index(segments, np.load(folder / "vectors.npy"), settings)
    keep = ("segment_id", "source", "title", "start", "end", "offset", "label", "subtype", "text")
    segments = [{k: row.get(k) for k in keep} for row in artifacts.read_jsonl(label_dir / "labels.jsonl")
                if row.get("voice") != "other"]
    from personatune.embed import get_embedder

    log(f"indexing {len(segments)} segments (BM25 + {settings.embedder}; embeddings are cached)")
    vectors = get_embedder(settings.embedder).encode([s["text"] for s in segments])
    with artifacts.atomic_dir(folder) as tmp:
        artifacts.write_jsonl(tmp / "segments.jsonl", segments)
        with open(tmp / "vectors.npy", "wb") as handle:
            np.save(handle, vectors)
        artifacts.write_json(tmp / "record.json", {"fingerprint": fingerprint, "segments": len(segments),
                                                    "embedder": settings.embedder})
    return Index(segments, vectors, settings)


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower().replace(",", "")))


def probe_targets(index: Index, probes: dict) -> list[tuple[str, int]]:
    """(question, index of the segment that holds its expected facts) for identity and opinion probes."""
    out = []
    for item in (probes.get("identity") or []) + (probes.get("opinions") or []):
        source = Path(item.get("source") or "").name
        candidates = [i for i, s in enumerate(index.segments) if Path(s.get("source") or "").name == source]
        if not candidates:
            continue
        facts = [_norm(f) for f in item.get("expected") or []]
        answer = set(terms(item.get("answer", "")))

        def score(i: int, facts=facts, answer=answer) -> tuple[int, int]:
            text = _norm(index.segments[i]["text"])
            return (sum(f in text for f in facts), len(answer & set(terms(index.segments[i]["text"]))))
        out.append((item["question"], max(candidates, key=score)))
    return out


def recall_at_k(index: Index, probes: dict, ks: tuple[int, ...] = (1, 3, 5)) -> dict:
    targets = probe_targets(index, probes)
    if not targets:
        return {}
    result: dict = {"probes": len(targets)}
    for mode in ("bm25", "dense", "fused"):
        hits = [[h["segment_id"] for h in index.search(q, max(ks), mode=mode)] for q, _ in targets]
        result[mode] = {f"recall@{k}": round(sum(index.segments[t]["segment_id"] in h[:k]
                                                  for (_, t), h in zip(targets, hits)) / len(targets), 3)
                        for k in ks}
    return result
