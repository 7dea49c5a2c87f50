"""Training-pair quality: a seeded sample to rate against bench/data/pairs/RUBRIC.md, the ratings' summary,
and the round trip (does a persona question find its own answer among the archive's segments, top 3).

    python bench/pair_quality.py sample WS ARCHIVE TAG      # writes bench/data/pairs/samples/ARCHIVE-TAG.jsonl
    (rate it: bench/data/pairs/ratings/ARCHIVE-TAG.jsonl, one line per pair, see RUBRIC.md)
    python bench/pair_quality.py roundtrip WS ARCHIVE TAG   # adds the round trip to bench/results/pair_quality.json
    python bench/pair_quality.py summary                    # table + bench/results/pair_quality.png

A pair is one question with its answer: for each label, 50 pairs are drawn (seed 0) from all
(row, question) pairs of the workspace's pairs stage, fact-level rows included with persona.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "pairs"
RESULTS = HERE / "results" / "pair_quality.json"
CHECKS = ("grammatical", "natural", "answerable", "boundaries")
LABELS = ("persona", "instructional")


def pairs_of(ws: Path) -> list[dict]:
    rows = [json.loads(line) for line in (ws / "data" / "05-pairs" / "pairs.jsonl").read_text().splitlines() if line]
    return [{"segment_id": r["segment_id"], "label": r["label"], "kind": r.get("kind", "segment"),
             "question": q, "answer": r["text"]} for r in rows if r.get("kind", "segment") != "contrastive"
            for q in r["questions"]]


def sample(ws: Path, archive: str, tag: str, n: int, seed: int) -> Path:
    pairs = pairs_of(ws)
    rng = random.Random(seed)
    out = []
    for label in LABELS:
        pool = [p for p in pairs if p["label"] == label]
        for k, pair in enumerate(rng.sample(pool, min(n, len(pool)))):
            out.append({"id": f"{archive}-{tag}-{label[0]}{k:02d}", **pair})
    path = DATA / "samples" / f"{archive}-{tag}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in out))
    return path


def round_trip(ws: Path) -> dict:
    """Share of persona questions whose own segment is among the top 3 BM25 hits over every labelled segment."""
    from personatune.data.retrieval import BM25

    segments = [json.loads(line) for line in (ws / "data" / "04-label" / "labels.jsonl").read_text().splitlines()
                if line]
    bm25 = BM25([s["text"] for s in segments])
    where = {s["segment_id"]: i for i, s in enumerate(segments)}
    hits = total = 0
    for pair in pairs_of(ws):
        if pair["label"] != "persona":
            continue
        parent = pair["segment_id"].split("~")[0]
        if parent not in where:
            continue
        total += 1
        hits += where[parent] in bm25.top(pair["question"], 3)
    return {"persona_questions": total, "top3": round(hits / max(total, 1), 3)}


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_results(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def summarize(archive_tag: str) -> dict | None:
    sample_path = DATA / "samples" / f"{archive_tag}.jsonl"
    rating_path = DATA / "ratings" / f"{archive_tag}.jsonl"
    if not rating_path.exists():
        return None
    labels = {json.loads(line)["id"]: json.loads(line)["label"] for line in sample_path.read_text().splitlines() if line}
    ratings = [json.loads(line) for line in rating_path.read_text().splitlines() if line.strip()]
    missing = set(labels) - {r["id"] for r in ratings}
    if missing:
        raise SystemExit(f"{rating_path}: {len(missing)} pairs of the sample are not rated (e.g. {sorted(missing)[0]})")
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in ratings:
        by_label[labels[r["id"]]].append(r)
    out = {}
    for label, rs in by_label.items():
        out[label] = {"n": len(rs), **{c: round(sum(int(r[c]) for r in rs) / len(rs), 3) for c in CHECKS},
                      "all_four": round(sum(all(int(r[c]) for c in CHECKS) for r in rs) / len(rs), 3)}
    return out


def summary() -> None:
    results = load_results()
    ratings = {}
    for path in sorted((DATA / "ratings").glob("*.jsonl")):
        ratings[path.stem] = summarize(path.stem)
    results["ratings"] = ratings
    save_results(results)
    print("| archive | stage | label | n | grammatical | natural | answerable | boundaries | all four | round trip |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, table in ratings.items():
        archive, tag = key.rsplit("-", 1)
        trip = results.get("round_trip", {}).get(key, {}).get("top3", "")
        for label in LABELS:
            row = table.get(label)
            if row:
                print(f"| {archive} | {tag} | {label} | {row['n']} | " + " | ".join(f"{row[c]:.0%}" for c in CHECKS)
                      + f" | **{row['all_four']:.0%}** | {trip if label == 'persona' else ''} |")
    plot(ratings)


def plot(ratings: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(ratings)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, label, target in zip(axes, LABELS, (0.9, 0.8)):
        values = [ratings[k].get(label, {}).get("all_four", 0) for k in keys]
        colours = ["#bbbbbb" if k.endswith("before") else "#3b7dd8" for k in keys]
        ax.bar(range(len(keys)), values, color=colours)
        ax.axhline(target, color="#d62728", linestyle="--", linewidth=1, label=f"target {target:.0%}")
        ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{label} pairs passing all four checks")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out = HERE / "results" / "pair_quality.png"
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("sample", "roundtrip"):
        p = sub.add_parser(name)
        p.add_argument("workspace", type=Path)
        p.add_argument("archive")
        p.add_argument("tag", choices=("before", "after"))
        p.add_argument("--n", type=int, default=50)
        p.add_argument("--seed", type=int, default=0)
    sub.add_parser("summary")
    args = parser.parse_args()
    if args.command == "sample":
        print(sample(args.workspace, args.archive, args.tag, args.n, args.seed))
    elif args.command == "roundtrip":
        results = load_results()
        trip = round_trip(args.workspace)
        results.setdefault("round_trip", {})[f"{args.archive}-{args.tag}"] = trip
        save_results(results)
        print(json.dumps(trip))
    else:
        summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
