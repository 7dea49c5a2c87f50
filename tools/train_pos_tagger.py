"""Train the part-of-speech tagger behind the question writer's noun-phrase slots (personatune.data.pos).

Data: Universal Dependencies English Web Treebank (UniversalDependencies/UD_English-EWT, CC BY-SA 4.0),
Penn Treebank tags (XPOS column), read from the per-document files under not-to-release/ in each
split's listed order. To hold on restored auto-captions, a quarter of the training
sentences are lower-cased and a quarter lose their punctuation. Takes ~3 minutes on 2 cores.

    git clone https://github.com/UniversalDependencies/UD_English-EWT /tmp/ewt
    python tools/train_pos_tagger.py /tmp/ewt [--commit SHA]

A bare mirror works too (the files are read with `git show COMMIT:FILE`). Writes
src/personatune/data/pos_tagger.json.gz and prints accuracy on EWT dev and test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from personatune.data.pos import END, START, Tagger, features, normalize

OUT = Path(__file__).resolve().parents[1] / "src/personatune/data/pos_tagger.json.gz"


def read_text(repo: Path, name: str, commit: str | None) -> str:
    if (repo / name).exists() and commit is None:
        return (repo / name).read_text(encoding="utf-8")
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{commit or 'HEAD'}:{name}"],
                          capture_output=True, text=True, check=True).stdout


def read_split(repo: Path, split: str, commit: str | None) -> list[tuple[list[str], list[str]]]:
    """A split from its per-document sources (the listed order), as the released file is built;
    some mirrors lack the large released train file."""
    files = read_text(repo, f"not-to-release/file-lists/files.{split}", commit).split()
    return [s for name in files for s in parse_conllu(read_text(repo, f"not-to-release/sources/{name}", commit))]


def parse_conllu(text: str) -> list[tuple[list[str], list[str]]]:
    sentences, words, tags = [], [], []
    for line in text.splitlines():
        if not line.strip():
            if words:
                sentences.append((words, tags))
            words, tags = [], []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if "-" in cols[0] or "." in cols[0]:
                continue  # multi-word token ranges and empty nodes
            words.append(cols[1])
            tags.append(cols[4])
    return sentences


def caption_like(words: list[str], tags: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    roll = rng.random()
    if roll < 0.25:
        return [w.lower() for w in words], tags
    if roll < 0.5:
        kept = [(w, t) for w, t in zip(words, tags) if t not in (".", ",", ":", "``", "''")]
        return [w for w, _ in kept] or words, [t for _, t in kept] or tags
    return words, tags


class Trainer:
    def __init__(self, tags: list[str]):
        self.tags = tags
        self.weights: dict[str, dict[str, float]] = defaultdict(dict)
        self.totals: dict[tuple[str, str], float] = defaultdict(float)
        self.stamps: dict[tuple[str, str], int] = defaultdict(int)
        self.i = 0

    def update(self, truth: str, guess: str, feats: list[str]) -> None:
        self.i += 1
        if truth == guess:
            return
        for feat in feats:
            for tag, delta in ((truth, 1.0), (guess, -1.0)):
                key = (feat, tag)
                weight = self.weights[feat].get(tag, 0.0)
                self.totals[key] += (self.i - self.stamps[key]) * weight
                self.stamps[key] = self.i
                self.weights[feat][tag] = weight + delta

    def averaged(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for feat, ws in self.weights.items():
            avg = {}
            for tag, weight in ws.items():
                total = self.totals[(feat, tag)] + (self.i - self.stamps[(feat, tag)]) * weight
                if abs(total / self.i) >= 1e-3:
                    avg[tag] = total / self.i
            if avg:
                out[feat] = avg
        return out


def fixed_tags(sentences, min_count: int = 20, purity: float = 0.995) -> dict[str, str]:
    """Frequent words that (nearly) always carry one tag: tagged by lookup, not scored."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for words, tags in sentences:
        for w, t in zip(words, tags):
            counts[normalize(w)][t] += 1
    out = {}
    for word, tags in counts.items():
        tag, n = tags.most_common(1)[0]
        total = sum(tags.values())
        if total >= min_count and n / total >= purity:
            out[word] = tag
    return out


def accuracy(tagger: Tagger, sentences) -> float:
    right = total = 0
    for words, tags in sentences:
        guess = tagger.tag_words(words)
        right += sum(g == t for g, t in zip(guess, tags))
        total += len(tags)
    return right / total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ewt", type=Path, help="a UD_English-EWT checkout or bare mirror")
    parser.add_argument("--commit", help="read the files at this commit (bare mirror)")
    parser.add_argument("--iterations", type=int, default=6)
    args = parser.parse_args()
    train, dev, test = (read_split(args.ewt, split, args.commit) for split in ("train", "dev", "test"))
    tags = sorted({t for _, ts in train for t in ts})
    fixed = fixed_tags(train)
    trainer = Trainer(tags)
    rng = random.Random(0)
    started = time.time()
    for iteration in range(args.iterations):
        rng.shuffle(train)
        tagger = Tagger(trainer.weights, tags, fixed, {})
        for raw_words, raw_tags in train:
            words, gold = caption_like(raw_words, raw_tags, rng)
            normal = [START, START] + [normalize(w) for w in words] + [END, END]
            padded = [START, START] + words + [END, END]
            prev, prev2 = START, START
            for i, truth in enumerate(gold, 2):
                if normal[i] in fixed:
                    guess = fixed[normal[i]]
                    trainer.i += 1
                else:
                    feats = features(i, normal, padded, prev, prev2)
                    guess = tagger.predict(feats)
                    trainer.update(truth, guess, feats)
                prev2, prev = prev, guess
        print(f"iteration {iteration + 1}/{args.iterations}: {time.time() - started:.0f}s", file=sys.stderr)
    final = Tagger(trainer.averaged(), tags, fixed, {})
    lower = [([w.lower() for w in ws], ts) for ws, ts in test]
    info = {"data": "UniversalDependencies/UD_English-EWT (train), CC BY-SA 4.0, Penn Treebank tags",
            "commit": args.commit, "iterations": args.iterations, "tokens": sum(len(t) for _, t in train),
            "accuracy": {"dev": round(accuracy(final, dev), 4), "test": round(accuracy(final, test), 4),
                         "test_lower_case": round(accuracy(final, lower), 4)}}
    final.info = info
    data = gzip.compress(json.dumps(final.to_json(), separators=(",", ":")).encode(), 9, mtime=0)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(OUT)
    print(json.dumps(info, indent=1))
    print(f"wrote {OUT} ({len(data) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
