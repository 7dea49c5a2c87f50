"""Punctuation restoration: sentence-end F1 on punctuated text with its punctuation and case removed.

    .venv/bin/python bench/punctuation.py [--corpus bench/data/punctuation/heldout.jsonl ...]

Sources: the example persona's punctuated documents (the .srt captions with their cue timings,
the blog posts and plain transcripts), run through ingest and clean exactly as a workspace would;
and held-out public transcripts (JSONL with "text"). Every word is lower-cased and stripped of its
marks, then restored; a sentence end is a word followed by . ! or ?. "before" is the chunk stage's
old rule for unpunctuated captions (pauses and discourse markers); "after" is `data.punctuate`.
Also checks that the words never change and measures words per second.
Writes bench/results/punctuation.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from personatune.data import punctuate as P  # noqa: E402
from personatune.data.chunk import Settings as ChunkSettings  # noqa: E402
from personatune.data.chunk import document_words, is_punctuated, sentence_spans  # noqa: E402


def example_documents() -> list[dict]:
    """The example's punctuated documents after ingest and clean, with their pieces."""
    from personatune import artifacts
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        init_workspace(Path(tmp) / "ws", [str(ROOT / "examples" / "creator")], name="bench")
        ws = Workspace.open(Path(tmp) / "ws")
        ws.config["clean"] = {"restore_punctuation": False}  # the gold text must keep its own marks
        run_pipeline(ws, until="clean", log=lambda _: None)
        docs = artifacts.read_jsonl(ws.stage_dir("clean") / "documents.jsonl")
    out = []
    for doc in docs:
        words = [w for p in doc["pieces"] for w in p["text"].split()]
        if words and is_punctuated(words):
            out.append(doc)
    return out


def whole_sentence_answers(restore: bool) -> dict:
    """The example through every dataset stage: the share of training answers that start like a
    sentence (a capital) and end like one (. ! ?), with punctuation restoration on or off."""
    from personatune.data.dataset import load_dataset
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        init_workspace(Path(tmp) / "ws", [str(ROOT / "examples" / "creator")], name="bench")
        ws = Workspace.open(Path(tmp) / "ws")
        ws.config["clean"] = {"restore_punctuation": restore}
        run_pipeline(ws, log=lambda _: None)
        rows = load_dataset(ws.root, "train")
    answers = [r["messages"][-1]["content"].strip() for r in rows]
    whole = [a for a in answers if a[:1].isupper() and a.rstrip("\"')]").endswith((".", "!", "?"))]
    return {"restore_punctuation": restore, "answers": len(answers), "whole_sentences": len(whole),
            "share": round(len(whole) / max(1, len(answers)), 3)}


def stripped(doc_words: list[str]) -> list[str]:
    return [P.bare(w) or w.lower() for w in doc_words]


def pieces_view(doc: dict) -> tuple[list[str], list[int], dict[int, float], list[float | None] | None]:
    """Words, the piece of each word, the gaps chunk sees, and the pauses the tagger sees."""
    words, piece_of, gaps = document_words(doc)
    return words, piece_of, gaps, P.pauses_after(len(words), gaps)


def old_rule(words: list[str], piece_of: list[int], gaps: dict[int, float]) -> list[str]:
    """The chunk stage's sentence boundaries for unpunctuated text, written as full stops."""
    out = list(words)
    for _, end in sentence_spans(words, piece_of, gaps, ChunkSettings()):
        out[end - 1] = out[end - 1] + "."
    return out


def score(name: str, docs: list[tuple[list[str], list[int], dict, list]], tagger: P.Tagger) -> dict:
    before, after = Counter(), Counter()
    words_total, seconds, changed = 0, 0.0, 0
    for gold, piece_of, gaps, pauses in docs:
        plain = stripped(gold)
        before.update(P.sentence_end_counts(gold, old_rule(plain, piece_of, gaps)))
        started = time.perf_counter()
        restored = P.restore(plain, pauses=pauses, tagger=tagger)
        seconds += time.perf_counter() - started
        words_total += len(plain)
        changed += P.words_key(restored) != P.words_key(plain)
        after.update(P.sentence_end_counts(gold, restored))
    return {"source": name, "documents": len(docs), "words": words_total, "before": P.f1(before),
            "after": P.f1(after), "words_changed_documents": changed,
            "words_per_second": round(words_total / seconds) if seconds else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="*", type=Path, default=sorted((ROOT / "bench" / "data" / "punctuation").glob("*.jsonl")))
    parser.add_argument("--model", type=Path, default=None, help="a folder with punctuator.{safetensors,json} "
                        "other than the shipped one")
    args = parser.parse_args()
    tagger = P.Tagger.load(args.model) if args.model else P.default_tagger()

    results = []
    example = example_documents()
    by_format: dict[str, list] = {}
    for doc in example:
        by_format.setdefault(doc.get("format", "?"), []).append(pieces_view(doc))
    for fmt, docs in sorted(by_format.items()):
        results.append(score(f"example {fmt}", docs, tagger))
    for path in args.corpus:
        docs = []
        for line in path.read_text(encoding="utf-8").splitlines():
            words = json.loads(line)["text"].split()
            docs.append((words, [0] * len(words), {}, None))
        results.append(score(path.stem, docs, tagger))
    for r in results:
        print(f"{r['source']:28} {r['documents']:4} docs {r['words']:8,} words   sentence-end F1 "
              f"{r['before']['f1']:.2f} -> {r['after']['f1']:.2f}  (P {r['after']['precision']:.2f} "
              f"R {r['after']['recall']:.2f})  {r['words_per_second'] or 0:,} words/s  "
              f"words changed in {r['words_changed_documents']} documents")
    dataset = [whole_sentence_answers(False), whole_sentence_answers(True)]
    for d in dataset:
        print(f"example training answers that start and end like a sentence, restoration "
              f"{'on ' if d['restore_punctuation'] else 'off'}: {d['whole_sentences']}/{d['answers']} = {d['share']:.0%}")
    out = ROOT / "bench" / "results" / "punctuation.json"
    out.write_text(json.dumps({"results": results, "dataset_answers": dataset}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
