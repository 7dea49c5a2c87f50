"""Train the punctuation-and-case tagger shipped as src/personatune/data/punctuator.{safetensors,json}.

    .venv/bin/python tools/train_punctuator.py CORPUS.jsonl [...] [--layers 3] [--steps 1500] [--out DIR]

Each corpus line is {"text": ..., "source": ..., "licence": ...}: punctuated, normally cased
English transcripts (tools/punctuation_corpora/ rebuilds the ones used from their public
repositories; bench/data/punctuation/SOURCES.md lists them with their licences). The text's own
marks are the labels: after each word nothing, a comma (, ; :), a full stop (. !) or a question
mark. The first `--layers` layers of the embedded MiniLM and a linear head are fine-tuned on
windows of lower-cased, unmarked word pieces; one document in twenty is held out to pick the
full-stop bias with the best sentence-end F1. Writes the model files and
bench/results/punctuator_train.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from personatune.data import punctuate as P  # noqa: E402

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "jr", "sr", "prof", "gen", "gov", "sen", "rep",
                  "u.s", "e.g", "i.e", "a.m", "p.m", "mt", "ft", "inc", "co", "corp", "lt", "col", "sgt"}
_TRAILING = re.compile(r"([.!?,;:…]+)[\"')\]]*$")


def labelled_words(text: str) -> tuple[list[str], list[int], list[str]]:
    """Bare words, the label after each, and the tokens as written (the gold for evaluation)."""
    words, labels, tokens = [], [], []
    for token in text.split():
        core = P.bare(token)
        if not core:
            continue  # a dash or a lone mark labels nothing
        m = _TRAILING.search(token)
        mark = m.group(1) if m else ""
        if "?" in mark:
            label = P.QUESTION
        elif "." in mark or "!" in mark or "…" in mark:
            label = P.NONE if core in _ABBREVIATIONS and "!" not in mark else P.STOP
        elif mark:
            label = P.COMMA
        else:
            label = P.NONE
        words.append(core)
        labels.append(label)
        tokens.append(token)
    if labels:
        labels[-1] = P.QUESTION if labels[-1] == P.QUESTION else P.STOP
    return words, labels, tokens


def windows(tagger: P.Tagger, documents: list[str], stride: int = 100) -> list[tuple[list[int], list[int]]]:
    out = []
    for text in documents:
        words, labels, _ = labelled_words(text)
        if len(words) < 8:
            continue
        ids, last = tagger.pieces(words)
        targets = [-100] * len(ids)
        for position, label in zip(last, labels):
            targets[position] = label
        for s in range(0, max(1, len(ids) - 16), stride):
            out.append((ids[s:s + P.WINDOW], targets[s:s + P.WINDOW]))
    return out


def evaluate(tagger: P.Tagger, documents: list[str]) -> dict:
    totals, words_total, started = Counter(), 0, time.perf_counter()
    for text in documents:
        words, _, tokens = labelled_words(text)
        if words:
            totals.update(P.sentence_end_counts(tokens, P.restore(words, tagger=tagger)))
            words_total += len(words)
    return {**P.f1(totals), "words_per_second": round(words_total / (time.perf_counter() - started))}


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--layers", type=int, default=3, help="MiniLM layers kept (of 6)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16, help="windows of 126 word pieces per step")
    parser.add_argument("--max-words", type=int, default=6_000_000, help="training words read, at most")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "personatune" / "data")
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = random.Random(0)

    train_docs, dev_docs, words_by_source, licences = [], [], Counter(), {}
    for path in args.corpora:
        for line in path.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            if zlib.crc32(doc["text"][:200].encode()) % 20 == 0:
                dev_docs.append(doc["text"])
            elif words_by_source[path.stem] < args.max_words // len(args.corpora):
                train_docs.append(doc["text"])
                words_by_source[path.stem] += len(doc["text"].split())
            licences[path.stem] = f"{doc.get('source', path.stem)}: {doc.get('licence', '?')}"
    rng.shuffle(dev_docs)
    dev_docs = dev_docs[:60]

    tagger = P.Tagger.build(args.layers)
    started = time.time()
    data = windows(tagger, train_docs)
    print(f"{sum(words_by_source.values()):,} words, {len(data):,} windows ({time.time() - started:.0f} s)", flush=True)
    trained = ["encoder.layer."]  # the embeddings stay as shipped in the MiniLM package
    for name, param in tagger.encoder.named_parameters():
        param.requires_grad = any(name.startswith(t) for t in trained)
    optimizer = torch.optim.AdamW([
        {"params": [p for p in tagger.encoder.parameters() if p.requires_grad], "lr": 8e-5},
        {"params": tagger.head.parameters(), "lr": 1e-3}], weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[8e-5, 1e-3], total_steps=args.steps,
                                                   pct_start=0.06)
    cls_id, sep_id = tagger.tokenizer.cls_token_id, tagger.tokenizer.sep_token_id
    tagger.encoder.train()
    tokens_seen, t0 = 0, time.time()
    for step in range(1, args.steps + 1):
        batch = rng.sample(data, args.batch)
        length = max(len(ids) for ids, _ in batch) + 2
        x = torch.zeros(len(batch), length, dtype=torch.long)
        mask = torch.zeros_like(x)
        y = torch.full_like(x, -100)
        for row, (ids, targets) in enumerate(batch):
            x[row, :len(ids) + 2] = torch.tensor([cls_id, *ids, sep_id])
            mask[row, :len(ids) + 2] = 1
            y[row, 1:len(ids) + 1] = torch.tensor(targets)
        scores = tagger.head(tagger.encoder(input_ids=x, attention_mask=mask).last_hidden_state)
        loss = torch.nn.functional.cross_entropy(scores.view(-1, len(P.LABELS)), y.view(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tagger.encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        tokens_seen += int(mask.sum())
        if step % 50 == 0 or step == args.steps:
            rate = tokens_seen / (time.time() - t0)
            eta = (args.steps - step) * (time.time() - t0) / step
            print(f"step {step}/{args.steps} loss {loss.item():.3f} {rate:.0f} pieces/s, ETA {eta / 60:.1f} min",
                  flush=True)
    tagger.encoder.eval()
    tagger.casing = {**P.learn_casing(train_docs, min_count=5, min_share=0.8), "i": "I"}
    best = None
    for bias in (-0.5, 0.0, 0.5, 1.0):
        tagger.stop_bias = bias
        result = evaluate(tagger, dev_docs)
        print(f"full-stop bias {bias:+.1f}: dev sentence-end F1 {result['f1']:.3f} "
              f"(P {result['precision']:.3f}, R {result['recall']:.3f}), {result['words_per_second']:,} words/s",
              flush=True)
        if best is None or result["f1"] > best[1]["f1"]:
            best = (bias, result)
    tagger.stop_bias = best[0]
    tagger.info = {"trained_on": licences, "train_words": dict(words_by_source), "layers": args.layers,
                   "steps": args.steps, "batch": args.batch, "dev_f1": round(best[1]["f1"], 4),
                   "dev_documents": len(dev_docs), "minutes": round((time.time() - started) / 60, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    tagger.save(args.out, trained)
    report = {**tagger.info, "stop_bias": best[0], "dev": best[1],
              "bytes": sum((args.out / f).stat().st_size for f in ("punctuator.safetensors", "punctuator.json"))}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "punctuator_train.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
