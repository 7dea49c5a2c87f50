"""Can anything offline tell a natural training question from one nobody would ask? Measured on the ratings.

    .venv/bin/python bench/question_scorer.py [--captions-workspace WS] [--skip-lm]

Every pair rated so far (bench/data/pairs: 10 versions of the question writer, 3 archives, ~2,900 pairs,
each rated grammatical / natural / answerable / boundaries by a reader) is a labelled example of what
the rubric passes. Two offline scorers are tried as a filter the pairs stage could apply:

- a classifier on the pair's shape (the question's closed-class words and part-of-speech n-grams, its
  form and length, vague pronouns, how much of it is lifted from the answer, whether the answer starts
  and ends like a sentence), logistic regression as the label stage fits it, trained on two archives
  and tested on the third (the current writer's sample, `context`);
- the base model's mean log-likelihood of the question as a user turn (SmolLM2-135M-Instruct), scored
  within each archive and label.

Reported: ROC AUC per archive for passing all four checks and for each check (0.5 = no better than
chance), and for the classifier the pass rate among the pairs it ranks highest. Captions answers are not
shipped (no licence): `--captions-workspace` rebuilds them from a workspace of that archive (else the
question alone is scored for them). Results: bench/results/question_scorer.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "bench" / "data" / "pairs"
CHECKS = ("grammatical", "natural", "answerable", "boundaries")
ARCHIVES = ("example", "blog", "captions")
HASH_DIM = 1 << 11
AUX = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will", "have", "has",
       "had", "may", "might", "must"}
WH = {"what", "how", "why", "where", "when", "who", "which", "whose"}
VAGUE = {"it", "that", "this", "these", "those", "they", "them", "there", "here", "he", "she", "him", "her", "his",
         "its", "their", "one"}
TIES = {"and", "but", "so", "because", "which", "or", "then", "also", "that"}


def rated_pairs(captions_ws: Path | None) -> list[dict]:
    """Every rated pair with its version, archive and checks; captions answers rebuilt where possible."""
    segments = {}
    if captions_ws:
        for line in (captions_ws / "data" / "03-chunk" / "segments.jsonl").read_text().splitlines():
            s = json.loads(line)
            segments[s["segment_id"]] = s["text"]
    out = []
    for sample in sorted((PAIRS / "samples").glob("*.jsonl")):
        archive, version = sample.stem.split("-", 1)
        ratings = {}
        for line in (PAIRS / "ratings" / sample.name).read_text().splitlines():
            r = json.loads(line)
            ratings[r["id"]] = r
        for line in sample.read_text().splitlines():
            pair = json.loads(line)
            rating = ratings.get(pair["id"])
            if rating is None:
                continue
            answer = pair.get("answer") or _rebuilt(segments.get(pair["segment_id"], ""), pair.get("answer_sha1"))
            out.append({"archive": archive, "version": version, "label": pair["label"], "kind": pair.get("kind"),
                        "question": pair["question"], "answer": answer,
                        **{c: int(rating.get(c) or 0) for c in CHECKS}})
    return out


def _rebuilt(text: str, sha1: str | None) -> str:
    """The answer whose hash the sample keeps: the segment, or one to four of its sentences."""
    if not text or not sha1:
        return ""
    from personatune.data.template_questions import sentences

    if hashlib.sha1(text.encode()).hexdigest() == sha1:
        return text
    parts = sentences(text)
    for i in range(len(parts)):
        for j in range(i + 1, min(len(parts), i + 4) + 1):
            if hashlib.sha1(" ".join(parts[i:j]).encode()).hexdigest() == sha1:
                return " ".join(parts[i:j])
    return ""


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _lifted(question: list[str], answer: list[str]) -> int:
    """Longest run of the question's words found in the answer, in order."""
    best, previous = 0, [0] * (len(answer) + 1)
    for q in question:
        current = [0] * (len(answer) + 1)
        for j, a in enumerate(answer, 1):
            if q == a:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def shape_features(pair: dict, tagger) -> np.ndarray:
    from personatune.data.label_model import CLOSED_TAGS

    tokens = tagger.tag(pair["question"])
    sequence = ["<s>"] + [t.text.lower() if t.tag in CLOSED_TAGS or t.text.lower() in AUX else t.tag
                          for t in tokens if t.tag not in (",", ".", ":")] + ["</s>"]
    grams = sequence + [" ".join(g) for g in zip(sequence, sequence[1:])] \
        + [" ".join(g) for g in zip(sequence, sequence[1:], sequence[2:])]
    hashed = np.bincount([zlib.crc32(g.encode()) % HASH_DIM for g in grams], minlength=HASH_DIM).astype(np.float32)
    q, a = _words(pair["question"]), _words(pair["answer"][:2000])
    answer_words = set(a)
    first = q[0] if q else ""
    content = [t for t in tokens if t.tag[:2] in ("NN", "VB", "JJ") and t.text.lower() not in AUX]
    text = pair["answer"]
    dense = [len(q) / 10, len(content) / 5, sum(t.tag.startswith("NNP") for t in tokens),
             sum(w in VAGUE for w in q), float(first in AUX), float(first in WH), float("you" in q or "your" in q),
             float(bool(re.match(r"^\w+ the\b", pair["question"].lower()))),
             sum(w in answer_words for w in q) / max(1, len(q)), _lifted(q, a[:400]) / max(1, len(q)),
             float(text[:1].isupper()), float(text.rstrip("\"')").endswith((".", "!", "?"))),
             float((a[:1] or [""])[0] in TIES), math.log(1 + len(a)) / 5, float(pair["label"] == "persona"),
             float(pair["kind"] == "fact"), float(not text)]
    return np.concatenate([hashed, np.array(dense, dtype=np.float32)])


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    positive = labels > 0
    if positive.all() or not positive.any():
        return None
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(len(scores))
    return float((ranks[positive].mean() - (positive.sum() - 1) / 2) / (~positive).sum())


def target(pairs: list[dict], check: str) -> np.ndarray:
    return np.array([float(all(p[c] for c in CHECKS)) if check == "all" else float(p[check]) for p in pairs])


def classifier_results(pairs: list[dict]) -> dict:
    from personatune.data import pos
    from personatune.data.label_model import fit

    tagger = pos.load()
    x = np.stack([shape_features(p, tagger) for p in pairs])
    archive = np.array([p["archive"] for p in pairs])
    current = np.array([p["version"] == "context" for p in pairs])
    label = np.array([p["label"] for p in pairs])
    out = {}
    for check in ("all", *CHECKS):
        y = target(pairs, check)
        out[check] = {}
        for held in ARCHIVES:
            test = (archive == held) & current
            scores = fit(x[archive != held], y[archive != held], l2=1000.0).predict(x[test])
            row = {"auc": auc(scores, y[test])}
            if check == "all":
                for kind in ("persona", "instructional"):
                    mine = label[test] == kind
                    s, t = scores[mine], y[test][mine]
                    row[kind] = {"pass": round(float(t.mean()), 3), **{
                        f"top_{int(keep * 100)}": round(float(t[s >= np.quantile(s, 1 - keep)].mean()), 3)
                        for keep in (0.5, 0.3)}}
            out[check][held] = row
    return out


def lm_results(pairs: list[dict]) -> dict:
    import torch

    from personatune.registry import load_model

    model, tokenizer = load_model("smollm2-135m-instruct")
    model.eval()
    means = []
    for start in range(0, len(pairs), 32):
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p["question"]}], tokenize=False)
                 for p in pairs[start:start + 32]]
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = model(**batch).logits.float()
        picked = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch.input_ids[:, 1:, None])[..., 0]
        mask = batch.attention_mask[:, 1:].bool()
        means += [float(row[m].mean()) for row, m in zip(picked, mask)]
    scores = np.array(means)
    recent = np.array([p["version"] not in ("before", "after") for p in pairs])  # the writer that reads sentences
    out = {}
    for check in ("all", *CHECKS):
        y = target(pairs, check)
        out[check] = {f"{a} {kind}": auc(scores[m], y[m]) for a in ARCHIVES for kind in ("persona", "instructional")
                      for m in [recent & np.array([p["archive"] == a and p["label"] == kind for p in pairs])]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions-workspace", type=Path, default=None)
    parser.add_argument("--skip-lm", action="store_true", help="leave out the base model's likelihoods (~4 min)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    pairs = rated_pairs(args.captions_workspace)
    record = {"pairs": len(pairs), "without_answer": sum(not p["answer"] for p in pairs),
              "classifier_held_out_archive": classifier_results(pairs)}
    for check, row in record["classifier_held_out_archive"].items():
        print(f"classifier, {check:12} AUC on the held-out archive: "
              + ", ".join(f"{a} {r['auc']:.2f}" for a, r in row.items()))
    for held, row in record["classifier_held_out_archive"]["all"].items():
        print(f"  {held}: " + "; ".join(f"{k} pass {v['pass']:.2f}, top half {v['top_50']:.2f}, top 30% {v['top_30']:.2f}"
                                      for k, v in row.items() if k != "auc"))
    if not args.skip_lm:
        record["lm_likelihood_within_archive"] = lm_results(pairs)
        for check, row in record["lm_likelihood_within_archive"].items():
            print(f"likelihood, {check:12} AUC: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if v is not None))
    out = ROOT / "bench" / "results" / "question_scorer.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
