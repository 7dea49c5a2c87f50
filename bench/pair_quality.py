"""Training-pair quality: a seeded sample to rate against bench/data/pairs/RUBRIC.md, the ratings' summary,
and the round trip (does a persona question find its own answer among the archive's segments, top 3).

    python bench/pair_quality.py sample WS ARCHIVE TAG      # writes bench/data/pairs/samples/ARCHIVE-TAG.jsonl
    (rate it: bench/data/pairs/ratings/ARCHIVE-TAG.jsonl, one line per pair, see RUBRIC.md)
    python bench/pair_quality.py roundtrip WS ARCHIVE TAG   # round trip and yield -> bench/results/pair_quality.json
    python bench/pair_quality.py summary                    # table + bench/results/pair_quality.png

A pair is one question with its answer: for each label, 50 pairs are drawn (seed 0) from all
(row, question) pairs of the workspace's pairs stage, fact-level rows included with persona.
"""

from __future__ import annotations

import argparse
import hashlib
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
    """Every (question, answer) pair as build trains it at `answer_from: question`: the answer from the sentence
    its question asks about (`answer_starts`; the whole passage for the pairs stage before version 8)."""
    rows = [json.loads(line) for line in (ws / "data" / "05-pairs" / "pairs.jsonl").read_text().splitlines() if line]
    return [{"segment_id": r["segment_id"], "label": r["label"], "kind": r.get("kind", "segment"),
             "question": q, "answer": r["text"][(r.get("answer_starts") or [0] * len(r["questions"]))[k]:]}
            for r in rows if r.get("kind", "segment") != "contrastive" for k, q in enumerate(r["questions"])]


def sample(ws: Path, archive: str, tag: str, n: int, seed: int, private: Path | None = None) -> Path:
    """The seeded sample; with `private`, the full sample goes there and the repository's copy keeps only a
    hash of each answer (for archives whose licence does not allow shipping the text)."""
    pairs = pairs_of(ws)
    rng = random.Random(seed)
    out = []
    for label in LABELS:
        pool = [p for p in pairs if p["label"] == label]
        for k, pair in enumerate(rng.sample(pool, min(n, len(pool)))):
            out.append({"id": f"{archive}-{tag}-{label[0]}{k:02d}", **pair})
    path = DATA / "samples" / f"{archive}-{tag}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    if private is not None:
        private.mkdir(parents=True, exist_ok=True)
        (private / path.name).write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in out))
        out = [{**p, "answer": "", "answer_sha1": hashlib.sha1(p["answer"].encode()).hexdigest()} for p in out]
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


def pairs_yield(ws: Path) -> dict:
    """What the writer's strictness costs: questions, and segments left without one (they leave training)."""
    report = json.loads((ws / "data" / "05-pairs" / "report.json").read_text())
    return {"segments": report["segments"], "questions": report["questions"], "fact_pairs": report["fact_pairs"],
            "segments_without_questions": len(report["segments_without_questions"]),
            "persona_plain_question": report["persona_plain_question"]}


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_results(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def agreement(archive_tag: str) -> dict:
    """Per check, the share of pairs on which the second reader agrees with the first."""
    first = {r["id"]: r for r in map(json.loads, (DATA / "ratings" / f"{archive_tag}.jsonl").read_text().splitlines())}
    second = [json.loads(line) for line in (DATA / "second_rater" / f"{archive_tag}.jsonl").read_text().splitlines()]
    return {c: round(sum(int(r[c]) == int(first[r["id"]][c]) for r in second) / len(second), 3) for c in CHECKS}


def summarize(archive_tag: str, folder: str = "ratings") -> dict | None:
    sample_path = DATA / "samples" / f"{archive_tag}.jsonl"
    rating_path = DATA / folder / f"{archive_tag}.jsonl"
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
        passed = sum(all(int(r[c]) for c in CHECKS) for r in rs)
        out[label] = {"n": len(rs), **{c: round(sum(int(r[c]) for r in rs) / len(rs), 3) for c in CHECKS},
                      "all_four": round(passed / len(rs), 3), "all_four_ci95": wilson(passed, len(rs))}
    return out


# The versions rated, oldest first: the TF-IDF template writer, the tagger's slot writer, then statements asked back
# (round 1), naturalness filters (2), every question standing alone (3), the title fallback (4), no plain questions
# (5), rhetorical questions and "may you" left out (6), a title asked about only as the topic it names (7, the default).
TAGS = ("before", "after", "statements", "natural", "standalone", "titles", "noplain", "quoted", "final", "context",
        "answerwhole", "answerstart")  # answerwhole: the code of 2026-12-01, whole passages; answerstart: the same
# pairs with each answer from the sentence its question asks about (pairs stage version 8, `build.answer_from`)


def _order(stem: str) -> int:
    tag = stem.rsplit("-", 1)[1]
    return TAGS.index(tag) if tag in TAGS else len(TAGS)


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson interval of a share: 50 rated pairs pin a pass rate to about +-14 points."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return [round(centre - half, 3), round(centre + half, 3)]


def summary() -> None:
    results = load_results()
    ratings = {}
    for path in sorted((DATA / "ratings").glob("*.jsonl"), key=lambda p: (p.stem.rsplit("-", 1)[0], _order(p.stem))):
        ratings[path.stem] = summarize(path.stem)
    results["ratings"] = ratings
    second = {}
    for path in sorted((DATA / "second_rater").glob("*.jsonl")):
        second[path.stem] = summarize(path.stem, folder="second_rater")
        second[path.stem]["agreement"] = agreement(path.stem)
    results["second_rater"] = second
    save_results(results)
    ratings = {k: v for k, v in ratings.items() if v}
    print("| archive | stage | label | n | grammatical | natural | answerable | boundaries | all four | round trip |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, table in ratings.items():
        archive, tag = key.rsplit("-", 1)
        trip = results.get("round_trip", {}).get(key, {}).get("top3", "")
        for label in LABELS:
            row = table.get(label)
            if row:
                print(f"| {archive} | {tag} | {label} | {row['n']} | " + " | ".join(f"{row[c]:.0%}" for c in CHECKS)
                      + f" | **{row['all_four']:.0%}** [{row['all_four_ci95'][0]:.0%}, {row['all_four_ci95'][1]:.0%}]"
                      + f" | {trip if label == 'persona' else ''} |")
    plot(ratings, second)


def plot(ratings: dict, second: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(ratings)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    for ax, label, target in zip(axes, LABELS, (0.9, 0.8)):
        values = [ratings[k].get(label, {}).get("all_four", 0) for k in keys]
        colours = ["#bbbbbb" if k.endswith(("before", "after")) else "#3b7dd8" if k.endswith("final") else "#9ec0ec"
                   for k in keys]
        cis = [ratings[k].get(label, {}).get("all_four_ci95") or [v, v] for k, v in zip(keys, values)]
        ax.bar(range(len(keys)), values, color=colours,
               yerr=[[v - lo for v, (lo, _) in zip(values, cis)], [hi - v for v, (_, hi) in zip(values, cis)]],
               error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#555555"})
        for x, k in enumerate(keys):
            if second and k in second and label in second[k]:
                ax.plot(x, second[k][label]["all_four"], marker="D", color="#d62728", markersize=4,
                        label="second reader" if x == max(i for i, kk in enumerate(keys) if kk in second) else None)
        ax.axhline(target, color="#d62728", linestyle="--", linewidth=1, label=f"target {target:.0%}")
        ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{label} pairs passing all four checks (95% intervals)")
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
        p.add_argument("tag", help="before, after, or the name of a later version (one word)")
        p.add_argument("--private", type=Path, help="write the full sample here; the repository keeps answer hashes")
        p.add_argument("--n", type=int, default=50)
        p.add_argument("--seed", type=int, default=0)
    sub.add_parser("summary")
    args = parser.parse_args()
    if args.command == "sample":
        print(sample(args.workspace, args.archive, args.tag, args.n, args.seed, args.private))
    elif args.command == "roundtrip":
        results = load_results()
        trip = round_trip(args.workspace)
        results.setdefault("round_trip", {})[f"{args.archive}-{args.tag}"] = trip
        results.setdefault("yield", {})[f"{args.archive}-{args.tag}"] = pairs_yield(args.workspace)
        save_results(results)
        print(json.dumps(trip))
    else:
        summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
